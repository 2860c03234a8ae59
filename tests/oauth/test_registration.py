"""Dynamic Client Registration (RFC 7591) and management (RFC 7592) over mutual TLS."""

import base64
import json
from urllib.parse import urlencode

import pytest
from oauth2_provider.models import get_access_token_model, get_application_model

from tenants.context import tenant_scope
from tests.oauth.conftest import make_assertion, token_request

CC = {
    "grant_types": ["client_credentials"],
    "client_name": "Payer Two member match",
    "contacts": ["ops@payer-two.example"],
}


def _register(client, metadata, environ, slug="acme"):
    return client.post(f"/t/{slug}/oauth/register", json.dumps(metadata), content_type="application/json", **environ)


@pytest.mark.django_db
def test_it_registers_a_client_for_a_directory_certificate(client, tenant, participant, mtls):
    entry, der, _ = participant
    response = _register(client, {**CC, "software_statement": "eyJhbGciOiJub25lIn0.e30.sig"}, mtls(der))
    assert response.status_code == 201, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["client_secret"] and body["registration_access_token"]
    assert body["grant_types"] == ["client_credentials"]
    assert body["token_endpoint_auth_method"] == "client_secret_basic"
    assert body["contacts"] == ["ops@payer-two.example"]
    assert body["registration_client_uri"] == f"https://localhost:8443/t/acme/oauth/register/{body['client_id']}"
    with tenant_scope(tenant):
        app = get_application_model().objects.get(client_id=body["client_id"])
    assert app.directory_entry == entry
    assert app.software_statement == "eyJhbGciOiJub25lIn0.e30.sig"
    assert app.registration_source == "dcr"


@pytest.mark.django_db
def test_it_binds_tokens_to_the_registering_certificate(client, tenant, participant, mtls):
    from sandbox.trust.authority import thumbprint

    _, der, _ = participant
    body = _register(client, CC, mtls(der)).json()
    basic = "Basic " + base64.b64encode(f"{body['client_id']}:{body['client_secret']}".encode()).decode()
    token = token_request(
        client,
        "acme",
        {"grant_type": "client_credentials", "scope": "system/*.read"},
        HTTP_AUTHORIZATION=basic,
        **mtls(der),
    )
    assert token.status_code == 200, token.content
    with tenant_scope(tenant):
        stored = get_access_token_model().objects.get()
    assert stored.cnf_x5t_s256 == thumbprint(der)
    introspected = client.post(
        "/t/acme/oauth/introspect",
        urlencode({"token": token.json()["access_token"]}),
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=basic,
    ).json()
    assert introspected["cnf"] == {"x5t#S256": thumbprint(der)}


