"""django-oauth-toolkit's models are tenant-owned: one payer's clients and tokens do not exist for another."""

from datetime import timedelta

import pytest
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model

from tenants.context import TenantNotActive, tenant_scope


def _application(name):
    return get_application_model().objects.create(
        name=name, client_type="confidential", authorization_grant_type="client-credentials"
    )


@pytest.mark.django_db
def test_it_uses_the_tenant_owned_models():
    assert get_application_model()._meta.label == "oauth.Application"
    assert get_access_token_model()._meta.label == "oauth.AccessToken"


@pytest.mark.django_db
def test_it_hides_one_tenants_clients_and_tokens_from_another(tenant, other_tenant):
    Application, AccessToken = get_application_model(), get_access_token_model()
    with tenant_scope(tenant):
        app = _application("acme client")
        AccessToken.objects.create(
            application=app, token="acme-token", expires=timezone.now() + timedelta(hours=1), scope="system/*.read"
        )
    with tenant_scope(other_tenant):
        assert not Application.objects.filter(client_id=app.client_id).exists()
        assert not AccessToken.objects.filter(token="acme-token").exists()
    with tenant_scope(tenant):
        assert Application.objects.get(client_id=app.client_id).tenant == tenant


@pytest.mark.django_db
def test_it_refuses_to_look_up_a_client_with_no_tenant(tenant):
    with pytest.raises(TenantNotActive):
        get_application_model().objects.get(client_id="anything")
