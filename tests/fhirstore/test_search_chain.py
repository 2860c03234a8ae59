"""Chained parameters (one level) and _has."""

import pytest

from tests.fhirstore.conftest import fixture
from tests.fhirstore.test_search_token import ids


@pytest.fixture
def formulary(api):
    for name in (
        "InsurancePlan-FormularyD1002.json",
        "MedicationKnowledge-FormularyDrug-1000091.json",
        "MedicationKnowledge-FormularyDrug-209459.json",
        "Basic-FormularyItem-D1002-1000091.json",
        "Basic-FormularyItem-D1002-209459.json",
    ):
        api.put_resource(fixture(name))


def test_it_chains_through_a_typed_reference(api, formulary):
    """Basic?subject:MedicationKnowledge.code=rxnorm|1000091 (US Drug Formulary queries page)."""
    item = fixture("Basic-FormularyItem-D1002-1000091.json")
    query = {"subject:MedicationKnowledge.code": "http://www.nlm.nih.gov/research/umls/rxnorm|1000091"}
    assert ids(api.get("Basic", query)) == [item["id"]]


def test_it_chains_with_a_modifier_on_the_inner_parameter(api, formulary):
    """subject:MedicationKnowledge.drug-name:contains=... (the client RI's form)."""
    drug = fixture("MedicationKnowledge-FormularyDrug-209459.json")
    word = drug["code"]["coding"][0]["display"].split()[0].lower()
    item = fixture("Basic-FormularyItem-D1002-209459.json")
    assert ids(api.get("Basic", {"subject:MedicationKnowledge.drug-name:contains": word})) == [item["id"]]


def test_it_infers_the_type_of_a_single_target_reference(api, patient):
    """patient.identifier=... needs no :Patient."""
    api.put_resource(patient)
    api.put_resource(
        {
            "resourceType": "Coverage",
            "id": "cov1",
            "status": "active",
            "beneficiary": {"reference": "Patient/p1"},
            "payor": [{"reference": "Organization/o1"}],
        }
    )
    assert ids(api.get("Coverage", {"patient.identifier": "M-100"})) == ["cov1"]
    assert ids(api.get("Coverage", {"patient.identifier": "nobody"})) == []


def test_it_rejects_ambiguous_or_deep_chains(api, formulary):
    """An untyped chain on a many-type reference, and two levels, are 400."""
    assert api.get("Basic", {"subject.code": "x"}).status_code == 400
    assert api.get("Basic", {"subject:MedicationKnowledge.manufacturer.name": "x"}).status_code == 400


def test_it_supports_has(api, patient):
    """Patient?_has:Observation:patient:code=... finds patients with such observations."""
    api.put_resource(patient)
    api.put_resource({**patient, "id": "p2"})
    api.put_resource(
        {
            "resourceType": "Observation",
            "id": "o1",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "1234-5"}]},
            "subject": {"reference": "Patient/p1"},
        }
    )
    assert ids(api.get("Patient", {"_has:Observation:patient:code": "1234-5"})) == ["p1"]
    assert ids(api.get("Patient", {"_has:Observation:patient:code": "9999-9"})) == []
    assert api.get("Patient", {"_has:Observation:code": "1"}).status_code == 400


def test_it_never_chains_into_another_tenant(api, other_api, patient):
    """A chain matches only targets of the same tenant."""
    other_api.put_resource(patient)
    api.put_resource(
        {
            "resourceType": "Coverage",
            "id": "cov1",
            "status": "active",
            "beneficiary": {"reference": "Patient/p1"},
            "payor": [{"reference": "Organization/o1"}],
        }
    )
    assert ids(api.get("Coverage", {"patient.identifier": "M-100"})) == []
