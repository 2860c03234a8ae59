"""Authorization code with PKCE for provider staff signed in at the payer."""

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from sandbox.oauth.models import ProviderUser
from tenants.context import tenant_scope
from tests.factories import UserFactory
from tests.oauth.conftest import SECRET, token_request

REDIRECT = "https://provider-app.example/callback"


@pytest.fixture
def provider_user(tenant):
    user = UserFactory(username="dr-smith")
    with tenant_scope(tenant):
        ProviderUser.objects.create(user=user, organization_npi="1234567893", organization_name="Smith Clinic")
    return user


@pytest.fixture
def app(tenant, make_client):
    return make_client(
        tenant,
        authorization_grant_type="authorization-code",
        redirect_uris=REDIRECT,
        allowed_scope="user/*.read user/*.rs offline_access",
    )


def _pkce():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _authorize_params(app, challenge, **extra):
    return {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": REDIRECT,
        "scope": "user/*.read offline_access",
        "state": "xyz",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }


def _approve(client, app, challenge, slug="acme"):
    page = client.get(f"/t/{slug}/oauth/authorize?" + urlencode(_authorize_params(app, challenge)))
    assert page.status_code == 200, page.content
    form = page.context["form"].initial
    response = client.post(
        f"/t/{slug}/oauth/authorize", {**{k: v or "" for k, v in form.items()}, "allow": "Authorize"}
    )
    assert response.status_code == 302, response.content
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query = parse_qs(location.query)
    assert query["state"] == ["xyz"]
    return query["code"][0]


def _basic(app):
    return "Basic " + base64.b64encode(f"{app.client_id}:{SECRET}".encode()).decode()


@pytest.mark.django_db
def test_it_issues_user_tokens_with_a_refresh_token_after_approval(client, tenant, app, provider_user):
    client.force_login(provider_user)
    verifier, challenge = _pkce()
    code = _approve(client, app, challenge)
    response = token_request(
        client,
        "acme",
        {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier},
        HTTP_AUTHORIZATION=_basic(app),
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["scope"] == "user/*.read offline_access"
    assert body["refresh_token"]

    refreshed = token_request(
        client,
        "acme",
        {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        HTTP_AUTHORIZATION=_basic(app),
    )
    assert refreshed.status_code == 200 and refreshed.json()["access_token"] != body["access_token"]


@pytest.mark.django_db
def test_it_refuses_a_wrong_code_verifier(client, tenant, app, provider_user):
    client.force_login(provider_user)
    _, challenge = _pkce()
    code = _approve(client, app, challenge)
    response = token_request(
        client,
        "acme",
        {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": "x" * 50},
        HTTP_AUTHORIZATION=_basic(app),
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


@pytest.mark.django_db
def test_it_requires_pkce(client, tenant, app, provider_user):
    client.force_login(provider_user)
    params = _authorize_params(app, "")
    del params["code_challenge"], params["code_challenge_method"]
    response = client.get("/t/acme/oauth/authorize?" + urlencode(params))
    assert response.status_code == 302
    assert "error=invalid_request" in response["Location"] and "Code+challenge+required" in response["Location"]


@pytest.mark.django_db
def test_it_sends_anonymous_users_to_the_payers_login_page(client, tenant, app):
    _, challenge = _pkce()
    response = client.get("/t/acme/oauth/authorize?" + urlencode(_authorize_params(app, challenge)))
    assert response.status_code == 302
    assert response["Location"].startswith("/t/acme/oauth/login?next=/t/acme/oauth/authorize")
    assert b"Sign in to Acme Health" in client.get(response["Location"]).content


@pytest.mark.django_db
def test_it_refuses_a_user_who_is_not_a_provider_user_of_this_payer(client, tenant, other_tenant, app, provider_user):
    stranger = UserFactory(username="not-staff")
    client.force_login(stranger)
    _, challenge = _pkce()
    response = client.get("/t/acme/oauth/authorize?" + urlencode(_authorize_params(app, challenge)))
    assert response.status_code == 403 and b"Not a provider user of Acme Health" in response.content

    client.force_login(provider_user)  # Acme's provider user is nobody at Beta
    assert client.get("/t/beta/oauth/authorize?" + urlencode(_authorize_params(app, challenge))).status_code == 403


@pytest.mark.django_db
def test_it_does_not_redeem_another_payers_code(client, tenant, other_tenant, app, provider_user, make_client):
    client.force_login(provider_user)
    verifier, challenge = _pkce()
    code = _approve(client, app, challenge)
    beta_app = make_client(other_tenant, authorization_grant_type="authorization-code", redirect_uris=REDIRECT)
    response = token_request(
        client,
        "beta",
        {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier},
        HTTP_AUTHORIZATION=_basic(beta_app),
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


@pytest.mark.django_db
def test_it_describes_scopes_it_does_not_advertise_on_the_consent_page(client, tenant, make_client, provider_user):
    """A provider may ask for any valid SMART scope, e.g. user/Group.u to reconcile attribution lists."""
    app = make_client(
        tenant,
        authorization_grant_type="authorization-code",
        redirect_uris=REDIRECT,
        allowed_scope="user/Group.u user/Group.rs",
    )
    client.force_login(provider_user)
    _, challenge = _pkce()
    params = _authorize_params(app, challenge, scope="user/Group.u user/Group.rs")
    page = client.get("/t/acme/oauth/authorize?" + urlencode(params))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Update Group (user-level, user/Group.u)" in text
    assert "Read, search Group (user-level, user/Group.rs)" in text
