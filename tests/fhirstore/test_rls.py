"""PostgreSQL row-level security on the FHIR tables (the second wall behind the managers)."""

import pytest
from django.db import connection

from sandbox.fhirstore import store
from tenants import rls
from tenants.context import tenant_scope

pytestmark = pytest.mark.postgres


def test_it_protects_every_fhir_table(db):
    """Every fhirstore table has the forced tenant policy."""
    assert not [t for t in rls.tables_without_policy() if t.startswith("fhirstore_")]


def test_it_hides_rows_from_raw_sql_of_another_tenant(tenant, other_tenant, patient):
    """Even raw SQL without a tenant filter sees only the active tenant's resources and index rows."""
    with tenant_scope(tenant):
        store.update("Patient", "p1", patient)
    with tenant_scope(other_tenant), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM fhirstore_resource")
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT count(*) FROM fhirstore_searchtoken")
        assert cursor.fetchone()[0] == 0
    with tenant_scope(tenant), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM fhirstore_resource")
        assert cursor.fetchone()[0] == 1
