"""
On PostgreSQL a request's transaction begins only when a statement needs one
(tenants.row_lookup.transaction_on_demand): reads through tenants.row_lookup run in one
implicit transaction each, with the tenant named in the same message. Whatever begins the
transaction must name the tenant for row-level security, and the request stays all or nothing.
"""

import pytest
from django.db import connection

from tenants import rls
from tenants.context import tenant_scope
from tenants.models import TenantJob

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def on_demand_urls(settings):
    settings.TENANT_URLCONF = "tests.tenants.on_demand_urls"


@pytest.fixture
def jobs(tenant, other_tenant):
    for t, count in ((tenant, 2), (other_tenant, 3)):
        with tenant_scope(t):
            for _ in range(count):
                TenantJob.objects.create(kind=TenantJob.Kind.PROVISION)


def _idle():
    from psycopg.pq import TransactionStatus

    return connection.connection.pgconn.transaction_status == TransactionStatus.IDLE


def test_a_write_begins_the_transaction_as_the_tenant_and_commits(on_demand_urls, tenant, jobs, client):
    response = client.get("/t/acme/write", {"message": "kept"})
    # Row-level security's WITH CHECK refuses a row for a tenant the transaction does not name.
    assert response.status_code == 200, response.content
    assert response.json() == {"jobs": 3}
    with tenant_scope(tenant):
        assert TenantJob.objects.filter(message="kept").count() == 1
    assert _idle()
    assert rls.current_tenant(connection) == ""


def test_a_failing_request_rolls_back_what_it_wrote(on_demand_urls, tenant, jobs, client):
    assert client.get("/t/acme/write", {"message": "half-done", "fail": "1"}).status_code == 500
    with tenant_scope(tenant):
        assert not TenantJob.objects.filter(message="half-done").exists()
    assert _idle()


@pytest.mark.parametrize("path", ["count-raw", "count-psycopg"])
def test_sql_of_a_request_sees_only_its_tenants_rows(on_demand_urls, tenant, other_tenant, jobs, client, path):
    assert client.get(f"/t/acme/{path}").json() == {"jobs": 2}
    assert client.get(f"/t/beta/{path}").json() == {"jobs": 3}
    assert _idle()
    assert rls.current_tenant(connection) == ""


def test_a_read_leaves_no_transaction_and_no_tenant_behind(tenant, client):
    from sandbox.oauth.tokens import mint_token

    token = mint_token(tenant, "system/*.read").token
    response = client.get("/t/acme/fhir/Patient/none", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 404
    assert _idle()
    assert rls.current_tenant(connection) == ""
