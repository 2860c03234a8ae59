"""String search: case- and accent-insensitive prefix, :exact, :contains, names and addresses."""

from tests.fhirstore.test_search_token import ids


def test_it_matches_a_folded_prefix(api, patient):
    """name=nun finds Ñúñez; given and family are searched."""
    api.put_resource(patient)
    assert ids(api.get("Patient", {"name": "nun"})) == ["p1"]
    assert ids(api.get("Patient", {"family": "ÑÚÑ"})) == ["p1"]
    assert ids(api.get("Patient", {"given": "zoe"})) == ["p1"]
    assert ids(api.get("Patient", {"name": "unez"})) == []


def test_it_supports_exact_and_contains(api, patient):
    """:exact is case- and accent-sensitive and whole; :contains matches inside."""
    api.put_resource(patient)
    assert ids(api.get("Patient", {"family:exact": "Ñúñez"})) == ["p1"]
    assert ids(api.get("Patient", {"family:exact": "nunez"})) == []
    assert ids(api.get("Patient", {"name:contains": "UNE"})) == ["p1"]


def test_it_searches_address_parts(api, patient):
    """address and address-* parameters match their parts."""
    api.put_resource(patient)
    assert ids(api.get("Patient", {"address": "hartf"})) == ["p1"]
    assert ids(api.get("Patient", {"address-state": "ct"})) == ["p1"]
    assert ids(api.get("Patient", {"address-postalcode": "061"})) == ["p1"]


def test_it_ands_multiple_contains(api):
    """drug-name:contains repeated is AND (US Drug Formulary query page)."""
    from tests.fhirstore.conftest import fixture

    drug = fixture("MedicationKnowledge-FormularyDrug-1049640.json")
    api.put_resource(drug)
    display = drug["code"]["coding"][0]["display"]
    word = display.split()[0]
    assert ids(api.get(f"MedicationKnowledge?drug-name:contains={word}&drug-name:contains=tablet")) == [drug["id"]]
    assert ids(api.get(f"MedicationKnowledge?drug-name:contains={word}&drug-name:contains=zzz")) == []
