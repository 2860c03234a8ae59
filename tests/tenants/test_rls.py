"""Row-level security on PostgreSQL: the wall behind the tenant-filtering managers."""

import pytest
from django.db import connection, transaction

from tenants import rls
from tenants.context import tenant_scope
from tenants.models import TenantJob

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _count_jobs(where=""):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {TenantJob._meta.db_table} {where}")
        return cursor.fetchone()[0]


@pytest.fixture
def jobs(tenant, other_tenant):
    for t in (tenant, other_tenant):
        with tenant_scope(t):
            TenantJob.objects.create(kind=TenantJob.Kind.PROVISION)
            TenantJob.objects.create(kind=TenantJob.Kind.PROVISION)


def test_it_connects_as_a_role_that_row_level_security_binds():
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (False, False)


def test_it_protects_every_tenant_owned_table():
    assert rls.tables_without_policy() == []
    assert TenantJob._meta.db_table in {m._meta.db_table for m in rls.tenant_owned_models()}


def test_it_shows_no_rows_to_raw_sql_outside_any_tenant(jobs):
    """Even code that bypasses the ORM managers sees nothing without a tenant."""
    assert _count_jobs() == 0
    with transaction.atomic():
        assert _count_jobs() == 0


def test_it_shows_only_the_tenants_rows_inside_its_scope(jobs, tenant, other_tenant):
    with tenant_scope(tenant):
        assert _count_jobs() == 2
        assert _count_jobs(f"WHERE tenant_id = {other_tenant.pk}") == 0
    assert _count_jobs() == 0  # the setting ended with the transaction


def test_it_refuses_to_write_a_row_for_another_tenant(jobs, tenant, other_tenant):
    from django.db import DatabaseError

    with pytest.raises(DatabaseError, match="row-level security"):
        with tenant_scope(tenant):
            TenantJob.unscoped.create(tenant=other_tenant, kind=TenantJob.Kind.PROVISION)


def test_it_sees_every_tenant_only_through_an_explicit_bypass(jobs):
    with rls.bypass():
        assert _count_jobs() == 4
    assert _count_jobs() == 0


def test_a_request_names_its_tenant_only_for_its_own_transaction(jobs, tenant, client):
    """The tenant lookup sets the RLS tenant in the request's transaction; nothing of it outlives the request."""
    assert client.get(f"/t/{tenant.slug}/fhir/metadata").status_code == 200
    assert rls.current_tenant(connection) == ""
    assert _count_jobs() == 0


def test_a_request_inside_an_outer_transaction_puts_the_outer_tenant_back(jobs, tenant, other_tenant, client):
    """Nested (a test's or a caller's transaction around the request): the outer setting is restored."""
    with tenant_scope(other_tenant):
        assert client.get(f"/t/{tenant.slug}/fhir/metadata").status_code == 200
        assert rls.current_tenant(connection) == str(other_tenant.pk)
        assert _count_jobs(f"WHERE tenant_id = {tenant.pk}") == 0
        assert _count_jobs() == 2


def test_a_scope_nested_in_another_tenants_scope_puts_the_outer_tenant_back(jobs, tenant, other_tenant):
    """A job working as one payer that briefly acts as another returns to seeing only its own rows."""
    with tenant_scope(other_tenant):
        with tenant_scope(tenant):
            assert _count_jobs(f"WHERE tenant_id = {other_tenant.pk}") == 0
        assert rls.current_tenant(connection) == str(other_tenant.pk)
        assert _count_jobs(f"WHERE tenant_id = {tenant.pk}") == 0
        assert _count_jobs() == 2
