"""Access tokens minted outside an OAuth flow, for tools that take a bearer token."""

import secrets
from datetime import timedelta

from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model

from tenants.context import tenant_scope

MINT_CLIENT_NAME = "mint_token"


def mint_token(tenant, scope, lifetime=3600):
    """
    Create an access token of `tenant` with `scope` (space-separated), valid for `lifetime`
    seconds, held by the tenant's "mint_token" client (a confidential client-credentials
    application created on first use). Returns the AccessToken; `.token` is the bearer value.
    """
    Application = get_application_model()
    AccessToken = get_access_token_model()
    with tenant_scope(tenant):
        application = Application.objects.filter(name=MINT_CLIENT_NAME).first()
        if application is None:
            application = Application.objects.create(
                name=MINT_CLIENT_NAME,
                client_type=Application.CLIENT_CONFIDENTIAL,
                authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
                redirect_uris="",
            )
        return AccessToken.objects.create(
            application=application,
            token=secrets.token_urlsafe(32),
            scope=" ".join(scope.split()),
            expires=timezone.now() + timedelta(seconds=lifetime),
        )
