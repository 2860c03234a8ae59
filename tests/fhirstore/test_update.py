"""PUT [base]/[type]/[id]: update, create with a client id, If-Match."""


def test_it_creates_at_a_client_id_then_updates(api, patient):
    """The first PUT is 201 version 1; the next is 200 version 2."""
    created = api.put("Patient/p1", patient)
    assert created.status_code == 201
    assert created.json()["meta"]["versionId"] == "1"
    updated = api.put("Patient/p1", {**patient, "gender": "male"})
    assert updated.status_code == 200
    assert updated.json()["meta"]["versionId"] == "2"
    assert updated["ETag"] == 'W/"2"'
    assert updated.json()["meta"]["lastUpdated"] > created.json()["meta"]["lastUpdated"]


def test_it_keeps_client_meta_but_sets_version_and_last_updated(api, patient):
    """Profiles stay; versionId and lastUpdated are the server's."""
    profile = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"
    body = {**patient, "meta": {"versionId": "77", "lastUpdated": "2001-01-01T00:00:00Z", "profile": [profile]}}
    stored = api.put("Patient/p1", body).json()
    assert stored["meta"]["profile"] == [profile]
    assert stored["meta"]["versionId"] == "1"
    assert stored["meta"]["lastUpdated"] != "2001-01-01T00:00:00Z"


def test_it_rejects_a_body_id_that_differs_from_the_url(api, patient):
    """id mismatch is 400 pointing at Patient.id, and nothing is stored."""
    response = api.put("Patient/other", patient)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["Patient.id"]
    assert api.get("Patient/other").status_code == 404


def test_it_checks_if_match(api, patient):
    """A stale If-Match is 412; the current one updates."""
    api.put_resource(patient)
    api.put_resource(patient)
    stale = api.put("Patient/p1", patient, HTTP_IF_MATCH='W/"1"')
    assert stale.status_code == 412
    assert stale.json()["resourceType"] == "OperationOutcome"
    fresh = api.put("Patient/p1", patient, HTTP_IF_MATCH='W/"2"')
    assert fresh.status_code == 200
    assert fresh.json()["meta"]["versionId"] == "3"


def test_it_rejects_an_invalid_update_and_keeps_the_old_version(api, patient):
    """A structurally invalid update is 400; the stored version is unchanged."""
    api.put_resource(patient)
    response = api.put("Patient/p1", {**patient, "birthDate": "yesterday"})
    assert response.status_code == 400
    assert api.get("Patient/p1").json()["meta"]["versionId"] == "1"


def test_it_does_not_touch_another_tenants_resource(api, other_api, patient):
    """A PUT to an id used by another tenant creates a separate resource here."""
    other_api.put_resource(patient)
    assert api.put("Patient/p1", {**patient, "gender": "male"}).status_code == 201
    assert other_api.get("Patient/p1").json()["gender"] == "female"
