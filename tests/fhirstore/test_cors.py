"""CORS for browser apps: the CapabilityStatement says cors=true, so the API answers cross-origin calls."""


def test_it_answers_preflight_without_a_token(anonymous):
    """OPTIONS needs no token and names the methods and headers a client may use."""
    response = anonymous.client.options(
        "/t/acme/fhir/Patient/p1", HTTP_ORIGIN="https://app.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="PUT"
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "PUT" in response["Access-Control-Allow-Methods"]
    assert "Authorization" in response["Access-Control-Allow-Headers"]


def test_it_exposes_headers_on_responses_and_errors(api, anonymous, patient):
    """Successful and failed responses carry the CORS headers, with Location and ETag exposed."""
    created = api.post("Patient", patient, HTTP_ORIGIN="https://app.example")
    assert created["Access-Control-Allow-Origin"] == "*"
    assert "ETag" in created["Access-Control-Expose-Headers"]
    refused = anonymous.get("Patient", HTTP_ORIGIN="https://app.example")
    assert refused.status_code == 401
    assert refused["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in refused
