"""manage.py mint_token SLUG --scope ... [--lifetime N]."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from sandbox.oauth.models import AccessToken, Application
from tenants.context import tenant_scope


def test_it_prints_a_working_token(client, tenant, patient):
    """The printed token is an access token of the tenant with the given scope."""
    out = StringIO()
    call_command("mint_token", "acme", "--scope", "system/*.read  system/Patient.rs", "--lifetime", "600", stdout=out)
    value = out.getvalue().strip()
    with tenant_scope(tenant):
        token = AccessToken.objects.get(token=value)
        assert token.scope == "system/*.read system/Patient.rs"
        assert 590 < (token.expires - token.created).total_seconds() <= 601
        assert token.application.authorization_grant_type == Application.GRANT_CLIENT_CREDENTIALS
        assert token.application.client_type == Application.CLIENT_CONFIDENTIAL
    response = client.get("/t/acme/fhir/Patient", HTTP_AUTHORIZATION=f"Bearer {value}")
    assert response.status_code == 200


def test_it_reuses_the_mint_token_client(tenant):
    """One "mint_token" application per tenant."""
    call_command("mint_token", "acme", "--scope", "a", stdout=StringIO())
    call_command("mint_token", "acme", "--scope", "b", stdout=StringIO())
    with tenant_scope(tenant):
        assert Application.objects.filter(name="mint_token").count() == 1
        assert AccessToken.objects.count() == 2


def test_it_rejects_unknown_payers_and_bad_arguments(tenant):
    """Unknown slug, empty scope and non-positive lifetime are errors."""
    with pytest.raises(CommandError):
        call_command("mint_token", "nope", "--scope", "a", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("mint_token", "acme", "--scope", " ", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("mint_token", "acme", "--scope", "a", "--lifetime", "0", stdout=StringIO())
