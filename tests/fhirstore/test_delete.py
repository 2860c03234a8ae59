"""DELETE [base]/[type]/[id]."""


def test_it_deletes_and_search_no_longer_finds_it(api, patient):
    """204, then read is 410 and search is empty; history records the deletion."""
    api.put_resource(patient)
    assert api.delete("Patient/p1").status_code == 204
    assert api.get("Patient/p1").status_code == 410
    assert api.get("Patient", {"identifier": "M-100"}).json()["total"] == 0
    history = api.get("Patient/p1/_history").json()
    assert [e["request"]["method"] for e in history["entry"]] == ["DELETE", "POST"]


def test_it_is_idempotent(api, patient):
    """Deleting a deleted resource is 204 again."""
    api.put_resource(patient)
    api.delete("Patient/p1")
    assert api.delete("Patient/p1").status_code == 204


def test_it_404s_an_unknown_id(api):
    """Deleting an id that never existed is 404."""
    assert api.delete("Patient/nope").status_code == 404


def test_it_can_recreate_after_delete(api, patient):
    """A PUT after a delete creates version 3."""
    api.put_resource(patient)
    api.delete("Patient/p1")
    response = api.put("Patient/p1", patient)
    assert response.status_code == 201
    assert response.json()["meta"]["versionId"] == "3"


def test_it_cannot_delete_another_tenants_resource(api, other_api, patient):
    """Another tenant's id is 404 and stays readable there."""
    other_api.put_resource(patient)
    assert api.delete("Patient/p1").status_code == 404
    assert other_api.get("Patient/p1").status_code == 200
