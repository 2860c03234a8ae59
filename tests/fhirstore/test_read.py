"""GET [base]/[type]/[id]: read."""


def test_it_returns_the_resource_as_stored_with_etag_and_last_modified(api, patient):
    """The body is the stored JSON; ETag and Last-Modified come from the version."""
    api.put_resource(patient)
    response = api.get("Patient/p1")
    assert response.status_code == 200
    body = response.json()
    assert body["meta"]["versionId"] == "1"
    assert body["name"] == patient["name"]
    assert response["ETag"] == 'W/"1"'
    assert response["Last-Modified"].endswith("GMT")


def test_it_answers_304_when_the_etag_matches(api, patient):
    """If-None-Match with the current ETag gives 304."""
    api.put_resource(patient)
    assert api.get("Patient/p1", HTTP_IF_NONE_MATCH='W/"1"').status_code == 304


def test_it_404s_an_unknown_id(api):
    """Unknown ids give 404 with an OperationOutcome."""
    response = api.get("Patient/nope")
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"
    assert response.json()["issue"][0]["code"] == "not-found"


def test_it_404s_an_unknown_type(api):
    """Types this server does not serve give 404."""
    response = api.get("Spaceship/1")
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"
    assert "Spaceship" in response.json()["issue"][0]["diagnostics"]


def test_it_410s_a_deleted_resource(api, patient):
    """A deleted resource reads as 410 Gone."""
    api.put_resource(patient)
    assert api.delete("Patient/p1").status_code == 204
    response = api.get("Patient/p1")
    assert response.status_code == 410
    assert response.json()["issue"][0]["code"] == "deleted"


def test_it_hides_another_tenants_resource(api, other_api, patient):
    """The same id in another tenant is 404 here."""
    other_api.put_resource(patient)
    assert api.get("Patient/p1").status_code == 404


def test_it_subsets_with_summary_and_elements(api, patient):
    """_elements and _summary work on read and mark the result SUBSETTED; bad _summary is 400."""
    api.put_resource({**patient, "maritalStatus": {"text": "single"}})
    subset = api.get("Patient/p1", {"_elements": "gender"}).json()
    assert set(subset) == {"resourceType", "id", "meta", "gender"}
    assert subset["meta"]["tag"][-1]["code"] == "SUBSETTED"
    summary = api.get("Patient/p1", {"_summary": "true"}).json()
    assert "name" in summary and "maritalStatus" not in summary
    assert api.get("Patient/p1", {"_summary": "count"}).status_code == 400
