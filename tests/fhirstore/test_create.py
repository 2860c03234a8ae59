"""POST [base]/[type]: create and conditional create."""

from sandbox.fhirstore.models import Resource, SearchToken
from tenants.context import tenant_scope


def _count(tenant):
    with tenant_scope(tenant):
        return Resource.objects.count(), SearchToken.objects.count()


def test_it_creates_with_a_server_id_and_location(api, patient):
    """201 with Location, ETag and the stored resource; the body's id is replaced."""
    response = api.post("Patient", patient)
    assert response.status_code == 201
    body = response.json()
    assert body["id"] != "p1"
    assert body["meta"]["versionId"] == "1"
    assert response["Location"] == f"http://testserver/t/acme/fhir/Patient/{body['id']}/_history/1"
    assert api.get(f"Patient/{body['id']}").json() == body


def test_it_honours_prefer_return(api, patient):
    """return=minimal has no body; return=OperationOutcome answers with an outcome."""
    minimal = api.post("Patient", patient, HTTP_PREFER="return=minimal")
    assert minimal.status_code == 201 and minimal.content == b"" and minimal["Location"]
    outcome = api.post("Patient", patient, HTTP_PREFER="return=OperationOutcome")
    assert outcome.status_code == 201
    assert outcome.json()["resourceType"] == "OperationOutcome"


def test_it_rejects_malformed_json(api, tenant):
    """Malformed JSON is 400 and nothing is stored."""
    response = api.post("Patient", '{"resourceType": "Patient",')
    assert response.status_code == 400
    assert "JSON" in response.json()["issue"][0]["diagnostics"]
    assert _count(tenant) == (0, 0)


def test_it_rejects_a_resource_type_that_differs_from_the_url(api, tenant, patient):
    """A Patient posted to /Observation is 400 pointing at resourceType."""
    response = api.post("Observation", patient)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["resourceType"]
    assert _count(tenant) == (0, 0)


def test_it_lists_every_structural_problem(api, tenant):
    """An invalid resource is 400 with one issue per problem."""
    bad = {
        "resourceType": "Patient",
        "birthDate": "1980-13-45",
        "gender": 5,
        "name": [{"given": "not-a-list"}],
        "favouriteColour": "blue",
    }
    response = api.post("Patient", bad)
    assert response.status_code == 400
    expressions = {e for issue in response.json()["issue"] for e in issue.get("expression", [])}
    assert {"Patient.birthDate", "Patient.gender", "Patient.name[0].given", "Patient.favouriteColour"} <= expressions
    assert _count(tenant) == (0, 0)


def test_it_404s_an_unknown_type(api, tenant):
    """Creating an unserved type is 404."""
    assert api.post("Spaceship", {"resourceType": "Spaceship"}).status_code == 404


def test_it_creates_conditionally(api, tenant, patient):
    """If-None-Exist: no match creates, one match returns it (200), several give 412."""
    condition = "identifier=http://example.org/member|M-100"
    first = api.post("Patient", patient, HTTP_IF_NONE_EXIST=condition)
    assert first.status_code == 201
    again = api.post("Patient", patient, HTTP_IF_NONE_EXIST=condition)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    api.post("Patient", patient)
    assert api.post("Patient", patient, HTTP_IF_NONE_EXIST=condition).status_code == 412
    assert _count(tenant)[0] == 2
