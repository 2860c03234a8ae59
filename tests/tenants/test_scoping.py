import pytest

from tenants import rls
from tenants.context import TenantNotActive, current_tenant, tenant_scope
from tenants.models import TenantJob


@pytest.mark.django_db
def test_it_refuses_to_query_tenant_owned_rows_with_no_active_tenant(tenant):
    """A forgotten scope is an error, never a query over every tenant."""
    with pytest.raises(TenantNotActive):
        list(TenantJob.objects.all())
    with pytest.raises(TenantNotActive):
        TenantJob.objects.create(kind=TenantJob.Kind.PROVISION)


@pytest.mark.django_db
def test_it_scopes_queries_and_writes_to_the_active_tenant(tenant, other_tenant):
    with tenant_scope(tenant):
        mine = TenantJob.objects.create(kind=TenantJob.Kind.PROVISION)
    with tenant_scope(other_tenant):
        theirs = TenantJob.objects.create(kind=TenantJob.Kind.PROVISION)
        assert list(TenantJob.objects.all()) == [theirs]
        assert not TenantJob.objects.filter(pk=mine.pk).exists()
    assert mine.tenant == tenant and theirs.tenant == other_tenant
    with rls.bypass():  # on PostgreSQL, row-level security hides rows outside a scope
        assert set(TenantJob.unscoped.for_tenant(tenant)) == {mine}


@pytest.mark.django_db
def test_it_restores_the_previous_tenant_after_a_nested_scope(tenant, other_tenant):
    with tenant_scope(tenant):
        with tenant_scope(other_tenant):
            assert current_tenant() == other_tenant
        assert current_tenant() == tenant
    assert current_tenant() is None


@pytest.mark.django_db
def test_it_deactivates_the_tenant_when_the_block_raises(tenant):
    with pytest.raises(ZeroDivisionError):
        with tenant_scope(tenant):
            raise ZeroDivisionError
    assert current_tenant() is None
