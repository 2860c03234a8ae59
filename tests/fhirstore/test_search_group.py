"""Group searches of ATR and PDex: identifier, characteristic, characteristic-value, -value-reference, name."""

from tests.fhirstore.conftest import fixture
from tests.fhirstore.test_search_token import ids


def test_it_finds_matched_groups_by_characteristic_and_requester(api):
    """Group?characteristic=match and ?characteristic-value-reference:identifier=NPI (PDex member match)."""
    group = api.put_resource(fixture("pdex-ig_Group-member-match-matched.json"))
    api.put_resource(fixture("pdex-stu2.2draft-Group-member-opt-out.json"))
    assert ids(api.get("Group", {"characteristic": "match"})) == [group["id"]]
    npi = "http://hl7.org/fhir/sid/us-npi|0123456789"
    found = ids(api.get("Group", {"characteristic-value-reference:identifier": npi, "characteristic": "match"}))
    assert found == [group["id"]]


def test_it_searches_the_characteristic_value_composite(api):
    """characteristic-value=code$value pairs the two parts of one characteristic."""
    api.put_resource(
        {
            "resourceType": "Group",
            "id": "g1",
            "type": "person",
            "actual": True,
            "name": "Acme ACO attribution list",
            "characteristic": [
                {
                    "code": {"coding": [{"code": "attributed-to"}]},
                    "valueCodeableConcept": {"coding": [{"code": "npi1"}]},
                    "exclude": False,
                },
                {
                    "code": {"coding": [{"code": "location"}]},
                    "valueCodeableConcept": {"coding": [{"code": "ct"}]},
                    "exclude": False,
                },
            ],
        }
    )
    assert ids(api.get("Group", {"characteristic-value": "attributed-to$npi1"})) == ["g1"]
    assert ids(api.get("Group", {"characteristic-value": "urn:x|location$urn:y|ct"})) == ["g1"]
    assert ids(api.get("Group", {"characteristic-value": "attributed-to$ct"})) == []
    assert api.get("Group", {"characteristic-value": "attributed-to"}).status_code == 400
    assert ids(api.get("Group", {"name": "acme aco"})) == ["g1"]


def test_it_finds_attribution_lists_by_identifier_system(api):
    """Group?identifier=<system>| (ATR discovery) matches any value of that system."""
    group = fixture("atr-Group-fullexample.json")
    api.put_resource(group)
    system = group["identifier"][0]["system"]
    assert ids(api.get("Group", {"identifier": f"{system}|"})) == [group["id"]]
