import json
import time
import uuid
from urllib.parse import urlencode

import pytest
from jwcrypto import jwk, jwt
from oauth2_provider.models import get_application_model

from tenants.context import tenant_scope

SECRET = "s3cret-for-tests-only"


@pytest.fixture
def make_client():
    """make_client(tenant, method=..., **fields) -> Application (its secret is SECRET)."""

    def make(tenant, method="client_secret_basic", allowed_scope="system/*.read system/*.rs", **fields):
        with tenant_scope(tenant):
            return get_application_model().objects.create(
                name=fields.pop("name", f"{method} client"),
                client_type="confidential",
                authorization_grant_type=fields.pop("authorization_grant_type", "client-credentials"),
                client_secret=SECRET,
                token_endpoint_auth_method=method,
                allowed_scope=allowed_scope,
                **fields,
            )

    return make


@pytest.fixture(scope="session")
def signing_keys():
    """An RS384 and an ES384 key pair, made for this run (never committed)."""
    rsa = jwk.JWK.generate(kty="RSA", size=2048, kid="rsa-1", alg="RS384", use="sig")
    ec = jwk.JWK.generate(kty="EC", crv="P-384", kid="ec-1", alg="ES384", use="sig")
    return {"RS384": rsa, "ES384": ec}


@pytest.fixture
def public_jwks(signing_keys):
    keys = [json.loads(k.export_public()) for k in signing_keys.values()]
    return json.dumps({"keys": keys})


def make_assertion(key, alg, *, client_id, aud, exp_in=240, **overrides):
    """A signed client assertion; an override of None removes that claim or header field."""
    claims = {"iss": client_id, "sub": client_id, "aud": aud, "exp": int(time.time()) + exp_in, "jti": uuid.uuid4().hex}
    header = {"alg": alg, "kid": key.get("kid"), "typ": "JWT"}
    for name, value in overrides.items():
        target = header if name in ("kid", "jku") else claims
        if value is None:
            target.pop(name, None)
        else:
            target[name] = value
    token = jwt.JWT(header=header, claims=claims)
    token.make_signed_token(key)
    return token.serialize()


def token_request(client, slug, data, **headers):
    return client.post(
        f"/t/{slug}/oauth/token", urlencode(data), content_type="application/x-www-form-urlencoded", **headers
    )


class _FakeTLSSocket:
    """Stands in for gunicorn's ssl.SSLSocket in environ["gunicorn.socket"] (the
    ClientCertMiddleware reads the peer certificate from it). Real handshakes are covered by
    tests/oauth/test_mtls_end_to_end.py."""

    def __init__(self, der):
        self.der = der

    def getpeercert(self, binary_form=False):
        return self.der


@pytest.fixture
def participant():
    """An outside participant in the directory: (entry, certificate DER, private key)."""
    from sandbox.trust import certificates

    entry, cert, key = certificates.register_participant("Payer Two", endpoint_url="https://payer-two.example/fhir")
    return entry, bytes(cert.der), key


@pytest.fixture
def mtls():
    """mtls(der) -> test-client environ for a connection presenting that certificate."""
    return lambda der: {"gunicorn.socket": _FakeTLSSocket(der)}
