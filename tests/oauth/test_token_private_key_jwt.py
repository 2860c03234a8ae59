"""SMART Backend Services client authentication (private_key_jwt), every check with its own error."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from tests.oauth.conftest import make_assertion, token_request

AUD = "http://127.0.0.1:8000/t/acme/oauth/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture
def jwt_client(tenant, make_client, public_jwks):
    return make_client(tenant, method="private_key_jwt", client_jwks=public_jwks)


def _request(client, assertion, slug="acme", **extra):
    data = {
        "grant_type": "client_credentials",
        "scope": "system/*.read",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
        **extra,
    }
    return token_request(client, slug, data)


@pytest.mark.django_db
@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_it_issues_a_token_for_a_signed_assertion(client, jwt_client, signing_keys, alg):
    assertion = make_assertion(signing_keys[alg], alg, client_id=jwt_client.client_id, aud=AUD)
    response = _request(client, assertion)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["scope"] == "system/*.read" and body["expires_in"] == 300


@pytest.mark.django_db
def test_it_accepts_the_url_the_request_really_came_to_as_aud(client, jwt_client, signing_keys):
    assertion = make_assertion(
        signing_keys["ES384"], "ES384", client_id=jwt_client.client_id, aud="http://testserver/t/acme/oauth/token"
    )
    assert _request(client, assertion).status_code == 200


def _refused(response, fragment):
    assert response.status_code == 401, response.content
    body = response.json()
    assert body["error"] == "invalid_client"
    assert fragment in body["error_description"], body["error_description"]


@pytest.mark.django_db
def test_it_refuses_a_replayed_assertion(client, jwt_client, signing_keys):
    assertion = make_assertion(signing_keys["RS384"], "RS384", client_id=jwt_client.client_id, aud=AUD, jti="once")
    assert _request(client, assertion).status_code == 200
    _refused(_request(client, assertion), "jti 'once' has been used before")


@pytest.mark.django_db
def test_it_refuses_a_wrong_audience(client, jwt_client, signing_keys):
    assertion = make_assertion(
        signing_keys["RS384"], "RS384", client_id=jwt_client.client_id, aud="https://elsewhere.example/token"
    )
    _refused(_request(client, assertion), "is not this token endpoint")


@pytest.mark.django_db
def test_it_refuses_an_expired_assertion(client, jwt_client, signing_keys):
    assertion = make_assertion(signing_keys["RS384"], "RS384", client_id=jwt_client.client_id, aud=AUD, exp_in=-600)
    _refused(_request(client, assertion), "expired")


@pytest.mark.django_db
def test_it_refuses_an_assertion_valid_for_more_than_five_minutes(client, jwt_client, signing_keys):
    assertion = make_assertion(signing_keys["RS384"], "RS384", client_id=jwt_client.client_id, aud=AUD, exp_in=3600)
    _refused(_request(client, assertion), "at most 300")


@pytest.mark.django_db
def test_it_refuses_an_unknown_kid(client, jwt_client, signing_keys):
    assertion = make_assertion(signing_keys["RS384"], "RS384", client_id=jwt_client.client_id, aud=AUD, kid="nope")
    _refused(_request(client, assertion), "No RSA key with kid 'nope'")


@pytest.mark.django_db
def test_it_refuses_a_signature_by_another_key(client, jwt_client):
    from jwcrypto import jwk

    stranger = jwk.JWK.generate(kty="EC", crv="P-384", kid="ec-1")  # same kid, other key
    assertion = make_assertion(stranger, "ES384", client_id=jwt_client.client_id, aud=AUD)
    _refused(_request(client, assertion), "signature does not verify")


@pytest.mark.django_db
def test_it_refuses_an_algorithm_smart_does_not_allow(client, jwt_client):
    from jwcrypto import jwk

    key = jwk.JWK.generate(kty="RSA", size=2048, kid="rsa-1")
    assertion = make_assertion(key, "RS256", client_id=jwt_client.client_id, aud=AUD)
    _refused(_request(client, assertion), "accepts RS384 and ES384")


@pytest.mark.django_db
def test_it_refuses_iss_different_from_sub(client, jwt_client, signing_keys):
    assertion = make_assertion(signing_keys["RS384"], "RS384", client_id=jwt_client.client_id, aud=AUD, sub="someone")
    _refused(_request(client, assertion), "iss and sub must both be the client_id")


@pytest.mark.django_db
def test_it_refuses_a_missing_jti(client, jwt_client, signing_keys):
    assertion = make_assertion(signing_keys["RS384"], "RS384", client_id=jwt_client.client_id, aud=AUD, jti=None)
    _refused(_request(client, assertion), "no jti")


@pytest.mark.django_db
def test_it_refuses_a_wrong_assertion_type(client, jwt_client, signing_keys):
    assertion = make_assertion(signing_keys["RS384"], "RS384", client_id=jwt_client.client_id, aud=AUD)
    _refused(
        _request(client, assertion, client_assertion_type="not_an_assertion_type"), "client_assertion_type must be"
    )


@pytest.mark.django_db
def test_it_refuses_garbage(client, jwt_client):
    _refused(_request(client, "not-a-jwt"), "not a signed JWT")


@pytest.mark.django_db
def test_it_refuses_another_tenants_client(client, jwt_client, other_tenant, signing_keys):
    assertion = make_assertion(
        signing_keys["RS384"], "RS384", client_id=jwt_client.client_id, aud="http://127.0.0.1:8000/t/beta/oauth/token"
    )
    _refused(_request(client, assertion, slug="beta"), f"No client '{jwt_client.client_id}'")


@pytest.mark.django_db
def test_it_refuses_an_assertion_from_a_secret_client(client, tenant, make_client, signing_keys):
    app = make_client(tenant)
    assertion = make_assertion(signing_keys["RS384"], "RS384", client_id=app.client_id, aud=AUD)
    _refused(_request(client, assertion), "registered for client_secret_basic")


class _JwksHandler(BaseHTTPRequestHandler):
    body = b"{}"
    hits = 0

    def do_GET(self):  # noqa: N802 (http.server's naming)
        type(self).hits += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "max-age=60")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def jwks_server(public_jwks):
    handler = type("Handler", (_JwksHandler,), {"body": public_jwks.encode(), "hits": 0})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/jwks.json", handler
    server.shutdown()


@pytest.mark.django_db
def test_it_verifies_with_keys_fetched_from_the_jwks_uri_and_honours_jku(
    client, tenant, make_client, signing_keys, jwks_server
):
    url, handler = jwks_server
    app = make_client(tenant, method="private_key_jwt", client_jwks_uri=url)
    first = make_assertion(signing_keys["ES384"], "ES384", client_id=app.client_id, aud=AUD, jku=url)
    assert _request(client, first).status_code == 200
    second = make_assertion(signing_keys["RS384"], "RS384", client_id=app.client_id, aud=AUD)
    assert _request(client, second).status_code == 200
    assert handler.hits == 1  # cached within its Cache-Control max-age

    forged = make_assertion(
        signing_keys["RS384"], "RS384", client_id=app.client_id, aud=AUD, jku="http://evil.example/jwks"
    )
    _refused(_request(client, forged), "is not the jwks_uri registered")


def test_it_signs_assertions_that_expire_in_the_future():
    """Guard for the helper above: a default assertion is valid for four minutes."""
    from jwcrypto import jwk, jwt

    key = jwk.JWK.generate(kty="EC", crv="P-384", kid="k")
    claims = json.loads(jwt.JWT(jwt=make_assertion(key, "ES384", client_id="c", aud="a"), key=key).claims)
    assert 200 < claims["exp"] - time.time() <= 240


@pytest.mark.django_db
def test_it_does_not_fetch_a_jwks_uri_on_a_link_local_address(client, tenant, make_client, signing_keys):
    """A registered jwks_uri cannot make the server reach a cloud metadata service."""
    url = "http://169.254.169.254/latest/meta-data/jwks.json"
    app = make_client(tenant, method="private_key_jwt", client_jwks_uri=url)
    assertion = make_assertion(signing_keys["RS384"], "RS384", client_id=app.client_id, aud=AUD)
    _refused(_request(client, assertion), "which this server will not fetch")
