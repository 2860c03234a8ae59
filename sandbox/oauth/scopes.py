"""
SMART on FHIR scopes, v1 and v2 syntax (SMART App Launch 2.x §Scopes; spec note
bulk-data-and-attribution.md §5.5).

    system/*.read         v1: read and search every type         == system/*.rs
    system/Patient.rs     v2: read + search Patient
    user/Observation.cruds v2 with every permission
    system/Observation.rs?category=laboratory   v2 with a query restriction

v1 `.read` means `rs`, `.write` means `cud`, `.*` means `cruds`. Scopes that are not SMART
resource scopes (openid, fhirUser, offline_access, launch/..., and the PDex/HRex operation
scopes which are absolute URLs) are kept as plain strings.

The server grants a client the requested scopes that its registered policy covers
(`narrow`); resource access is then decided by `ScopeSet.allows(type, interaction)`.
"""

import re
from dataclasses import dataclass
from functools import lru_cache

from oauth2_provider.scopes import BaseScopes

CONTEXTS = ("patient", "user", "system")
INTERACTION_PERMISSION = {
    "create": "c",
    "read": "r",
    "vread": "r",
    "history": "r",
    "update": "u",
    "patch": "u",
    "delete": "d",
    "search": "s",
}
V1_PERMISSIONS = {"read": "rs", "write": "cud", "*": "cruds"}
_RESOURCE_SCOPE = re.compile(
    r"^(?P<context>patient|user|system)/(?P<type>\*|[A-Z][A-Za-z]+)\.(?P<perm>read|write|\*|c?r?u?d?s?)"
    r"(?:\?(?P<query>.+))?$"
)
# Scopes that are well-formed but not resource scopes.
SPECIAL_SCOPES = {"openid", "fhirUser", "profile", "offline_access", "online_access", "launch", "launch/patient"}
# PDex / HRex proposed operation-level scopes (payer-to-payer.md §2.2), accepted as aliases.
OPERATION_SCOPES = {
    "http://hl7.org/fhir/us/davinci-hrex/OperationDefinition/member-match",
    "http://hl7.org/fhir/us/davinci-pdex/OperationDefinition/bulk-member-match",
    "http://hl7.org/fhir/us/davinci-pdex/OperationDefinition/BulkMemberMatch",
}


class InvalidScope(ValueError):
    pass


@dataclass(frozen=True)
class ResourceScope:
    context: str
    resource_type: str  # a type name or "*"
    permissions: frozenset
    query: str = ""
    text: str = ""

    def covers(self, other):
        """True when every access `other` grants is also granted by this scope."""
        return (
            self.context == other.context
            and self.resource_type in ("*", other.resource_type)
            and self.permissions >= other.permissions
            and (not self.query or self.query == other.query)
        )

    def allows(self, resource_type, permission):
        return self.resource_type in ("*", resource_type) and permission in self.permissions


def parse(text):
    """Parse one scope; returns a ResourceScope or the string itself for other valid scopes."""
    if text in SPECIAL_SCOPES or text in OPERATION_SCOPES or text.startswith("launch/"):
        return text
    if text.startswith("system.Group.u?code="):  # PDex 2.1 bulk-match alias (payer-to-payer.md §2.2)
        return text
    match = _RESOURCE_SCOPE.match(text)
    if not match or match["perm"] == "":
        raise InvalidScope(
            f"'{text}' is not a SMART scope: expected context/Type.permissions such as "
            "system/*.read or system/Patient.rs"
        )
    perm = match["perm"]
    letters = V1_PERMISSIONS.get(perm, perm)
    return ResourceScope(match["context"], match["type"], frozenset(letters), match["query"] or "", text)


def is_valid(text):
    try:
        parse(text)
    except InvalidScope:
        return False
    return True


