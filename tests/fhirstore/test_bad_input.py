"""Odd and hostile input never produces a 500: every answer is a 4xx OperationOutcome or a result."""

import pytest

QUERIES = [
    "Patient?_sort=",
    "Patient?_count=99999999999999999999999",
    "Patient?_cursor=99999999999999999999999",
    "Patient?_before=-5",
    "Patient?_snapshot=99999999999999999999999&_offset=1",
    "Patient?_sort=_id&_snapshot=abc",
    "Patient?birthdate=ge",
    "Patient?birthdate=0000-01-01",
    "Patient?birthdate=2024-02-30",
    "Patient?birthdate=2024-01-01T10:00:00+25:00",
    "Patient?_lastUpdated:missing=true",
    "Patient?_id:exact=x",
    "Patient?name=%00",
    "Patient?identifier=a%00b",
    "Patient?general-practitioner=Practitioner/",
    "Patient?general-practitioner=http://",
    "Patient?_include=Patient:general-practitioner:Spaceship",
    "Patient?_include=Patient:*",
    "Patient?_revinclude=Provenance:target&_revinclude:iterate=Provenance:target",
    "Patient?_has:Observation:patient:code:not=x",
    "Patient?_has:Spaceship:patient:code=x",
    "Patient?organization:Organization.name.x=1",
    "Patient?organization.name=x",
    "Patient?.=x",
    "Patient?:=x",
    "Patient?name:=x",
    "Patient?_elements=",
    "Patient?_summary=count&_count=0",
    "Observation?value-quantity=NaN",
    "Observation?value-quantity=Infinity",
    "Observation?value-quantity=1e999999",
    "Observation?value-quantity=5||",
    "Encounter/_history?_before=99999999999999999999999",
    "Encounter/_history?_count=0",
    "Patient/p1/$everything?_count=0",
    "Patient/p1/$everything?_cursor=99999999999999999999999",
]


@pytest.mark.parametrize("query", QUERIES)
def test_it_never_fails_with_500_on_odd_searches(api, patient, query):
    """Every odd query answers below 500 with FHIR JSON."""
    api.put_resource(patient)
    path, _, params = query.partition("?")
    response = api.client.get(f"/t/acme/fhir/{path}?{params}", **api.headers)
    assert response.status_code < 500, response.content
    assert response.json()["resourceType"] in ("Bundle", "OperationOutcome")


BODIES = [
    '{"resourceType":"Patient","name":[{"family":"a\\u0000b"}]}',
    "[]",
    "null",
    '"Patient"',
    '{"resourceType":"Patient","id":["x"]}',
    '{"resourceType":"Patient","id":"' + "x" * 65 + '"}',
    '{"resourceType":"Patient","meta":"x"}',
    '{"resourceType":"Patient","contained":[{"resourceType":"Nope"}]}',
    '{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1e30}}',
    "\xff\xfe",
]


@pytest.mark.parametrize("body", BODIES)
def test_it_never_fails_with_500_on_odd_bodies(api, body):
    """Create with odd bodies is 400 (or 201 for the valid huge quantity), never 500."""
    resource_type = "Observation" if "Observation" in body else "Patient"
    response = api.post(resource_type, body.encode("latin-1") if body.startswith("\xff") else body)
    assert response.status_code in (201, 400), response.content


BUNDLES = [
    {"resourceType": "Bundle", "type": "transaction", "entry": "x"},
    {"resourceType": "Bundle", "type": "transaction", "entry": [1]},
    {"resourceType": "Bundle", "type": "transaction", "entry": [{"request": {"method": 1, "url": "Patient"}}]},
    {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": 5, "request": {"method": "POST", "url": "Patient"}, "resource": {"resourceType": "Patient"}}
        ],
    },
    {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "request": {"method": "POST", "url": "Patient", "ifNoneExist": ["x"]},
                "resource": {"resourceType": "Patient"},
            }
        ],
    },
    {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"request": {"method": "POST", "url": "Patient"}, "resource": "x"}],
    },
    {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"request": {"method": "GET", "url": "Patient?birthdate=bad"}}],
    },
    {"resourceType": "Bundle", "type": "batch", "entry": [{"request": {"method": "GET", "url": "Spaceship/1"}}]},
    {"resourceType": "Bundle", "type": "transaction", "entry": [{"request": {"method": "PATCH", "url": "Patient/1"}}]},
]


@pytest.mark.parametrize("bundle", BUNDLES)
def test_it_never_fails_with_500_on_odd_bundles(api, bundle):
    """Odd bundles are 4xx (or 200 for batch with per-entry errors)."""
    response = api.post("", bundle)
    assert response.status_code < 500, response.content
