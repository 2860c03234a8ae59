"""POST [base] with a transaction Bundle: all-or-nothing, urn:uuid rewriting."""

from sandbox.fhirstore.models import Resource
from tenants.context import tenant_scope


def transaction(*entries):
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def post_entry(resource, full_url=None, if_none_exist=None):
    entry = {"resource": resource, "request": {"method": "POST", "url": resource["resourceType"]}}
    if full_url:
        entry["fullUrl"] = full_url
    if if_none_exist:
        entry["request"]["ifNoneExist"] = if_none_exist
    return entry


def test_it_creates_everything_and_rewrites_urn_uuids(api, patient):
    """The Coverage's urn:uuid reference becomes the Patient's assigned id."""
    patient_urn = "urn:uuid:6c1b2c2a-8f7e-4bbd-9a57-0d3b1b2c1a00"
    coverage = {
        "resourceType": "Coverage",
        "status": "active",
        "beneficiary": {"reference": patient_urn},
        "payor": [{"reference": "Organization/o1"}],
    }
    response = api.post("", transaction(post_entry(patient, patient_urn), post_entry(coverage)))
    assert response.status_code == 200, response.content
    bundle = response.json()
    assert bundle["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in bundle["entry"]]
    assert statuses == ["201 Created", "201 Created"]
    patient_ref = bundle["entry"][0]["response"]["location"].split("/_history")[0]
    coverage_id = bundle["entry"][1]["response"]["location"].split("/")[1]
    stored = api.get(f"Coverage/{coverage_id}").json()
    assert stored["beneficiary"]["reference"] == patient_ref
    found = api.get("Coverage", {"patient": patient_ref}).json()
    assert found["total"] == 1


def test_it_stores_nothing_when_one_entry_fails(api, tenant, patient):
    """An invalid entry makes the whole transaction 400 and nothing is stored."""
    bad = {"resourceType": "Observation", "status": "not-a-status-but-fine", "code": "should-be-object"}
    response = api.post("", transaction(post_entry(patient), post_entry(bad)))
    assert response.status_code == 400
    issue = response.json()["issue"][0]
    assert "Bundle.entry[1]" in issue["diagnostics"]
    with tenant_scope(tenant):
        assert Resource.objects.count() == 0


def test_it_processes_puts_deletes_and_reads(api, patient):
    """PUT, DELETE and GET entries run in FHIR order within one transaction."""
    api.put_resource({**patient, "id": "gone"})
    bundle = transaction(
        {"resource": patient, "request": {"method": "PUT", "url": "Patient/p1"}},
        {"request": {"method": "DELETE", "url": "Patient/gone"}},
        {"request": {"method": "GET", "url": "Patient?identifier=M-100"}},
    )
    response = api.post("", bundle).json()
    assert [e["response"]["status"] for e in response["entry"]] == ["201 Created", "204 No Content", "200 OK"]
    assert response["entry"][2]["resource"]["total"] == 1
    assert api.get("Patient/gone").status_code == 410


def test_it_resolves_conditional_creates(api, patient):
    """ifNoneExist matching an existing resource maps the urn:uuid to it and creates nothing."""
    api.put_resource(patient)
    urn = "urn:uuid:0f0f0f0f-0000-4000-8000-000000000001"
    coverage = {
        "resourceType": "Coverage",
        "status": "active",
        "beneficiary": {"reference": urn},
        "payor": [{"reference": "Organization/o1"}],
    }
    response = api.post("", transaction(post_entry(patient, urn, "identifier=M-100"), post_entry(coverage))).json()
    assert response["entry"][0]["response"]["status"] == "200 OK"
    coverage_id = response["entry"][1]["response"]["location"].split("/")[1]
    assert api.get(f"Coverage/{coverage_id}").json()["beneficiary"]["reference"] == "Patient/p1"
    assert api.get("Patient").json()["total"] == 1


def test_it_cannot_reach_another_tenants_resources(api, other_api, patient):
    """GET, PUT-if-match and DELETE entries on another tenant's ids fail; nothing there changes."""
    other_api.put_resource(patient)
    read = api.post("", transaction({"request": {"method": "GET", "url": "Patient/p1"}}))
    assert read.status_code == 404
    delete = api.post("", transaction({"request": {"method": "DELETE", "url": "Patient/p1"}}))
    assert delete.status_code == 404
    update = api.post(
        "", transaction({"resource": patient, "request": {"method": "PUT", "url": "Patient/p1", "ifMatch": 'W/"1"'}})
    )
    assert update.status_code == 412
    assert other_api.get("Patient/p1").json()["meta"]["versionId"] == "1"


def test_it_rejects_malformed_bundles(api):
    """Non-bundles, wrong types and entries without request are 400."""
    assert api.post("", {"resourceType": "Patient"}).status_code == 400
    assert api.post("", {"resourceType": "Bundle", "type": "collection"}).status_code == 400
    assert api.post("", transaction({"resource": {"resourceType": "Patient"}})).status_code == 400
    assert api.post("", transaction({"request": {"method": "GET", "url": "not a url"}})).status_code == 400
    assert api.post("", "{not json").status_code == 400
