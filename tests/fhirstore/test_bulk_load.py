"""store.bulk_load: many resources at once (COPY on PostgreSQL, bulk_create on SQLite)."""

import pytest
from django.db import IntegrityError

from sandbox.fhirstore import search, store
from sandbox.fhirstore.errors import InvalidResource
from sandbox.fhirstore.models import Resource, ResourceVersion
from tenants.context import tenant_scope


def members(n):
    for i in range(n):
        yield {
            "resourceType": "Patient",
            "id": f"m{i}",
            "identifier": [{"system": "urn:m", "value": f"M{i}"}],
            "name": [{"family": f"Family{i}"}],
            "birthDate": "1970-01-01",
        }
        yield {
            "resourceType": "Coverage",
            "id": f"c{i}",
            "status": "active",
            "beneficiary": {"reference": f"Patient/m{i}"},
            "payor": [{"reference": "Organization/o1"}],
        }


def test_it_loads_resources_with_versions_and_indexes(tenant, other_tenant):
    """Loaded resources are readable, searchable, in their compartment, and only in their tenant."""
    with tenant_scope(tenant):
        assert store.bulk_load(members(50)) == 100
        assert Resource.objects.count() == 100 and ResourceVersion.objects.count() == 100
        assert store.read("Patient", "m7").as_dict()["meta"]["versionId"] == "1"
        assert search.match_ids("Patient", "identifier=urn:m|M7") == ["m7"]
        assert search.match_ids("Coverage", "patient=Patient/m7") == ["c7"]
        assert Resource.objects.get(fhir_id="c7").patient_id == "m7"
        store.update("Patient", "m7", {"resourceType": "Patient", "id": "m7", "gender": "male"})
        assert store.read("Patient", "m7").version_id == 2
    with tenant_scope(other_tenant):
        assert not Resource.objects.exists()


def test_it_validates_unless_told_not_to(tenant):
    """An invalid resource stops the load before anything is written."""
    with tenant_scope(tenant):
        with pytest.raises(InvalidResource):
            store.bulk_load([{"resourceType": "Patient", "birthDate": "bad"}])
        assert not Resource.objects.exists()


def test_it_refuses_existing_ids(tenant):
    """Ids already present make the whole chunk fail."""
    with tenant_scope(tenant):
        store.bulk_load(members(1))
    with pytest.raises(IntegrityError), tenant_scope(tenant):
        store.bulk_load(members(1))


@pytest.mark.postgres
def test_it_uses_copy_on_postgresql(tenant, django_assert_max_num_queries):
    """On PostgreSQL a chunk costs a handful of statements whatever its size."""
    with tenant_scope(tenant), django_assert_max_num_queries(4):
        store.bulk_load(members(200))
    with tenant_scope(tenant):
        assert Resource.objects.count() == 400
