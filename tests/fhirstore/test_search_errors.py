"""Unknown parameters (lenient by default, strict on request) and other bad search input."""


def test_it_ignores_and_reports_unknown_parameters_by_default(api, patient):
    """Lenient: the search runs and an outcome entry names the parameter."""
    api.put_resource(patient)
    bundle = api.get("Patient", {"favourite-colour": "blue"}).json()
    assert bundle["total"] == 1
    outcome = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"][0]["resource"]
    assert outcome["issue"][0]["expression"] == ["favourite-colour"]


def test_it_rejects_unknown_parameters_when_strict(api):
    """Prefer: handling=strict makes an unknown parameter 400."""
    response = api.get("Patient", {"favourite-colour": "blue"}, HTTP_PREFER="handling=strict")
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["favourite-colour"]


def test_it_rejects_unsupported_modifiers_and_bad_counts(api):
    """An unsupported modifier or a non-numeric _count is 400."""
    assert api.get("Patient", {"name:below": "x"}).status_code == 400
    assert api.get("Patient", {"gender:in": "x"}).status_code == 400
    assert api.get("Patient", {"_count": "many"}).status_code == 400
    assert api.get("Patient", {"_count": "-1"}).status_code == 400


def test_it_404s_search_on_an_unknown_type(api):
    """Searching an unserved type is 404."""
    assert api.get("Spaceship", {"name": "x"}).status_code == 404
