"""SMART Backend Services driven by a real client library (authlib) against a running server."""

import json

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oauth2.rfc7523.assertion import private_key_jwt_sign
from joserfc.jwk import ECKey, RSAKey

from sandbox.fhirstore import store
from tenants.context import tenant_scope

pytestmark = pytest.mark.integration


class SmartPrivateKeyJWT(PrivateKeyJWT):
    """authlib's PrivateKeyJWT as a SMART Backend Services client must configure it.

    authlib's default assertion lives 3,600 s (SMART allows 300, and the server refuses it,
    as it should), and a `claims=` dict passed to PrivateKeyJWT is mutated with the first
    jti and then reused (a replay). So: fresh claims per request, exp five minutes out.
    """

    def sign(self, auth, token_endpoint):
        return private_key_jwt_sign(
            auth.client_secret,
            client_id=auth.client_id,
            token_endpoint=token_endpoint,
            header=self.headers,
            alg=self.alg,
            expires_in=300,
        )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("alg, kid", [("RS384", "rsa-1"), ("ES384", "ec-1")])
def test_it_serves_a_patient_to_an_authlib_private_key_jwt_client(
    live_server, settings, tenant, make_client, public_jwks, signing_keys, alg, kid
):
    settings.SANDBOX_PUBLIC_URL = live_server.url
    app = make_client(tenant, method="private_key_jwt", client_jwks=public_jwks, allowed_scope="system/*.rs")
    with tenant_scope(tenant):
        patient, _ = store.create("Patient", {"resourceType": "Patient", "name": [{"family": "Authlib"}]})

    discovery = httpx.get(f"{live_server.url}/t/acme/fhir/.well-known/smart-configuration").json()
    token_url = discovery["token_endpoint"]
    assert alg in discovery["token_endpoint_auth_signing_alg_values_supported"]

    key_class = RSAKey if alg == "RS384" else ECKey
    private_key = key_class.import_key(json.loads(signing_keys[alg].export_private()))
    with OAuth2Client(
        client_id=app.client_id,
        client_secret=private_key,
        token_endpoint_auth_method=SmartPrivateKeyJWT(token_url, headers={"kid": kid}, alg=alg),
    ) as client:
        token = client.fetch_token(token_url, grant_type="client_credentials", scope="system/*.rs")
        assert token["token_type"].lower() == "bearer" and token["scope"] == "system/*.rs"
        # A second token needs a new assertion (new jti): the replay cache must not refuse it.
        assert client.fetch_token(token_url, grant_type="client_credentials", scope="system/*.rs")["access_token"]
        response = client.get(f"{discovery['token_endpoint'].rsplit('/oauth/', 1)[0]}/fhir/Patient/{patient.fhir_id}")
    assert response.status_code == 200, response.text
    assert response.json()["name"][0]["family"] == "Authlib"
