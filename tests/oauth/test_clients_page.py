"""The payer's Clients page: clients, manual registration, revocation, test tokens, provider users."""

import json

import pytest
from oauth2_provider.models import get_application_model

from sandbox.oauth.models import ProviderUser
from tenants.context import tenant_scope
from tests.factories import UserFactory

PAGE = "/payers/acme/clients/"


@pytest.mark.django_db
def test_it_registers_a_secret_client_by_hand_and_shows_the_secret_once(member_client, client, tenant):
    response = member_client.post(
        PAGE + "register/",
        {
            "client_name": "Inferno",
            "token_endpoint_auth_method": "client_secret_basic",
            "scope": "system/*.read",
        },
    )
    assert response.status_code == 200
    client_id = response.context["created"]["client_id"]
    secret = response.context["created"]["client_secret"]
    assert secret in response.content.decode()
    assert secret not in member_client.get(PAGE).content.decode()

    import base64
    from urllib.parse import urlencode

    token = client.post(
        "/t/acme/oauth/token",
        urlencode({"grant_type": "client_credentials"}),
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode(),
    )
    assert token.status_code == 200 and token.json()["scope"] == "system/*.read"


@pytest.mark.django_db
def test_it_registers_a_private_key_jwt_client_from_a_pasted_jwks(member_client, tenant, public_jwks):
    response = member_client.post(
        PAGE + "register/",
        {
            "client_name": "Backend",
            "token_endpoint_auth_method": "private_key_jwt",
            "scope": "system/*.rs",
            "jwks": public_jwks,
        },
    )
    assert "client_secret" not in response.context["created"]
    with tenant_scope(tenant):
        app = get_application_model().objects.get(client_id=response.context["created"]["client_id"])
    assert json.loads(app.client_jwks) == json.loads(public_jwks)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "data, message",
    [
        ({"token_endpoint_auth_method": "private_key_jwt", "scope": "system/*.rs"}, "needs a JWKS"),
        (
            {"token_endpoint_auth_method": "private_key_jwt", "scope": "system/*.rs", "jwks": "{nope"},
            "This is not JSON",
        ),
        ({"token_endpoint_auth_method": "client_secret_basic", "scope": "everything"}, "not a SMART scope"),
        (
            {
                "token_endpoint_auth_method": "private_key_jwt",
                "scope": "system/*.rs",
                "jwks": '{"keys": [{"kty": "EC"}]}',
            },
            "needs kty and kid",
        ),
    ],
)
def test_it_explains_a_bad_registration_and_saves_nothing(member_client, tenant, data, message):
    response = member_client.post(PAGE + "register/", {"client_name": "X", **data})
    assert message in response.content.decode()
    assert not get_application_model().unscoped.exists()


@pytest.mark.django_db
def test_it_revokes_a_client(member_client, tenant, make_client):
    app = make_client(tenant)
    member_client.post(f"{PAGE}{app.client_id}/revoke/")
    with tenant_scope(tenant):
        assert get_application_model().objects.get(pk=app.pk).revoked_at is not None


@pytest.mark.django_db
def test_it_mints_a_test_token_that_reads_fhir(member_client, client, tenant):
    response = member_client.post(PAGE + "mint/", {"scope": "system/Patient.rs", "lifetime": 600})
    token = response.context["minted"].token
    assert token in response.content.decode()
    client.logout()
    assert client.get("/t/acme/fhir/Patient", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    assert client.get("/t/acme/fhir/Observation", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 403


@pytest.mark.django_db
def test_it_adds_and_removes_provider_users(member_client, tenant):
    bob = UserFactory(username="dr-bob")
    member_client.post(
        PAGE + "provider-users/", {"who": "dr-bob", "organization_npi": "1234567893", "organization_name": "Bob Clinic"}
    )
    with tenant_scope(tenant):
        provider_user = ProviderUser.objects.get(user=bob)
    assert provider_user.organization_npi == "1234567893"
    again = member_client.post(PAGE + "provider-users/", {"who": "dr-bob", "organization_npi": "1234567893"})
    assert "already a provider user" in again.content.decode()
    bad = member_client.post(PAGE + "provider-users/", {"who": "nobody", "organization_npi": "12"})
    assert "No user is named" in bad.content.decode() and "An NPI is 10 digits" in bad.content.decode()
    member_client.post(f"{PAGE}provider-users/{provider_user.pk}/remove/")
    with tenant_scope(tenant):
        assert not ProviderUser.objects.exists()


@pytest.mark.django_db
def test_it_shows_another_payers_clients_to_nobody(client, tenant, other_tenant, other_user, make_client):
    app = make_client(tenant)
    client.force_login(other_user)
    assert client.get(PAGE).status_code == 404
    assert client.post(f"{PAGE}{app.client_id}/revoke/").status_code == 404
    assert client.post(PAGE + "mint/", {"scope": "system/*.read", "lifetime": 600}).status_code == 404
    # Beta's own page cannot reach Acme's client either.
    assert client.post(f"/payers/beta/clients/{app.client_id}/revoke/").status_code == 404
    with tenant_scope(tenant):
        assert get_application_model().objects.get(pk=app.pk).revoked_at is None


@pytest.mark.django_db
def test_it_sets_the_token_lifetime_within_limits(member_client, tenant):
    member_client.post(PAGE + "token-lifetime/", {"access_token_lifetime": 900})
    tenant.refresh_from_db()
    assert tenant.access_token_lifetime == 900
    refused = member_client.post(PAGE + "token-lifetime/", {"access_token_lifetime": 5})
    assert "greater than or equal to 60" in refused.content.decode()
    tenant.refresh_from_db()
    assert tenant.access_token_lifetime == 900
