"""
django-oauth-toolkit's models, swapped for tenant-owned ones.

Swapped in this app's first migration, which runs before DOT's own (swapping later needs a
hand-written data migration; tech-notes §2). Each simulated payer is its own authorization
server: an application, code or token of one tenant does not exist for another.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from oauth2_provider.models import (
    AbstractAccessToken,
    AbstractApplication,
    AbstractDeviceGrant,
    AbstractGrant,
    AbstractIDToken,
    AbstractRefreshToken,
)

from tenants.models import TenantManager, TenantOwned, TenantQuerySet


class ApplicationManager(TenantManager):
    def get_by_natural_key(self, client_id):
        return self.get(client_id=client_id)


class Application(TenantOwned, AbstractApplication):
    # Named and typed as on DOT main (PR #1762), so the upgrade that ships them only has to
    # delete these declarations.
    token_endpoint_auth_method = models.CharField(max_length=32, blank=True, default="")
    client_jwks = models.TextField(blank=True, default="")
    client_jwks_uri = models.URLField(max_length=500, blank=True, default="")
    # The scopes this client may be granted (space-separated SMART scopes); a token request
    # gets the part of its request that these cover.
    allowed_scope = models.TextField(blank=True, default="")
    # RFC 8705: the certificate that registered the client (self_signed_tls_client_auth and
    # tls_client_auth compare the presented certificate with it).
    client_cert_x5t_s256 = models.CharField(max_length=64, blank=True, default="")
    directory_entry = models.ForeignKey(
        "trust.DirectoryEntry", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    contacts = models.JSONField(default=list, blank=True)
    software_statement = models.TextField(blank=True, default="")
    registration_token_checksum = models.CharField(max_length=64, blank=True, default="")
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # DOT allows one grant type per application; RFC 7591 clients may register several.
    extra_grant_types = models.JSONField(default=list, blank=True)
    # The RFC 7591 metadata as registered, returned by RFC 7592 reads.
    client_metadata = models.JSONField(default=dict, blank=True)

    objects = ApplicationManager()
    unscoped = TenantQuerySet.as_manager()

    class Meta(AbstractApplication.Meta):
        swappable = "OAUTH2_PROVIDER_APPLICATION_MODEL"
        default_manager_name = "objects"
        base_manager_name = "unscoped"

    def is_usable(self, request):
        return self.revoked_at is None and super().is_usable(request)

    def allows_grant_type(self, *grant_types):
        return self.authorization_grant_type in grant_types or any(g in self.extra_grant_types for g in grant_types)


class Grant(TenantOwned, AbstractGrant):
    class Meta(AbstractGrant.Meta):
        swappable = "OAUTH2_PROVIDER_GRANT_MODEL"
        default_manager_name = "objects"
        base_manager_name = "unscoped"


class AccessToken(TenantOwned, AbstractAccessToken):
    # RFC 8705 certificate binding: the x5t#S256 of the certificate the token was issued over.
    cnf_x5t_s256 = models.CharField(max_length=64, blank=True, default="")

    class Meta(AbstractAccessToken.Meta):
        swappable = "OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL"
        default_manager_name = "objects"
        base_manager_name = "unscoped"


class RefreshToken(TenantOwned, AbstractRefreshToken):
    class Meta(AbstractRefreshToken.Meta):
        swappable = "OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL"
        default_manager_name = "objects"
        base_manager_name = "unscoped"


class IDToken(TenantOwned, AbstractIDToken):
    class Meta(AbstractIDToken.Meta):
        swappable = "OAUTH2_PROVIDER_ID_TOKEN_MODEL"
        default_manager_name = "objects"
        base_manager_name = "unscoped"


class DeviceGrant(TenantOwned, AbstractDeviceGrant):
    class Meta(AbstractDeviceGrant.Meta):
        swappable = "OAUTH2_PROVIDER_DEVICE_GRANT_MODEL"
        default_manager_name = "objects"
        base_manager_name = "unscoped"


class ProviderUser(TenantOwned):
    """
    A person on a provider organization's staff who may sign in to this payer's authorization
    server and get user-level tokens (authorization code with PKCE). The organization is named
    by its NPI; provider access (attribution lists, attributed downloads) is decided by it.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    organization_npi = models.CharField("organization NPI", max_length=10)
    organization_name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "user"], name="provideruser_unique_user")]
        ordering = ["created_at"]

    def __str__(self):
        return f"{self.user} for NPI {self.organization_npi}"
