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
from functools import cache

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model

from sandbox.trust.identity import META_THUMBPRINT
from tenants import row_lookup
from tenants.context import require_tenant


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


# Models tied one-to-one to a client (an `application` OneToOneField) that other apps read for
# every token, loaded in the token's own statement: attribution's ProviderClient decides
# whether a token is a provider's, and a round trip of its own would cost more than the lookup.
_client_companions = []


def load_with_token(model):
    """Load `model` (one-to-one with the Application) with every access token found here."""
    if model not in _client_companions:
        _client_companions.append(model)


def _checksum(raw):
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


@cache
def _token_select(vendor, companions):
    """(select list, joins after the token's table `t`) of a token with its client and companions."""
    token, application = _token_models()
    select = [row_lookup.columns(token, "t"), row_lookup.columns(application, "a")]
    joins = [f"LEFT JOIN {row_lookup.table(application)} a ON a.id = t.application_id"]
    for i, model in enumerate(companions):
        select.append(row_lookup.columns(model, f"c{i}"))
        joins.append(
            f"LEFT JOIN {row_lookup.table(model)} c{i} ON c{i}.application_id = t.application_id "
            f"AND c{i}.tenant_id = t.tenant_id"
        )
    return ", ".join(select), " ".join(joins)


@cache
def _token_sql(vendor, companions):
    select, joins = _token_select(vendor, companions)
    token, _application = _token_models()
    return (
        f"SELECT {select} FROM {row_lookup.table(token)} t {joins} "  # noqa: S608
        "WHERE t.tenant_id = %s AND t.token_checksum = %s"
    )


@cache
def _token_models():
    # Cached: looking the swappable models up in the app registry costs every request.
    return get_access_token_model(), get_application_model()


def _token_from_row(row, companions):
    """The AccessToken of a row selected by _token_select, with its client and companions cached."""
    token_model, application_model = _token_models()
    if row[0] is None:
        return None
    db = connections[DEFAULT_DB_ALIAS]
    parts, start = [], 0
    for model in (token_model, application_model, *companions):
        end = start + row_lookup.width(model)
        parts.append(row_lookup.instance(model, row[start:end], db))
        start = end
    token, application, *found = parts
    token_model._meta.get_field("application").set_cached_value(token, application)
    if application is not None:
        for model, companion in zip(companions, found, strict=True):
            # Cached as the reverse accessor's value: None reads as "does not exist", no query.
            model._meta.get_field("application").remote_field.set_cached_value(application, companion)
    return token


def find_access_token(raw, request=None):
    """
    The access token of the active tenant with this value, with its application and the
    application's registered companions loaded (what select_related would do), or None.

    Every API request needs it, so the tenant middleware looks it up together with the payer,
    in the request's first statement (RequestTokenLookup below), and `request` carries it here.
    Otherwise it is one statement of SQL written once (tenants.row_lookup). The user is not
    joined: PostgreSQL's planning time grows with every relation, most tokens (client
    credentials) have none, and `token.user` loads it when there is one.
    """
    prefetched = getattr(request, "_bearer_lookup", None)
    if prefetched is not None and prefetched[0] == raw:
        return prefetched[1]
    companions = tuple(_client_companions)
    row = row_lookup.fetch_one(_token_sql(connection.vendor, companions), [require_tenant().pk, _checksum(raw)])
    return None if row is None else _token_from_row(row, companions)


class RequestTokenLookup:
    """The request's bearer token, found with its payer (tenants.row_lookup.register_request_lookup)."""

    def parameters(self, request):
        raw = bearer_value(request)
        if not raw:
            return None
        request._bearer_value = raw
        return (_checksum(raw),)

    def sql(self, tenant_alias):
        select, joins = _token_select(connection.vendor, tuple(_client_companions))
        token, _application = _token_models()
        join = (
            f"LEFT JOIN {row_lookup.table(token)} t ON t.token_checksum = %s AND t.tenant_id = {tenant_alias}.id "
            f"{joins}"
        )
        return select, join

    def width(self):
        return sum(row_lookup.width(model) for model in (*_token_models(), *_client_companions))

    def found(self, request, parameters, values):
        request._bearer_lookup = (request._bearer_value, _token_from_row(values, tuple(_client_companions)))


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
    token = find_access_token(raw, request)
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