@pytest.mark.django_db
def test_it_registers_a_private_key_jwt_client_with_several_grant_types(
    client, tenant, participant, mtls, public_jwks, signing_keys
):
    _, der, _ = participant
    metadata = {
        "grant_types": ["client_credentials", "authorization_code", "refresh_token"],
        "redirect_uris": ["https://payer-two.example/callback"],
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": json.loads(public_jwks),
        "scope": "system/*.read system/Group.u",
    }
    response = _register(client, metadata, mtls(der))
    assert response.status_code == 201, response.content
    body = response.json()
    assert "client_secret" not in body
    with tenant_scope(tenant):
        app = get_application_model().objects.get(client_id=body["client_id"])
    assert app.allows_grant_type("client-credentials") and app.allows_grant_type("authorization-code")
    assertion = make_assertion(
        signing_keys["ES384"], "ES384", client_id=body["client_id"], aud="http://127.0.0.1:8000/t/acme/oauth/token"
    )
    token = token_request(
        client,
        "acme",
        {
            "grant_type": "client_credentials",
            "scope": "system/Group.u",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
    )
    assert token.status_code == 200 and token.json()["scope"] == "system/Group.u"


@pytest.mark.django_db
def test_it_authenticates_a_self_signed_tls_client_by_its_certificate(client, tenant, participant, mtls):
    _, der, _ = participant
    body = _register(client, {**CC, "token_endpoint_auth_method": "self_signed_tls_client_auth"}, mtls(der)).json()
    ok = token_request(
        client, "acme", {"grant_type": "client_credentials", "client_id": body["client_id"]}, **mtls(der)
    )
    assert ok.status_code == 200, ok.content
    without = token_request(client, "acme", {"grant_type": "client_credentials", "client_id": body["client_id"]})
    assert without.status_code == 401 and "connect to the mutual-TLS endpoint" in without.json()["error_description"]


@pytest.mark.django_db
def test_it_refuses_registration_without_a_certificate(client, tenant):
    response = _register(client, CC, {})
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "invalid_client" and "No client certificate was presented" in body["error_description"]
    assert not get_application_model().unscoped.exists()


@pytest.mark.django_db
def test_it_refuses_registration_with_a_revoked_certificate(client, tenant, participant, mtls):
    from sandbox.trust import certificates
    from sandbox.trust.models import Certificate

    entry, der, _ = participant
    certificates.revoke(Certificate.objects.get(entry=entry))
    response = _register(client, CC, mtls(der))
    assert response.status_code == 401 and "revoked" in response.json()["error_description"]


@pytest.mark.django_db
def test_it_refuses_a_certificate_unknown_to_the_directory(client, tenant, mtls):
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stranger")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    response = _register(client, CC, mtls(cert.public_bytes(serialization.Encoding.DER)))
    assert response.status_code == 401
    assert "does not belong to any entry of the endpoint directory" in response.json()["error_description"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "metadata, error, fragment",
    [
        ({}, "invalid_redirect_uri", "grant_types defaults to authorization_code"),
        ({"grant_types": ["password"]}, "invalid_client_metadata", "grant_types: 'password'"),
        ({**CC, "token_endpoint_auth_method": "none"}, "invalid_client_metadata", "token_endpoint_auth_method: 'none'"),
        ({**CC, "token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata", "needs jwks or jwks_uri"),
        ({**CC, "jwks": {"keys": [{"kty": "EC"}]}}, "invalid_client_metadata", "jwks.keys[0] needs kty and kid"),
        ({**CC, "jwks": {"keys": []}, "jwks_uri": "https://x.example/jwks"}, "invalid_client_metadata", "not both"),
        ({**CC, "scope": "system/everything"}, "invalid_client_metadata", "scope: 'system/everything'"),
        (
            {"grant_types": ["authorization_code"], "redirect_uris": ["/relative"]},
            "invalid_redirect_uri",
            "'/relative'",
        ),
        ({**CC, "contacts": "ops@example"}, "invalid_client_metadata", "contacts must be an array"),
        ({**CC, "software_statement": "not a jwt"}, "invalid_software_statement", "must be a JWT"),
        ([1, 2], "invalid_client_metadata", "JSON object"),
    ],
)
def test_it_explains_invalid_metadata_and_registers_nothing(
    client, tenant, participant, mtls, metadata, error, fragment
):
    _, der, _ = participant
    response = _register(client, metadata, mtls(der))
    assert response.status_code == 400, response.content
    assert response.json()["error"] == error
    assert fragment in response.json()["error_description"]
    assert not get_application_model().unscoped.exists()


@pytest.mark.django_db
def test_it_refuses_a_body_that_is_not_json(client, tenant, participant, mtls):
    _, der, _ = participant
    response = client.post(
        "/t/acme/oauth/register",
        "grant_types=client_credentials",
        content_type="application/x-www-form-urlencoded",
        **mtls(der),
    )
    assert response.status_code == 400 and "application/json" in response.json()["error_description"]


@pytest.mark.django_db
def test_it_reads_updates_and_deletes_a_registration(client, tenant, participant, mtls):
    _, der, _ = participant
    body = _register(client, CC, mtls(der)).json()
    uri = f"/t/acme/oauth/register/{body['client_id']}"
    auth = {"HTTP_AUTHORIZATION": f"Bearer {body['registration_access_token']}", **mtls(der)}

    read = client.get(uri, **auth)
    assert read.status_code == 200 and read.json()["client_name"] == "Payer Two member match"
    assert "client_secret" not in read.json()

    updated = client.put(
        uri,
        json.dumps({**CC, "client_id": body["client_id"], "client_name": "Renamed"}),
        content_type="application/json",
        **auth,
    )
    assert updated.status_code == 200 and updated.json()["client_name"] == "Renamed"

    assert client.delete(uri, **auth).status_code == 204
    basic = "Basic " + base64.b64encode(f"{body['client_id']}:{body['client_secret']}".encode()).decode()
    token = token_request(client, "acme", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=basic)
    assert token.status_code == 401
    assert client.get(uri, **auth).status_code == 401


@pytest.mark.django_db
def test_it_refuses_management_with_a_wrong_token_or_another_entrys_certificate(client, tenant, participant, mtls):
    from sandbox.trust import certificates

    _, der, _ = participant
    body = _register(client, CC, mtls(der)).json()
    uri = f"/t/acme/oauth/register/{body['client_id']}"
    wrong = client.get(uri, HTTP_AUTHORIZATION="Bearer nope", **mtls(der))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_token"

    _, other_cert, _ = certificates.register_participant("Payer Three")
    other = client.get(
        uri, HTTP_AUTHORIZATION=f"Bearer {body['registration_access_token']}", **mtls(bytes(other_cert.der))
    )
    assert other.status_code == 401


@pytest.mark.django_db
def test_it_keeps_a_registration_to_the_payer_it_was_made_at(client, tenant, other_tenant, participant, mtls):
    _, der, _ = participant
    body = _register(client, CC, mtls(der)).json()
    basic = "Basic " + base64.b64encode(f"{body['client_id']}:{body['client_secret']}".encode()).decode()
    at_beta = token_request(client, "beta", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=basic)
    assert at_beta.status_code == 401 and at_beta.json()["error"] == "invalid_client"
    manage = client.get(
        f"/t/beta/oauth/register/{body['client_id']}",
        HTTP_AUTHORIZATION=f"Bearer {body['registration_access_token']}",
        **mtls(der),
    )
    assert manage.status_code == 401


@pytest.mark.django_db
def test_it_authenticates_tls_client_auth_by_the_directory_entry_even_after_renewal(client, tenant, other_tenant, mtls):
    """RFC 8705 §2.1.1: PKI-based; a renewed certificate of the same entry still works, another entry's does not."""
    from sandbox.trust import certificates

    certificates.ensure_tenant_credentials(other_tenant)
    first, _ = certificates.issue_client_certificate(other_tenant)
    body = _register(client, {**CC, "token_endpoint_auth_method": "tls_client_auth"}, mtls(bytes(first.der))).json()
    request = {"grant_type": "client_credentials", "client_id": body["client_id"]}

    assert token_request(client, "acme", request, **mtls(bytes(first.der))).status_code == 200
    renewed, _ = certificates.issue_client_certificate(other_tenant)
    assert token_request(client, "acme", request, **mtls(bytes(renewed.der))).status_code == 200

    certificates.ensure_tenant_credentials(tenant)
    acme_cert, _ = certificates.issue_client_certificate(tenant)
    refused = token_request(client, "acme", request, **mtls(bytes(acme_cert.der)))
    assert refused.status_code == 401
    assert "does not belong to the directory entry" in refused.json()["error_description"]
