"""
The one authorisation layer in front of every FHIR interaction.

Every FHIR view calls `authorize(request, interaction, resource_type)` before it touches the
store. It decides who the caller is (anonymous, a signed-in member of the tenant, or the
holder of a bearer token issued by this tenant) and whether that caller may do this. The
OAuth work (SMART scopes, provider attribution limits, mTLS-bound tokens) plugs in here and
nowhere else.

Public: `metadata`, and read/search of the formulary types when the tenant's
`formulary_public` is on (US Drug Formulary, spec/formulary.md §4.3). Everything else needs
an authenticated caller; there is no anonymous write path.
"""

import hashlib
import logging
from dataclasses import dataclass

from django.utils import timezone

from sandbox.fhirstore.errors import FhirError
from sandbox.fhirstore.search_parameters import FORMULARY_TYPES

logger = logging.getLogger(__name__)

READ_INTERACTIONS = {"read", "vread", "search-type", "history-instance", "history-type"}


class Unauthorized(FhirError):
    status, code = 401, "login"


class Forbidden(FhirError):
    status, code = 403, "forbidden"


@dataclass
class Caller:
    """Who is calling: kind is "anonymous", "member" (session) or "token" (bearer)."""

    kind: str
    user: object = None
    token: object = None

    @property
    def scope(self):
        return self.token.scope if self.token is not None else ""

    @property
    def is_authenticated(self):
        return self.kind != "anonymous"

    def readable_types(self, tenant):
        """Types this caller may see in results (None: every type)."""
        if self.is_authenticated:
            return None
        return set(FORMULARY_TYPES) if tenant.formulary_public else set()


def _challenge(error=None, description=None):
    value = 'Bearer realm="FHIR"'
    if error:
        value += f', error="{error}"'
    if description:
        value += f', error_description="{description}"'
    return {"WWW-Authenticate": value}


def identify(request):
    """
    The Caller behind a request. A bearer token must be an unexpired access token issued by
    this tenant; a bad token is an error even when the request would be public.
    """
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header:
        scheme, _, credential = header.partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise Unauthorized("Only Bearer tokens are accepted.", headers=_challenge("invalid_request"))
        return _token_caller(credential.strip())
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and request.tenant.is_member(user):
        return Caller("member", user=user)
    return Caller("anonymous")


def _token_caller(credential):
    from oauth2_provider.models import get_access_token_model

    # The manager is tenant-scoped: another tenant's token is simply not found.
    checksum = hashlib.sha256(credential.encode("utf-8")).hexdigest()
    token = get_access_token_model().objects.filter(token_checksum=checksum).select_related("application").first()
    if token is None or token.expires <= timezone.now():
        digest = hashlib.sha256(credential.encode()).hexdigest()[:16]
        logger.info("FHIR request with unknown or expired token sha256:%s", digest)
        raise Unauthorized(
            "The access token is unknown, expired or was issued by another payer.",
            headers=_challenge("invalid_token", "The access token is not valid for this server"),
        )
    return Caller("token", user=token.user, token=token)


def authorize(request, interaction, resource_type=None):
    """
    Allow or refuse one FHIR interaction; returns the Caller or raises Unauthorized (401).

    `interaction` uses CapabilityStatement codes (read, vread, search-type, create, update,
    delete, history-instance, history-type, history-system, transaction, batch, operation)
    plus "capabilities" for metadata.
    """
    if interaction == "capabilities":
        return Caller("anonymous")
    caller = identify(request)
    if caller.is_authenticated:
        return caller
    if interaction in READ_INTERACTIONS and resource_type in FORMULARY_TYPES and request.tenant.formulary_public:
        return caller
    raise Unauthorized(
        "This request needs a bearer token issued by this payer (or a signed-in member session).",
        headers=_challenge(),
    )
