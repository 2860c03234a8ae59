"""Reference search: Type/id, bare id, this server's absolute URL, :Type and :identifier."""

import pytest

from tests.fhirstore.test_search_token import ids


@pytest.fixture
def eobs(api, patient):
    api.put_resource(patient)
    for fid, ref in (
        ("e1", {"reference": "Patient/p1"}),
        ("e2", {"reference": "Patient/p2"}),
        ("e3", {"identifier": {"system": "http://example.org/member", "value": "M-100"}}),
    ):
        api.put_resource(
            {
                "resourceType": "ExplanationOfBenefit",
                "id": fid,
                "status": "active",
                "type": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "pharmacy"}]
                },
                "use": "claim",
                "patient": ref,
                "created": "2024-01-01",
                "insurer": {"reference": "Organization/o1"},
                "provider": {"reference": "http://elsewhere.example/fhir/Practitioner/x"},
                "outcome": "complete",
                "insurance": [{"focal": True, "coverage": {"reference": "Coverage/c1"}}],
            }
        )


def test_it_matches_type_and_id_forms(api, eobs):
    """Patient/p1, p1 and the absolute URL of this server all match."""
    assert ids(api.get("ExplanationOfBenefit", {"patient": "Patient/p1"})) == ["e1"]
    assert ids(api.get("ExplanationOfBenefit", {"patient": "p1"})) == ["e1"]
    absolute = "http://testserver/t/acme/fhir/Patient/p1"
    from django.test import override_settings

    with override_settings(SANDBOX_PUBLIC_URL="http://testserver"):
        assert ids(api.get("ExplanationOfBenefit", {"patient": absolute})) == ["e1"]
    assert ids(api.get("ExplanationOfBenefit", {"patient": "Patient/p1,Patient/p2"})) == ["e1", "e2"]


def test_it_matches_foreign_absolute_urls_as_given(api, eobs):
    """A reference to another server matches only its full URL."""
    url = "http://elsewhere.example/fhir/Practitioner/x"
    assert ids(api.get("ExplanationOfBenefit", {"provider": url})) == ["e1", "e2", "e3"]
    assert ids(api.get("ExplanationOfBenefit", {"provider": "Practitioner/x"})) == []


def test_it_supports_type_and_identifier_modifiers(api, eobs):
    """:Organization restricts the type; :identifier matches Reference.identifier."""
    assert ids(api.get("ExplanationOfBenefit", {"insurer:Organization": "o1"})) == ["e1", "e2", "e3"]
    assert ids(api.get("ExplanationOfBenefit", {"patient:identifier": "http://example.org/member|M-100"})) == ["e3"]


def test_it_rejects_an_unknown_type_modifier(api, eobs):
    """patient:Spaceship=1 is 400."""
    assert api.get("ExplanationOfBenefit", {"patient:Spaceship": "1"}).status_code == 400
