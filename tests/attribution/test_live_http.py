"""
A provider's whole round trip against a running server over real HTTP: SMART Backend Services
token (private_key_jwt, authlib), list discovery, $member-add, $davinci-data-export, status, files.
"""

import json
import time

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from joserfc.jwk import RSAKey

from sandbox.attribution.models import ProviderClient
from tenants.context import tenant_scope
from tests.attribution.conftest import NPI, NPI_A, application
from tests.oauth.test_authlib_client import SmartPrivateKeyJWT

pytestmark = pytest.mark.integration
FHIR = "application/fhir+json"


@pytest.mark.django_db(transaction=True)
def test_a_provider_client_reconciles_and_downloads_over_http(live_server, settings, data, signing_keys, public_jwks):
    settings.SANDBOX_PUBLIC_URL = live_server.url
    app = application(
        data,
        token_endpoint_auth_method="private_key_jwt",
        client_jwks=public_jwks,
        allowed_scope="system/*.rs system/Group.u",
    )
    with tenant_scope(data):
        ProviderClient.objects.create(application=app, organization_npi=NPI_A)

    base = f"{live_server.url}/t/acme/fhir"
    token_url = httpx.get(f"{base}/.well-known/smart-configuration").json()["token_endpoint"]
    private_key = RSAKey.import_key(json.loads(signing_keys["RS384"].export_private()))
    with OAuth2Client(
        client_id=app.client_id,
        client_secret=private_key,
        token_endpoint_auth_method=SmartPrivateKeyJWT(token_url, headers={"kid": "rsa-1"}, alg="RS384"),
    ) as client:
        client.fetch_token(token_url, grant_type="client_credentials", scope="system/*.rs system/Group.u")
        headers = {"Accept": FHIR}

        found = client.get(f"{base}/Group", params={"identifier": f"{NPI}|{NPI_A}"}, headers=headers).json()
        assert sorted(e["resource"]["id"] for e in found["entry"]) == ["atr-a", "atr-a-final"]
        assert client.get(f"{base}/Group/atr-b", headers=headers).status_code == 404

        body = {
            "resourceType": "Parameters",
            "parameter": [{"name": "patientReference", "valueReference": {"reference": "Patient/p5"}}],
        }
        added = client.post(f"{base}/Group/atr-a/$member-add", json=body, headers={**headers, "Content-Type": FHIR})
        assert added.status_code == 200, added.text

        body = {
            "resourceType": "Parameters",
            "parameter": [{"name": "exportType", "valueCanonical": "hl7.fhir.us.davinci-pdex#provider-download"}],
        }
        kickoff = client.post(
            f"{base}/Group/atr-a/$davinci-data-export",
            json=body,
            headers={**headers, "Content-Type": FHIR, "Prefer": "respond-async"},
        )
        assert kickoff.status_code == 202, kickoff.text
        status_url = kickoff.headers["Content-Location"]
        assert status_url.startswith(live_server.url)
        deadline = time.monotonic() + 60
        while (status := client.get(status_url)).status_code == 202 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert status.status_code == 200, status.text
        patients = []
        for item in status.json()["output"]:
            lines = client.get(item["url"]).text.splitlines()
            if item["type"] == "Patient":
                patients += [json.loads(line)["id"] for line in lines]
    assert sorted(patients) == ["p1", "p2", "p5"]  # p3 opted out, p4 is another provider's
