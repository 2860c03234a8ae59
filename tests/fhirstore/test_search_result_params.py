"""_sort, _total, _summary, _elements."""

from tests.fhirstore.test_search_paging import make_patients, page_ids


def test_it_sorts_by_parameters_and_last_updated(api):
    """_sort on a string parameter and on _lastUpdated, ascending and descending."""
    make_patients(api, 4)
    by_family = page_ids(api.get("Patient", {"_sort": "family,_id"}).json())
    assert by_family == ["p00", "p03", "p01", "p02"]
    assert page_ids(api.get("Patient", {"_sort": "-_lastUpdated"}).json()) == ["p03", "p02", "p01", "p00"]
    assert api.get("Patient", {"_sort": "nonsense"}).status_code == 400


def test_it_counts_with_summary_count(api):
    """_summary=count returns only the total."""
    make_patients(api, 3)
    bundle = api.get("Patient", {"_summary": "count"}).json()
    assert bundle["total"] == 3
    assert "entry" not in bundle


def test_it_leaves_out_the_total_when_asked(api):
    """_total=none omits Bundle.total; bad values are 400."""
    make_patients(api, 2)
    assert "total" not in api.get("Patient", {"_total": "none"}).json()
    assert api.get("Patient", {"_total": "lots"}).status_code == 400


def test_it_subsets_with_elements_and_summary(api, patient):
    """_elements keeps the named elements and marks the result SUBSETTED; _summary=true keeps summary ones."""
    api.put_resource({**patient, "maritalStatus": {"text": "single"}})
    resource = api.get("Patient", {"_elements": "gender"}).json()["entry"][0]["resource"]
    assert set(resource) == {"resourceType", "id", "meta", "gender"}
    assert resource["meta"]["tag"][-1]["code"] == "SUBSETTED"
    summary = api.get("Patient", {"_summary": "true"}).json()["entry"][0]["resource"]
    assert "name" in summary and "maritalStatus" not in summary
    assert api.get("Patient", {"_summary": "everything"}).status_code == 400
