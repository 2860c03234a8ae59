"""POST [base]/[type]/_search with a form body."""

from tests.fhirstore.test_search_token import ids


def test_it_searches_with_form_parameters(api, patient):
    """The form body holds the parameters; the result equals GET."""
    api.put_resource(patient)
    response = api.post("Patient/_search", "family=nun&gender=female", content_type="application/x-www-form-urlencoded")
    assert ids(response) == ["p1"]
    assert ids(api.get("Patient", {"family": "nun", "gender": "female"})) == ["p1"]


def test_it_combines_url_and_body_parameters(api, patient):
    """Parameters in the URL and in the body are ANDed."""
    api.put_resource(patient)
    response = api.post("Patient/_search?gender=male", "family=nun", content_type="application/x-www-form-urlencoded")
    assert ids(response) == []


def test_it_refuses_other_media_types(api):
    """A text/plain body is 415."""
    assert api.post("Patient/_search", "family=x", content_type="text/plain").status_code == 415
