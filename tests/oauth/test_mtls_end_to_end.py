"""
Payer-to-payer onboarding with plain httpx over real mutual TLS: register by DCR with a
directory certificate, get a certificate-bound token, read a Patient; and every way of
getting it wrong. The listener is a real gunicorn TLS process (tests/trust/listener.py).
"""

import base64

import pytest

from tests.trust.listener import Listener

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def listener():
    running = Listener().start()
    try:
        running.call("create_payer", "acme", "Acme Health")
        running.participant = running.call("register_participant", "Payer Two")
        running.patient = running.call(
            "create_resource", "acme", {"resourceType": "Patient", "name": [{"family": "Mutual"}]}
        )["id"]
        yield running
    finally:
        running.stop()


def _register(client):
    return client.post(
        "/t/acme/oauth/register",
        json={"grant_types": ["client_credentials"], "client_name": "Payer Two", "scope": "system/*.read"},
    )


def test_it_registers_issues_a_bound_token_and_serves_a_patient(listener):
    with listener.client(listener.participant) as mtls:
        registered = _register(mtls)
        assert registered.status_code == 201, registered.text
        body = registered.json()
        basic = base64.b64encode(f"{body['client_id']}:{body['client_secret']}".encode()).decode()
        token = mtls.post(
            "/t/acme/oauth/token",
            data={"grant_type": "client_credentials", "scope": "system/*.read"},
            headers={"Authorization": f"Basic {basic}"},
        )
        assert token.status_code == 200, token.text
        access = token.json()["access_token"]

        patient = mtls.get(f"/t/acme/fhir/Patient/{listener.patient}", headers={"Authorization": f"Bearer {access}"})
        assert patient.status_code == 200, patient.text
        assert patient.json()["name"][0]["family"] == "Mutual"

        introspected = mtls.post(
            "/t/acme/oauth/introspect", data={"token": access}, headers={"Authorization": f"Basic {basic}"}
        ).json()
        assert introspected["cnf"]["x5t#S256"] == listener.participant["thumbprint"]

    # The same token over a connection without the certificate is refused (RFC 8705 binding).
    with listener.client() as plain:
        refused = plain.get(f"/t/acme/fhir/Patient/{listener.patient}", headers={"Authorization": f"Bearer {access}"})
    assert refused.status_code == 401
    assert "bound to a client certificate" in refused.json()["issue"][0]["diagnostics"]


def test_it_refuses_registration_without_a_certificate(listener):
    with listener.client() as plain:
        response = _register(plain)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "No client certificate was presented" in response.json()["error_description"]


def test_it_refuses_registration_with_a_revoked_certificate(listener):
    revoked = listener.call("register_participant", "Payer Revoked")
    listener.call("revoke", revoked["thumbprint"])
    with listener.client(revoked) as mtls:
        response = _register(mtls)
    assert response.status_code == 401 and "revoked" in response.json()["error_description"]
