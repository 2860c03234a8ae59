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
    # None, or what a registered restriction hook returned for the token (see
    # register_restriction): an object with `filter(queryset)` narrowing Resource rows.
    restriction: object = None

    @property
    def scope(self):
        return self.token.scope if self.token is not None else ""

    @property
    def is_authenticated(self):
        return self.kind != "anonymous"

    def visible(self, queryset):
        """`queryset` (of fhirstore Resource rows) narrowed to what this caller may see."""
        return queryset if self.restriction is None else self.restriction.filter(queryset)

    def check_visible(self, resource_type, fhir_id):
        """404 for a resource a restricted caller may not see (as if it did not exist)."""
        if self.restriction is None:
            return
        from sandbox.fhirstore.errors import NotFound
        from sandbox.fhirstore.models import Resource

        if not self.visible(Resource.objects.filter(resource_type=resource_type, fhir_id=fhir_id)).exists():
            raise NotFound(f"{resource_type}/{fhir_id} does not exist.")

    def readable_types(self, tenant):
        """Types this caller may see in results, _include and _revinclude too (None: every type)."""
        if self.kind == "member":
            return None
        if self.kind == "token":
            from sandbox.oauth.scopes import ResourceScope, ScopeSet

            readable = {
                s.resource_type
                for s in ScopeSet(self.scope).items
                if isinstance(s, ResourceScope) and s.permissions & {"r", "s"}
            }
            return None if "*" in readable else readable
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
        return _token_caller(request)
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and request.tenant.is_member(user):
        return Caller("member", user=user)
    return Caller("anonymous")


def _token_caller(request):
    from sandbox.oauth.bearer import authenticate_bearer

    # One check for every resource server of the sandbox: known to this tenant (the manager is
    # tenant-scoped), unexpired, client not revoked, certificate binding honoured (RFC 8705).
    result = authenticate_bearer(request)
    if not result.ok:
        digest = hashlib.sha256(request.META.get("HTTP_AUTHORIZATION", "").encode()).hexdigest()[:16]
        logger.info("FHIR request refused (%s), authorization sha256:%s", result.description, digest)
        raise Unauthorized(result.description, headers={"WWW-Authenticate": result.www_authenticate("FHIR")})
    caller = Caller("token", user=result.token.user, token=result.token)
    for hook in _restriction_hooks:
        caller.restriction = hook(result.token)
        if caller.restriction is not None:
            break
    return caller


# Functions token -> restriction or None. Payer-to-payer registers one: a client registered
# for $member-match sees only the members it matched, within their consent
# (sandbox/payer2payer/restriction.py). Search, read and $everything apply it through
# Caller.visible / Caller.check_visible; history, vread, batch and transaction are refused.
_restriction_hooks = []

RESTRICTED_REFUSED = {"history-instance", "history-type", "history-system", "vread", "transaction", "batch"}


def register_restriction(hook):
    if hook not in _restriction_hooks:
        _restriction_hooks.append(hook)


# CapabilityStatement interaction codes -> the SMART permission they need.
SCOPE_INTERACTION = {
    "read": "read",
    "vread": "vread",
    "history-instance": "history",
    "history-type": "history",
    "history-system": "history",
    "search-type": "search",
    "search-system": "search",
    "create": "create",
    "update": "update",
    "delete": "delete",
}


def check_scope(caller, interaction, resource_type=None):
    """
    Refuse (403) a token whose SMART scopes do not cover this interaction on this type.
    Session members are not limited by scopes; operations check their own rules.
    """
    if caller.kind != "token" or interaction not in SCOPE_INTERACTION:
        return
    from sandbox.oauth.scopes import ScopeSet, required_scope_text

    smart_interaction = SCOPE_INTERACTION[interaction]
    granted = ScopeSet(caller.scope)
    if granted.allows(resource_type or "*", smart_interaction):
        return
    context = sorted(granted.contexts())[0] if granted.contexts() else "system"
    needed = required_scope_text(resource_type or "*", smart_interaction, context)
    what = f"{interaction} on {resource_type}" if resource_type else f"{interaction} across all types"
    raise Forbidden(
        f"The access token's scopes ({caller.scope or 'none'}) do not allow {what}; it needs {needed}.",
        code="forbidden",
    )


def _bundle_entries(bundle):
    """(interaction, resource type) of each entry of a batch or transaction, for check_scope."""
    for entry in bundle.get("entry") or []:
        request = entry.get("request") if isinstance(entry, dict) else None
        if not isinstance(request, dict):
            continue
        method = str(request.get("method", "")).upper()
        url = str(request.get("url", ""))
        path, _, query = url.partition("?")
        parts = [p for p in path.split("/") if p]
        resource_type = parts[0] if parts else None
        if method == "GET":
            interaction = "read" if len(parts) >= 2 else "search-type"
        else:
            interaction = {"POST": "create", "PUT": "update", "DELETE": "delete"}.get(method)
        if interaction:
            yield interaction, resource_type


def authorize_bundle(caller, bundle):
    """Apply check_scope to every entry of a batch or transaction before any of it runs."""
    if isinstance(bundle, dict):
        for interaction, resource_type in _bundle_entries(bundle):
            check_scope(caller, interaction, resource_type)


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
        check_scope(caller, interaction, resource_type)
        # A restriction with its own interaction rules (provider access: sandbox.attribution.access)
        # applies them instead of the payer-to-payer defaults below.
        check_interaction = getattr(caller.restriction, "check_interaction", None)
        if check_interaction is not None:
            check_interaction(interaction, resource_type, request)
        elif caller.restriction is not None and interaction in RESTRICTED_REFUSED:
            raise Forbidden(
                f"{interaction} is not available to this client: it may only search and read the members "
                "it matched with $member-match."
            )
        return caller
    if interaction in READ_INTERACTIONS and resource_type in FORMULARY_TYPES and request.tenant.formulary_public:
        return caller
    raise Unauthorized(
        "This request needs a bearer token issued by this payer (or a signed-in member session).",
        headers=_challenge(),
    )
