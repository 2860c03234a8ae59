"""GET [base]/[type]/[id]/_history/[vid]: vread."""


def test_it_returns_each_version(api, patient):
    """Every version stays readable after updates."""
    api.put_resource(patient)
    api.put_resource({**patient, "gender": "male"})
    first = api.get("Patient/p1/_history/1")
    second = api.get("Patient/p1/_history/2")
    assert first.status_code == second.status_code == 200
    assert first.json()["gender"] == "female"
    assert second.json()["gender"] == "male"
    assert second["ETag"] == 'W/"2"'


def test_it_404s_an_unknown_version(api, patient):
    """A version that never existed is 404."""
    api.put_resource(patient)
    assert api.get("Patient/p1/_history/9").status_code == 404
    assert api.get("Patient/p1/_history/x").status_code == 404


def test_it_410s_the_deletion_version(api, patient):
    """The version recording a delete is 410; the earlier one still reads."""
    api.put_resource(patient)
    api.delete("Patient/p1")
    assert api.get("Patient/p1/_history/2").status_code == 410
    assert api.get("Patient/p1/_history/1").status_code == 200


def test_it_hides_another_tenants_versions(api, other_api, patient):
    """Another tenant's history is invisible."""
    other_api.put_resource(patient)
    assert api.get("Patient/p1/_history/1").status_code == 404
