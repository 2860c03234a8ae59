"""Content negotiation (406/415) and the body size limit (413)."""

import pytest

from sandbox.fhirstore.models import Resource
from tenants.context import tenant_scope


@pytest.mark.parametrize(
    "accept", ["application/fhir+json", "application/json", "*/*", "application/fhir+json; fhirVersion=4.0"]
)
def test_it_accepts_json_media_types(api, accept):
    """FHIR JSON, JSON and wildcards are acceptable."""
    assert api.get("Patient", HTTP_ACCEPT=accept).status_code == 200


@pytest.mark.parametrize("accept", ["application/fhir+xml", "text/html", "application/xml"])
def test_it_refuses_other_accept_headers(api, accept):
    """Anything else is 406 with an OperationOutcome."""
    response = api.get("Patient", HTTP_ACCEPT=accept)
    assert response.status_code == 406
    assert response.json()["resourceType"] == "OperationOutcome"


def test_it_checks_format(api):
    """_format=json is fine, _format=xml is 406."""
    assert api.get("Patient", {"_format": "json"}).status_code == 200
    assert api.get("Patient", {"_format": "xml"}).status_code == 406
    assert api.get("metadata", {"_format": "application/fhir+xml"}).status_code == 406


def test_it_refuses_other_body_media_types(api, tenant, patient):
    """A body in XML or as a form on create/update is 415 and nothing is stored."""
    assert api.post("Patient", "<Patient/>", content_type="application/fhir+xml").status_code == 415
    assert api.put("Patient/p1", "id=p1", content_type="application/x-www-form-urlencoded").status_code == 415
    with tenant_scope(tenant):
        assert not Resource.objects.exists()


def test_it_accepts_plain_json_bodies(api, patient):
    """application/json bodies are accepted like application/fhir+json."""
    assert api.post("Patient", patient, content_type="application/json").status_code == 201


def test_it_refuses_bodies_over_the_limit(api, tenant, patient, settings):
    """A body over FHIR_MAX_BODY_BYTES is 413 and nothing is stored."""
    settings.FHIR_MAX_BODY_BYTES = 1000
    big = {**patient, "name": [{"family": "x" * 2000}]}
    response = api.post("Patient", big)
    assert response.status_code == 413
    assert response.json()["resourceType"] == "OperationOutcome"
    assert api.put("Patient/p1", big).status_code == 413
    assert api.post("", {"resourceType": "Bundle", "type": "batch", "entry": [], "x": "y" * 2000}).status_code == 413
    with tenant_scope(tenant):
        assert not Resource.objects.exists()


def test_it_answers_405_for_unsupported_methods(api):
    """PATCH is not supported."""
    response = api.client.patch(
        "/t/acme/fhir/Patient/p1", "{}", content_type="application/json-patch+json", **api.headers
    )
    assert response.status_code == 405
    assert response.json()["resourceType"] == "OperationOutcome"
