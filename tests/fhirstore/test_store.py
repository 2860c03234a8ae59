"""The store service API, used without HTTP by other apps."""

import pytest

from sandbox.fhirstore import search, store
from sandbox.fhirstore.errors import Gone, InvalidResource, NotFound, PreconditionFailed, UnknownType
from sandbox.fhirstore.models import Resource, ResourceVersion, SearchReference, SearchToken
from tenants.context import TenantNotActive, tenant_scope


def test_it_creates_reads_updates_and_deletes(tenant, patient):
    """The service functions mirror the REST interactions."""
    with tenant_scope(tenant):
        created, was_created = store.update("Patient", "p1", patient)
        assert was_created and created.version_id == 1 and created.etag == 'W/"1"'
        updated, was_created = store.update("Patient", "p1", {**patient, "gender": "male"}, if_match='W/"1"')
        assert not was_created and updated.as_dict()["gender"] == "male"
        assert store.read("Patient", "p1").version_id == 2
        assert store.vread("Patient", "p1", "1").as_dict()["gender"] == "female"
        store.delete("Patient", "p1")
        with pytest.raises(Gone):
            store.read("Patient", "p1")
        rows, next_before = store.history("Patient", "p1")
        assert [r.version_id for r in rows] == [3, 2, 1] and next_before is None


def test_it_raises_typed_errors(tenant, patient):
    """Errors carry their HTTP status for any caller."""
    with tenant_scope(tenant):
        with pytest.raises(NotFound):
            store.read("Patient", "nope")
        with pytest.raises(UnknownType):
            store.read("Spaceship", "1")
        with pytest.raises(InvalidResource) as bad:
            store.create("Patient", {"resourceType": "Patient", "gender": 1, "birthDate": "x"})
        assert bad.value.status == 400 and len(bad.value.issues) == 2
        store.update("Patient", "p1", patient)
        with pytest.raises(PreconditionFailed):
            store.update("Patient", "p1", patient, if_match="7")


def test_it_refuses_to_run_without_a_tenant(patient):
    """Outside tenant_scope the store fails closed."""
    with pytest.raises(TenantNotActive):
        store.read("Patient", "p1")


def test_it_fills_index_and_compartment_in_the_same_transaction(tenant, patient):
    """Index rows and patient_id are written with the resource, and replaced on update."""
    eob = {
        "resourceType": "ExplanationOfBenefit",
        "id": "e1",
        "status": "active",
        "use": "claim",
        "type": {"coding": [{"code": "pharmacy"}]},
        "patient": {"reference": "Patient/p1"},
        "created": "2024-01-01",
        "insurer": {"reference": "Organization/o1"},
        "provider": {"reference": "Organization/o1"},
        "outcome": "complete",
        "insurance": [{"focal": True, "coverage": {"reference": "Coverage/c1"}}],
    }
    with tenant_scope(tenant):
        stored, _ = store.update("ExplanationOfBenefit", "e1", eob)
        row = Resource.objects.get(fhir_id="e1")
        assert row.patient_id == "p1"
        refs = set(SearchReference.objects.filter(resource=row).values_list("param", "target_type", "target_id"))
        assert ("patient", "Patient", "p1") in refs and ("coverage", "Coverage", "c1") in refs
        store.update("ExplanationOfBenefit", "e1", {**eob, "patient": {"reference": "Patient/p2"}})
        assert Resource.objects.get(fhir_id="e1").patient_id == "p2"
        assert not SearchReference.objects.filter(resource=row, target_id="p1").exists()


def test_it_rolls_back_index_rows_with_the_write(tenant, patient):
    """A failing outer transaction leaves neither resource nor index rows."""
    from django.db import transaction

    with pytest.raises(RuntimeError), tenant_scope(tenant), transaction.atomic():
        store.update("Patient", "p1", patient)
        raise RuntimeError("abort")
    with tenant_scope(tenant):
        assert not Resource.objects.exists()
        assert not SearchToken.objects.exists()
        assert not ResourceVersion.objects.exists()


def test_it_searches_without_http(tenant, patient):
    """search.search and search.match_ids work on the active tenant."""
    with tenant_scope(tenant):
        store.update("Patient", "p1", patient)
        result = search.search("Patient", "identifier=M-100&_count=5")
        assert [r.fhir_id for r in result.matches] == ["p1"] and result.total == 1
        assert search.match_ids("Patient", {"gender": "female"}) == ["p1"]