def narrow(requested, allowed):
    """The requested scopes that the allowed scopes cover, in request order (SMART: the
    server grants the intersection of the request and the client's registered policy)."""
    allowed_parsed = [parse(a) for a in allowed if is_valid(a)]
    granted = []
    for text in requested:
        scope = parse(text)
        if isinstance(scope, str):
            if scope in allowed_parsed:
                granted.append(text)
        elif any(isinstance(a, ResourceScope) and a.covers(scope) for a in allowed_parsed):
            granted.append(text)
    return granted


class ScopeSet:
    """What a token's scopes permit on FHIR resources."""

    def __init__(self, scope_string):
        self.items = _parsed(scope_string or "")

    def allows(self, resource_type, interaction, contexts=CONTEXTS):
        permission = INTERACTION_PERMISSION[interaction]
        return any(
            isinstance(s, ResourceScope) and s.context in contexts and s.allows(resource_type, permission)
            for s in self.items
        )

    def has(self, text):
        return text in self.items

    def contexts(self):
        return {s.context for s in self.items if isinstance(s, ResourceScope)}


@lru_cache(maxsize=1024)
def _parsed(scope_string):
    # Every API request checks its token's scopes; a token's scope string never changes.
    return tuple(parse_all_lenient(scope_string))


def parse_all_lenient(scope_string):
    """Parse what can be parsed; tokens only ever hold scopes that were validated at issue."""
    out = []
    for text in (scope_string or "").split():
        try:
            out.append(parse(text))
        except InvalidScope:
            continue
    return out


def required_scope_text(resource_type, interaction, context="system"):
    """The v2 scope a client would need, for error messages."""
    return f"{context}/{resource_type}.{INTERACTION_PERMISSION[interaction]}"


ADVERTISED = {
    "system/*.read": "Read and search every resource (SMART v1)",
    "system/*.rs": "Read and search every resource (SMART v2)",
    "system/*.write": "Create, update and delete resources (SMART v1)",
    "system/*.cud": "Create, update and delete resources (SMART v2)",
    "user/*.read": "Read and search what the user may see (SMART v1)",
    "user/*.rs": "Read and search what the user may see (SMART v2)",
    "system/Patient.rs": "Read and search patients",
    "system/Group.rs": "Read and search groups (attribution lists)",
    "system/Group.u": "Update groups (attribution list reconciliation)",
    "offline_access": "A refresh token (user-level clients)",
    "openid": "OpenID Connect",
    "fhirUser": "The signed-in user's FHIR resource",
    "http://hl7.org/fhir/us/davinci-hrex/OperationDefinition/member-match": "Call Patient/$member-match (HRex)",
    "http://hl7.org/fhir/us/davinci-pdex/OperationDefinition/bulk-member-match": "Call Group/$bulk-member-match",
}


PERMISSION_WORDS = {"c": "create", "r": "read", "u": "update", "d": "delete", "s": "search"}


def describe(text):
    """Plain words for a scope, for the consent page."""
    if text in ADVERTISED:
        return ADVERTISED[text]
    try:
        scope = parse(text)
    except InvalidScope:
        return text
    if isinstance(scope, str):
        return text
    what = "every resource type" if scope.resource_type == "*" else scope.resource_type
    verbs = ", ".join(PERMISSION_WORDS[p] for p in "cruds" if p in scope.permissions)
    suffix = f" where {scope.query}" if scope.query else ""
    return f"{verbs.capitalize()} {what}{suffix} ({scope.context}-level, {text})"


class _Described(dict):
    # DOT's consent page looks every requested scope up in get_all_scopes(); any valid SMART
    # scope may be requested, so describe the ones not advertised instead of failing.
    def __missing__(self, key):
        return describe(key)


class SmartScopes(BaseScopes):
    """django-oauth-toolkit scopes backend: every well-formed SMART scope is acceptable;
    which ones a client gets is decided by the validator against its registration."""

    def get_all_scopes(self):
        return _Described(ADVERTISED)

    def get_available_scopes(self, application=None, request=None, *args, **kwargs):
        return list(ADVERTISED)

    def get_default_scopes(self, application=None, request=None, *args, **kwargs):
        if application is not None and getattr(application, "allowed_scope", ""):
            return application.allowed_scope.split()
        return ["system/*.read"]
