"""_history at instance, type and system level."""

from tests.fhirstore.test_search_paging import follow, link


def versions(bundle):
    return [(e["fullUrl"].split("/fhir/")[1], e["response"]["etag"]) for e in bundle.get("entry", [])]


def test_it_lists_instance_versions_newest_first(api, patient):
    """Each version with request method, ETag and lastModified; deletions without a resource."""
    api.put_resource(patient)
    api.put_resource({**patient, "gender": "male"})
    api.delete("Patient/p1")
    bundle = api.get("Patient/p1/_history").json()
    assert bundle["type"] == "history"
    assert versions(bundle) == [("Patient/p1", 'W/"3"'), ("Patient/p1", 'W/"2"'), ("Patient/p1", 'W/"1"')]
    assert [e["request"]["method"] for e in bundle["entry"]] == ["DELETE", "PUT", "POST"]
    assert "resource" not in bundle["entry"][0]
    assert bundle["entry"][1]["resource"]["gender"] == "male"


def test_it_lists_type_and_system_history(api, patient):
    """Type history holds only that type; system history holds all."""
    api.put_resource(patient)
    api.put_resource({"resourceType": "Encounter", "id": "e1", "status": "finished", "class": {"code": "AMB"}})
    assert [v[0] for v in versions(api.get("Encounter/_history").json())] == ["Encounter/e1"]
    assert [v[0] for v in versions(api.get("_history").json())] == ["Encounter/e1", "Patient/p1"]


def test_it_pages_and_filters_by_since(api, patient):
    """_count pages with next links; _since keeps later versions only."""
    for gender in ("female", "male", "other", "unknown"):
        api.put_resource({**patient, "gender": gender})
    first = api.get("Patient/p1/_history", {"_count": 3}).json()
    second = follow(api, link(first, "next")).json()
    assert [v[1] for v in versions(first) + versions(second)] == ['W/"4"', 'W/"3"', 'W/"2"', 'W/"1"']
    since = api.get("Patient/p1/_history/3").json()["meta"]["lastUpdated"]
    assert [v[1] for v in versions(api.get("Patient/p1/_history", {"_since": since}).json())] == ['W/"4"', 'W/"3"']
    assert api.get("Patient/p1/_history", {"_since": "soon"}).status_code == 400


def test_it_404s_unknown_instances(api):
    """History of an id that never existed is 404."""
    assert api.get("Patient/nope/_history").status_code == 404
