"""Quantity and uri search, and :missing on every index type."""

import pytest

from tests.fhirstore.test_search_token import ids


@pytest.fixture
def observations(api):
    for fid, value in (("o1", 5.4), ("o2", 120), ("o3", None)):
        resource = {
            "resourceType": "Observation",
            "id": fid,
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0"}]},
            "subject": {"reference": "Patient/p1"},
        }
        if value is not None:
            resource["valueQuantity"] = {
                "value": value,
                "unit": "mg/dL",
                "system": "http://unitsofmeasure.org",
                "code": "mg/dL",
            }
        api.put_resource(resource)


def test_it_compares_quantities(api, observations):
    """eq honours the precision of the value; gt/lt/ge/le compare; system|code must match."""
    assert ids(api.get("Observation", {"value-quantity": "5.4"})) == ["o1"]
    assert ids(api.get("Observation", {"value-quantity": "5.40"})) == ["o1"]
    assert ids(api.get("Observation", {"value-quantity": "5"})) == ["o1"]
    assert ids(api.get("Observation", {"value-quantity": "gt100"})) == ["o2"]
    assert ids(api.get("Observation", {"value-quantity": "le120"})) == ["o1", "o2"]
    assert ids(api.get("Observation", {"value-quantity": "120|http://unitsofmeasure.org|mg/dL"})) == ["o2"]
    assert ids(api.get("Observation", {"value-quantity": "120|http://unitsofmeasure.org|g"})) == []


def test_it_rejects_a_bad_number(api, observations):
    """value-quantity=abc is 400."""
    assert api.get("Observation", {"value-quantity": "gtabc"}).status_code == 400


def test_it_supports_missing(api, observations):
    """:missing=true finds resources without the element, false those with it."""
    assert ids(api.get("Observation", {"value-quantity:missing": "true"})) == ["o3"]
    assert ids(api.get("Observation", {"value-quantity:missing": "false"})) == ["o1", "o2"]
    assert ids(api.get("Observation", {"encounter:missing": "true"})) == ["o1", "o2", "o3"]
    assert api.get("Observation", {"encounter:missing": "maybe"}).status_code == 400


def test_it_searches_uris_exactly_and_below(api):
    """uri parameters match exactly, or by prefix with :below."""
    from tests.fhirstore.conftest import fixture

    operation = fixture("atr-OperationDefinition-member-add.json")
    api.put_resource(operation)
    assert ids(api.get("OperationDefinition", {"url": operation["url"]})) == [operation["id"]]
    assert ids(api.get("OperationDefinition", {"url:below": "http://hl7.org/fhir/us/davinci-atr/"})) == [
        operation["id"]
    ]
    assert ids(api.get("OperationDefinition", {"url": operation["url"] + "x"})) == []
