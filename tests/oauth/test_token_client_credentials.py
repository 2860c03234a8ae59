import base64

import pytest

from tests.oauth.conftest import SECRET, token_request


def _basic(client_id, secret=SECRET):
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


@pytest.mark.django_db
def test_it_issues_a_token_with_client_secret_basic(client, tenant, make_client):
    app = make_client(tenant)
    response = token_request(
        client,
        "acme",
        {"grant_type": "client_credentials", "scope": "system/*.read"},
        HTTP_AUTHORIZATION=_basic(app.client_id),
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"].lower() == "bearer"
    assert body["expires_in"] == tenant.access_token_lifetime == 300
    assert body["scope"] == "system/*.read"
    assert "refresh_token" not in body


@pytest.mark.django_db
def test_it_issues_a_token_with_client_secret_post(client, tenant, make_client):
    app = make_client(tenant, method="client_secret_post")
    response = token_request(
        client, "acme", {"grant_type": "client_credentials", "client_id": app.client_id, "client_secret": SECRET}
    )
    assert response.status_code == 200, response.content
    assert response.json()["scope"] == "system/*.read system/*.rs"  # the registered default


@pytest.mark.django_db
def test_it_uses_the_tenants_token_lifetime(client, tenant, make_client):
    tenant.access_token_lifetime = 900
    tenant.save()
    app = make_client(tenant)
    body = token_request(
        client, "acme", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=_basic(app.client_id)
    ).json()
    assert body["expires_in"] == 900


@pytest.mark.django_db
def test_it_grants_only_the_requested_scopes_the_client_may_have(client, tenant, make_client):
    app = make_client(tenant, allowed_scope="system/Patient.rs system/Coverage.rs")
    response = token_request(
        client,
        "acme",
        {"grant_type": "client_credentials", "scope": "system/Patient.rs system/Claim.rs"},
        HTTP_AUTHORIZATION=_basic(app.client_id),
    )
    assert response.json()["scope"] == "system/Patient.rs"

    refused = token_request(
        client,
        "acme",
        {"grant_type": "client_credentials", "scope": "system/*.cruds"},
        HTTP_AUTHORIZATION=_basic(app.client_id),
    )
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_scope"
    assert "system/Patient.rs system/Coverage.rs" in refused.json()["error_description"]


@pytest.mark.django_db
def test_it_explains_a_malformed_scope(client, tenant, make_client):
    app = make_client(tenant)
    response = token_request(
        client,
        "acme",
        {"grant_type": "client_credentials", "scope": "system/patient.read"},
        HTTP_AUTHORIZATION=_basic(app.client_id),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    assert "'system/patient.read' is not a SMART scope" in response.json()["error_description"]


@pytest.mark.django_db
def test_it_refuses_a_wrong_secret(client, tenant, make_client):
    app = make_client(tenant)
    response = token_request(
        client, "acme", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=_basic(app.client_id, "wrong")
    )
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


@pytest.mark.django_db
def test_it_does_not_know_another_tenants_client(client, tenant, other_tenant, make_client):
    app = make_client(tenant)
    response = token_request(
        client, "beta", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=_basic(app.client_id)
    )
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


@pytest.mark.django_db
def test_it_refuses_an_unknown_grant_type(client, tenant, make_client):
    app = make_client(tenant)
    response = token_request(
        client, "acme", {"grant_type": "not_a_grant_type"}, HTTP_AUTHORIZATION=_basic(app.client_id)
    )
    assert response.status_code == 400 and response.json()["error"] == "unsupported_grant_type"


@pytest.mark.django_db
def test_it_refuses_a_json_body_with_an_rfc6749_error(client, tenant):
    response = client.post("/t/acme/oauth/token", {"grant_type": "client_credentials"}, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "x-www-form-urlencoded" in response.json()["error_description"]


@pytest.mark.django_db
def test_it_refuses_a_secret_for_a_client_registered_for_private_key_jwt(client, tenant, make_client, public_jwks):
    app = make_client(tenant, method="private_key_jwt", client_jwks=public_jwks)
    response = token_request(
        client, "acme", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=_basic(app.client_id)
    )
    assert response.status_code == 401
    assert "registered for private_key_jwt" in response.json()["error_description"]


@pytest.mark.django_db
def test_it_refuses_a_revoked_client(client, tenant, make_client):
    from django.utils import timezone

    from tenants.context import tenant_scope

    app = make_client(tenant)
    with tenant_scope(tenant):
        type(app).objects.filter(pk=app.pk).update(revoked_at=timezone.now())
    response = token_request(
        client, "acme", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=_basic(app.client_id)
    )
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
