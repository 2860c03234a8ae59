import base64
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.test import RequestFactory
from django.utils import timezone

from sandbox.oauth.bearer import authenticate_bearer
from sandbox.trust.identity import META_THUMBPRINT
from tenants.context import tenant_scope
from tests.oauth.conftest import SECRET, token_request


def _basic(app):
    return "Basic " + base64.b64encode(f"{app.client_id}:{SECRET}".encode()).decode()


def _token(client, slug, app):
    response = token_request(client, slug, {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=_basic(app))
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


def _introspect(client, slug, app, token):
    return client.post(
        f"/t/{slug}/oauth/introspect",
        urlencode({"token": token}),
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=_basic(app),
    ).json()


@pytest.mark.django_db
def test_it_introspects_an_active_token(client, tenant, make_client):
    app = make_client(tenant)
    token = _token(client, "acme", app)
    body = _introspect(client, "acme", app, token)
    assert body["active"] is True
    assert body["client_id"] == app.client_id and body["scope"] == "system/*.read system/*.rs"
    assert "cnf" not in body  # not issued over mutual TLS


@pytest.mark.django_db
def test_it_shows_another_tenants_token_as_inactive(client, tenant, other_tenant, make_client):
    token = _token(client, "acme", make_client(tenant))
    assert _introspect(client, "beta", make_client(other_tenant), token) == {"active": False}


@pytest.mark.django_db
def test_it_revokes_a_token(client, tenant, make_client):
    app = make_client(tenant)
    token = _token(client, "acme", app)
    response = client.post(
        "/t/acme/oauth/revoke",
        urlencode({"token": token}),
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=_basic(app),
    )
    assert response.status_code == 200
    assert _introspect(client, "acme", app, token) == {"active": False}


def _bearer(tenant, token, **meta):
    request = RequestFactory().get("/t/acme/fhir/Patient", HTTP_AUTHORIZATION=f"Bearer {token}", **meta)
    with tenant_scope(tenant):
        return authenticate_bearer(request)


@pytest.mark.django_db
def test_it_accepts_a_valid_bearer_token_only_at_its_tenant(client, tenant, other_tenant, make_client):
    token = _token(client, "acme", make_client(tenant))
    assert _bearer(tenant, token).ok
    other = _bearer(other_tenant, token)
    assert not other.ok and other.error == "invalid_token" and "not known to this payer" in other.description


@pytest.mark.django_db
def test_it_explains_why_a_bearer_token_is_refused(client, tenant, make_client):
    from oauth2_provider.models import get_access_token_model

    token = _token(client, "acme", make_client(tenant))
    request = RequestFactory().get("/", HTTP_AUTHORIZATION=f"Basic {token}")
    with tenant_scope(tenant):
        assert authenticate_bearer(request).error == "invalid_request"
        get_access_token_model().objects.update(expires=timezone.now() - timedelta(seconds=1))
    assert "expired" in _bearer(tenant, token).description


@pytest.mark.django_db
def test_it_refuses_a_certificate_bound_token_without_that_certificate(client, tenant, make_client):
    from oauth2_provider.models import get_access_token_model

    token = _token(client, "acme", make_client(tenant))
    with tenant_scope(tenant):
        get_access_token_model().objects.update(cnf_x5t_s256="bound-thumbprint")
    refused = _bearer(tenant, token)
    assert not refused.ok and "bound to a client certificate" in refused.description
    assert not _bearer(tenant, token, **{META_THUMBPRINT: "another"}).ok
    assert _bearer(tenant, token, **{META_THUMBPRINT: "bound-thumbprint"}).ok


@pytest.mark.django_db
def test_it_says_what_header_is_missing(tenant):
    request = RequestFactory().get("/")
    with tenant_scope(tenant):
        result = authenticate_bearer(request)
    assert not result.ok and result.error == ""
    assert result.www_authenticate("acme") == 'Bearer realm="acme"'
