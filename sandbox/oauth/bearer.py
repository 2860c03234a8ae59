"""
Bearer tokens at the resource server: the one place that turns an Authorization header into
an access token of this tenant, or a precise reason for 401 (RFC 6750 §3).

The FHIR API, bulk status and file downloads all call `authenticate_bearer`. Tokens are
looked up through the tenant-scoped manager, so another payer's token does not exist here.
A certificate-bound token (RFC 8705 §3) is accepted only over a connection presenting the
same certificate.
"""

import hashlib
from dataclasses import dataclass

from django.utils import timezone
from oauth2_provider.models import get_access_token_model

from sandbox.trust.identity import META_THUMBPRINT


@dataclass(frozen=True)
class BearerResult:
    token: object = None  # the AccessToken, when valid
    error: str = ""  # RFC 6750 error code: invalid_request | invalid_token
    description: str = ""

    @property
    def ok(self):
        return self.token is not None

    def www_authenticate(self, realm):
        if not self.error:
            return f'Bearer realm="{realm}"'
        description = self.description.replace('"', "'")
        return f'Bearer realm="{realm}", error="{self.error}", error_description="{description}"'


NO_TOKEN = BearerResult(description="This request needs an access token: Authorization: Bearer <token>.")


def find_access_token(raw):
    """The access token of the active tenant with this value, or None."""
    checksum = hashlib.sha256(raw.encode("utf-8")).hexdigest()
    return (
        get_access_token_model().objects.select_related("application", "user").filter(token_checksum=checksum).first()
    )


def bearer_value(request):
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def authenticate_bearer(request):
    """Check the request's bearer token; returns a BearerResult (never raises)."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header:
        return NO_TOKEN
    raw = bearer_value(request)
    if raw is None:
        return BearerResult(error="invalid_request", description="The Authorization header must use the Bearer scheme.")
    token = find_access_token(raw)
    if token is None:
        return BearerResult(error="invalid_token", description="The access token is not known to this payer.")
    if token.expires <= timezone.now():
        return BearerResult(error="invalid_token", description="The access token has expired.")
    if token.application is not None and token.application.revoked_at is not None:
        return BearerResult(error="invalid_token", description="The client of this access token has been revoked.")
    if token.cnf_x5t_s256 and request.META.get(META_THUMBPRINT) != token.cnf_x5t_s256:
        return BearerResult(
            error="invalid_token",
            description="The access token is bound to a client certificate (RFC 8705): present that certificate "
            "over the mutual-TLS listener.",
        )
    return BearerResult(token=token)
