"""Token search: system|code, |code, code, system|, :not, :text, booleans, OR and AND."""

import pytest


@pytest.fixture
def conditions(api):
    def condition(fid, system, code, text=None, status="active"):
        coding = {"system": system, "code": code} if system else {"code": code}
        return api.put_resource(
            {
                "resourceType": "Condition",
                "id": fid,
                "subject": {"reference": "Patient/p1"},
                "clinicalStatus": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": status}]
                },
                "code": {"coding": [coding], **({"text": text} if text else {})},
            }
        )

    condition("c1", "http://snomed.info/sct", "44054006", "Diabetes mellitus type 2")
    condition("c2", "http://hl7.org/fhir/sid/icd-10-cm", "E11.9", status="resolved")
    condition("c3", None, "44054006")


def ids(response):
    assert response.status_code == 200, response.content
    return sorted(e["resource"]["id"] for e in response.json().get("entry", []) if e["search"]["mode"] == "match")


def test_it_matches_system_and_code(api, conditions):
    """system|code needs both; a bare code matches any system; |code needs no system."""
    assert ids(api.get("Condition", {"code": "http://snomed.info/sct|44054006"})) == ["c1"]
    assert ids(api.get("Condition", {"code": "44054006"})) == ["c1", "c3"]
    assert ids(api.get("Condition", {"code": "|44054006"})) == ["c3"]
    assert ids(api.get("Condition", {"code": "http://hl7.org/fhir/sid/icd-10-cm|"})) == ["c2"]


def test_it_ors_commas_and_ands_repeats(api, conditions):
    """Commas are OR; a repeated parameter is AND."""
    assert ids(api.get("Condition", {"code": "E11.9,http://snomed.info/sct|44054006"})) == ["c1", "c2"]
    response = api.get("Condition?code=44054006&clinical-status=active&code=http://snomed.info/sct|44054006")
    assert ids(response) == ["c1"]


def test_it_supports_not_and_text(api, conditions):
    """:not excludes matches; :text searches the text and displays, folded."""
    assert ids(api.get("Condition", {"clinical-status:not": "active"})) == ["c2"]
    assert ids(api.get("Condition", {"code:text": "DIABETES"})) == ["c1"]


def test_it_searches_identifier_value_without_system(api, patient):
    """Patient?identifier=<value> (Inferno PDex S8) matches any system."""
    api.put_resource(patient)
    assert ids(api.get("Patient", {"identifier": "M-100"})) == ["p1"]
    assert ids(api.get("Patient", {"identifier": "http://example.org/member|M-100"})) == ["p1"]
    assert ids(api.get("Patient", {"identifier": "http://other|M-100"})) == []


def test_it_searches_codes_and_booleans(api, patient):
    """Plain code elements (gender) and booleans (active) index as tokens."""
    api.put_resource({**patient, "active": True})
    assert ids(api.get("Patient", {"gender": "female"})) == ["p1"]
    assert ids(api.get("Patient", {"active": "true"})) == ["p1"]
    assert ids(api.get("Patient", {"active": "false"})) == []


def test_it_searches_by_id_tag_and_profile(api, patient):
    """_id, _tag and _profile work on every type."""
    profile = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"
    api.put_resource({**patient, "meta": {"profile": [profile], "tag": [{"system": "urn:t", "code": "seed"}]}})
    api.put_resource({**patient, "id": "p2"})
    assert ids(api.get("Patient", {"_id": "p1,p9"})) == ["p1"]
    assert ids(api.get("Patient", {"_profile": profile})) == ["p1"]
    assert ids(api.get("Patient", {"_tag": "urn:t|seed"})) == ["p1"]


def test_it_treats_formulary_code_system_spellings_as_aliases(api):
    """The -TEMPORARY-TRIAL-USE suffix does not matter on either side (spec/formulary.md §3)."""
    from tests.fhirstore.conftest import fixture

    item = fixture("Basic-FormularyItem-D1002-1000091.json")
    api.put_resource(item)
    tier = "http://hl7.org/fhir/us/davinci-drug-formulary/CodeSystem/usdf-DrugTierCS"
    found = ids(api.get("Basic", {"drug-tier": f"{tier}|generic"}))
    found_suffixed = ids(api.get("Basic", {"drug-tier": f"{tier}-TEMPORARY-TRIAL-USE|generic"}))
    assert found == found_suffixed == [item["id"]]
