"""The management API: the command-line operations over HTTP, for members only."""

import pytest
from cryptography import x509
from rest_framework.authtoken.models import Token

from tenants.models import Tenant
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, user):
    """The test client speaking as alice with her API token."""
    token = Token.objects.create(user=user)
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {token.key}"
    return client


def test_it_refuses_anonymous_callers_with_a_challenge(client):
    response = client.get("/api/v1/payers/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Token")


def test_it_creates_a_payer_through_its_creation_job(api, user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/payers/",
            {"name": "Api Health", "pdex_version": "2.1", "members": 4, "seed": 3},
            content_type="application/json",
        )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["slug"] == "api-health" and body["fhir_base_url"].endswith("/t/api-health/fhir")
    detail = api.get("/api/v1/payers/api-health/").json()
    assert detail["status"] == "ready" and detail["job"]["status"] == "succeeded"
    assert Tenant.objects.get(slug="api-health").memberships.get().user == user


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"name": "X", "slug": "Bad Slug"}, "slug", "lowercase"),
        ({"name": "X", "slug": "acme"}, "slug", "already"),
        ({"name": "X", "members": 2}, "members", "greater than or equal to 4"),
        ({"name": "X", "pdex_version": "9.9"}, "pdex_version", "not a valid choice"),
        ({}, "name", "required"),
    ],
)
def test_it_explains_bad_input_and_creates_nothing(api, tenant, data, field, message):
    before = Tenant.objects.count()
    response = api.post("/api/v1/payers/", data, content_type="application/json")
    assert response.status_code == 400
    assert message in " ".join(response.json()[field])
    assert Tenant.objects.count() == before


def test_it_lists_and_shows_only_the_callers_payers(api, tenant, other_tenant):
    assert [p["slug"] for p in api.get("/api/v1/payers/").json()] == ["acme"]
    assert api.get("/api/v1/payers/beta/").status_code == 404
    assert (
        api.post("/api/v1/payers/beta/tokens/", {"scope": "system/*.read"}, content_type="application/json").status_code
        == 404
    )
    assert api.delete("/api/v1/payers/beta/").status_code == 404
    assert Tenant.objects.filter(slug="beta").exists()


def test_it_mints_a_token_that_reads_fhir(api, client, tenant):
    response = api.post("/api/v1/payers/acme/tokens/", {"scope": "system/Patient.rs"}, content_type="application/json")
    assert response.status_code == 201
    token = response.json()["access_token"]
    assert client.get("/t/acme/fhir/Patient", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    bad = api.post("/api/v1/payers/acme/tokens/", {"scope": "everything"}, content_type="application/json")
    assert bad.status_code == 400 and "not a SMART scope" in bad.json()["scope"][0]


def test_it_lets_only_owners_delete(api, client, tenant):
    bob = UserFactory(username="bob")
    MembershipFactory(tenant=tenant, user=bob, role="member")
    bob_token = Token.objects.create(user=bob)
    refused = client.delete("/api/v1/payers/acme/", HTTP_AUTHORIZATION=f"Token {bob_token.key}")
    assert refused.status_code == 403
    assert api.delete("/api/v1/payers/acme/").status_code == 204
    assert not Tenant.objects.filter(slug="acme").exists()


def test_it_registers_a_participant_with_a_usable_certificate(api):
    response = api.post(
        "/api/v1/participants/",
        {"name": "Payer Nine", "endpoint": "https://nine.example/fhir"},
        content_type="application/json",
    )
    assert response.status_code == 201
    body = response.json()
    cert = x509.load_pem_x509_certificate(body["certificate_pem"].encode())
    assert "Payer Nine" in cert.subject.rfc4514_string()
    assert body["private_key_pem"].startswith("-----BEGIN PRIVATE KEY-----")
    bad = api.post("/api/v1/participants/", {"name": "X", "csr": "not a csr"}, content_type="application/json")
    assert bad.status_code == 400 and "certificate signing request" in bad.json()["csr"][0]


def test_it_queues_an_exchange_and_reports_it(api, tenant, other_tenant, django_capture_on_commit_callbacks):
    from sandbox.trust import certificates

    certificates.ensure_tenant_credentials(other_tenant)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = api.post(
            "/api/v1/payers/acme/exchanges/",
            {"target": "beta", "member": "pat-000001"},
            content_type="application/json",
        )
    assert response.status_code == 202 and len(queued) == 1
    run = response.json()
    assert run["status"] == "queued" and run["target"] == "Beta Health"
    assert api.get(f"/api/v1/payers/acme/exchanges/{run['id']}/").json()["member"] == "pat-000001"
    unknown = api.post(
        "/api/v1/payers/acme/exchanges/", {"target": "nobody", "member": "x"}, content_type="application/json"
    )
    assert unknown.status_code == 400


def test_it_publishes_an_openapi_description(client):
    response = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert {"/api/v1/payers/", "/api/v1/payers/{slug}/tokens/", "/api/v1/participants/"} <= set(schema["paths"])


def test_it_shows_and_rotates_the_api_token(member_client, user):
    member_client.post("/accounts/api-token/")
    first = Token.objects.get(user=user).key
    assert first in member_client.get("/accounts/api-token/").content.decode()
    member_client.post("/accounts/api-token/")
    assert Token.objects.get(user=user).key != first
