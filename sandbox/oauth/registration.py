"""
OAuth 2.0 Dynamic Client Registration (RFC 7591) and its management protocol (RFC 7592),
for callers authenticated by a directory certificate over mutual TLS (PDex payer-to-payer
§"Connection & registration"; spec note payer-to-payer.md §2).

django-oauth-toolkit's own DCR accepts one grant type, three auth methods and drops unknown
metadata (tech-notes §2), so registration is ours: it keeps every grant type, every auth
method of the discovery document (with jwks or jwks_uri for private_key_jwt), scope,
redirect_uris, contacts and the software_statement, and ties the client to the directory
entry whose certificate registered it.
"""

import hashlib
import json
import secrets
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from jwcrypto import jwk
from jwcrypto.common import JWException
from oauth2_provider.models import get_access_token_model, get_application_model, get_refresh_token_model

from sandbox.oauth import scopes
from sandbox.oauth.views.discovery import AUTH_METHODS

GRANT_TYPES = {
    "client_credentials": "client-credentials",
    "authorization_code": "authorization-code",
    "refresh_token": None,  # allowed with authorization_code; not a grant of its own in DOT
}
SECRET_METHODS = ("client_secret_basic", "client_secret_post")
# What a registered client may request when its registration names no scope: reading data and
# the payer-to-payer $member-match (the purpose of registering over mTLS).
DEFAULT_SCOPE = "system/*.read http://hl7.org/fhir/us/davinci-hrex/OperationDefinition/member-match"
KEPT_STRINGS = ("client_name", "client_uri", "logo_uri", "tos_uri", "policy_uri", "software_id", "software_version")


class RegistrationError(Exception):
    """An RFC 7591 §3.2.2 error: `error` is the code, the message names the field."""

    def __init__(self, error, description):
        super().__init__(description)
        self.error = error
        self.description = description

    def as_dict(self):
        return {"error": self.error, "error_description": self.description}


def _metadata_error(description):
    return RegistrationError("invalid_client_metadata", description)


def _string_list(metadata, name):
    value = metadata.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _metadata_error(f"{name} must be an array of strings.")
    return value


def _check_redirect_uris(uris):
    for uri in uris:
        parts = urlsplit(uri)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise RegistrationError("invalid_redirect_uri", f"redirect_uris: {uri!r} is not an absolute http(s) URI.")
        if parts.fragment:
            raise RegistrationError("invalid_redirect_uri", f"redirect_uris: {uri!r} must not have a fragment.")


def _check_jwks(value):
    if not isinstance(value, dict) or not isinstance(value.get("keys"), list) or not value["keys"]:
        raise _metadata_error("jwks must be a JWK Set: an object with a non-empty keys array.")
    for index, key in enumerate(value["keys"]):
        if not isinstance(key, dict) or not key.get("kid") or not key.get("kty"):
            raise _metadata_error(f"jwks.keys[{index}] needs kty and kid (SMART requires a kid on every key).")
        if "d" in key:
            raise _metadata_error(f"jwks.keys[{index}] contains a private key; register only public keys.")
    try:
        jwk.JWKSet.from_json(json.dumps(value))
    except (JWException, ValueError, TypeError) as exc:
        raise _metadata_error(f"jwks is not a valid JWK Set: {exc}.") from None


def _check_software_statement(value):
    if not isinstance(value, str) or value.count(".") != 2:
        raise RegistrationError("invalid_software_statement", "software_statement must be a JWT (RFC 7591 §2.3).")


def validate_metadata(metadata):
    """Check RFC 7591 client metadata; returns the normalised metadata or raises RegistrationError."""
    if not isinstance(metadata, dict):
        raise _metadata_error("The registration request must be a JSON object of client metadata.")
    out = {}
    grant_types = _string_list(metadata, "grant_types") if "grant_types" in metadata else ["authorization_code"]
    for grant in grant_types:
        if grant not in GRANT_TYPES:
            raise _metadata_error(
                f"grant_types: '{grant}' is not supported; use client_credentials, authorization_code, refresh_token."
            )
    if grant_types == ["refresh_token"]:
        raise _metadata_error("grant_types: refresh_token needs authorization_code beside it.")
    out["grant_types"] = grant_types

    method = metadata.get("token_endpoint_auth_method", "client_secret_basic")
    if method not in AUTH_METHODS:
        raise _metadata_error(
            f"token_endpoint_auth_method: '{method}' is not supported; use one of {', '.join(AUTH_METHODS)}."
        )
    out["token_endpoint_auth_method"] = method

    redirect_uris = _string_list(metadata, "redirect_uris")
    if "authorization_code" in grant_types:
        if not redirect_uris:
            raise RegistrationError(
                "invalid_redirect_uri",
                "redirect_uris is required for the authorization_code grant"
                + ("" if "grant_types" in metadata else " (grant_types defaults to authorization_code, RFC 7591 §2)")
                + ".",
            )
        out["response_types"] = ["code"]
    _check_redirect_uris(redirect_uris)
    out["redirect_uris"] = redirect_uris

    if "jwks" in metadata and "jwks_uri" in metadata:
        raise _metadata_error("Send jwks or jwks_uri, not both (RFC 7591 §2).")
    if "jwks" in metadata:
        _check_jwks(metadata["jwks"])
        out["jwks"] = metadata["jwks"]
    if "jwks_uri" in metadata:
        uri = metadata["jwks_uri"]
        if not isinstance(uri, str) or urlsplit(uri).scheme not in ("https", "http") or not urlsplit(uri).netloc:
            raise _metadata_error("jwks_uri must be an absolute http(s) URL.")
        out["jwks_uri"] = uri
    if method == "private_key_jwt" and not ("jwks" in out or "jwks_uri" in out):
        raise _metadata_error("token_endpoint_auth_method private_key_jwt needs jwks or jwks_uri.")

    scope = metadata.get("scope", DEFAULT_SCOPE)
    if not isinstance(scope, str) or not scope.split():
        raise _metadata_error("scope must be a space-separated string of scopes.")
    for item in scope.split():
        if not scopes.is_valid(item):
            raise _metadata_error(f"scope: '{item}' is not a SMART scope (e.g. system/*.read, system/Patient.rs).")
    out["scope"] = " ".join(scope.split())

    out["contacts"] = _string_list(metadata, "contacts")
    for name in KEPT_STRINGS:
        if name in metadata:
            if not isinstance(metadata[name], str):
                raise _metadata_error(f"{name} must be a string.")
            out[name] = metadata[name]
    if "software_statement" in metadata:
        _check_software_statement(metadata["software_statement"])
        out["software_statement"] = metadata["software_statement"]
    if "tls_client_auth_subject_dn" in metadata:
        out["tls_client_auth_subject_dn"] = str(metadata["tls_client_auth_subject_dn"])
    return out


def _checksum(token):
    return hashlib.sha256(token.encode()).hexdigest()


def registration_client_uri(tenant, client_id):
    return f"{settings.SANDBOX_TLS_PUBLIC_URL}/t/{tenant.slug}/oauth/register/{client_id}"


def _apply(application, metadata):
    dot_grants = [GRANT_TYPES[g] for g in metadata["grant_types"] if GRANT_TYPES[g]]
    application.authorization_grant_type = dot_grants[0]
    application.extra_grant_types = dot_grants[1:]
    application.token_endpoint_auth_method = metadata["token_endpoint_auth_method"]
    application.redirect_uris = " ".join(metadata["redirect_uris"])
    application.client_jwks = json.dumps(metadata["jwks"]) if "jwks" in metadata else ""
    application.client_jwks_uri = metadata.get("jwks_uri", "")
    application.allowed_scope = metadata["scope"]
    application.contacts = metadata["contacts"]
    application.software_statement = metadata.get("software_statement", "")
    application.name = metadata.get("client_name", "")[:255] or application.name or "Registered client"
    application.client_metadata = metadata


def register(tenant, metadata, identity):
    """Create a client from validated metadata for the directory identity that asked.

    Returns the RFC 7591 §3.2.1 response body (with the secret and registration token shown once).
    """
    return _create(tenant, metadata, identity=identity)


def register_manually(tenant, metadata):
    """A client registered by a payer member on the dashboard (no certificate, no registration
    token); same metadata rules as DCR. Returns the response body with the secret shown once."""
    return _create(tenant, metadata, identity=None)


def _create(tenant, metadata, *, identity):
    metadata = validate_metadata(metadata)
    Application = get_application_model()
    secret = secrets.token_urlsafe(32) if metadata["token_endpoint_auth_method"] in SECRET_METHODS else ""
    registration_token = secrets.token_urlsafe(32) if identity is not None else ""
    with transaction.atomic():
        application = Application(
            client_type=Application.CLIENT_CONFIDENTIAL,
            client_secret=secret or secrets.token_urlsafe(32),  # never usable: the method is not a secret one
            registration_source=(
                Application.RegistrationSource.DCR if identity is not None else Application.RegistrationSource.MANUAL
            ),
            directory_entry=identity.entry if identity is not None else None,
            client_cert_x5t_s256=identity.thumbprint if identity is not None else "",
            registration_token_checksum=_checksum(registration_token) if registration_token else "",
        )
        _apply(application, metadata)
        application.save()
    body = response_body(tenant, application)
    if secret:
        body["client_secret"] = secret
        body["client_secret_expires_at"] = 0
    if registration_token:
        body["registration_access_token"] = registration_token
    return body


def response_body(tenant, application):
    return {
        "client_id": application.client_id,
        "client_id_issued_at": int(application.created.timestamp()),
        **application.client_metadata,
        "registration_client_uri": registration_client_uri(tenant, application.client_id),
    }


def find_registered(client_id, registration_token):
    """The client this registration access token manages (RFC 7592 §3), or None."""
    Application = get_application_model()
    application = Application.objects.filter(client_id=client_id, revoked_at__isnull=True).first()
    if application is None or not application.registration_token_checksum:
        return None
    if not secrets.compare_digest(application.registration_token_checksum, _checksum(registration_token)):
        return None
    return application


def update(tenant, application, metadata):
    """RFC 7592 §2.2: replace the metadata (client_id, if sent, must match)."""
    if isinstance(metadata, dict) and metadata.get("client_id", application.client_id) != application.client_id:
        raise _metadata_error("client_id in the body does not match the client being updated.")
    if isinstance(metadata, dict):
        metadata = {
            k: v
            for k, v in metadata.items()
            if k
            not in (
                "client_id",
                "client_secret",
                "registration_access_token",
                "registration_client_uri",
                "client_id_issued_at",
                "client_secret_expires_at",
            )
        }
    metadata = validate_metadata(metadata)
    _apply(application, metadata)
    application.save()
    return response_body(tenant, application)


def revoke(application):
    """RFC 7592 §2.3 (and the dashboard's revoke): the client and its tokens stop working."""
    with transaction.atomic():
        application.revoked_at = timezone.now()
        application.registration_token_checksum = ""
        application.save(update_fields=["revoked_at", "registration_token_checksum"])
        get_access_token_model().objects.filter(application=application).delete()
        get_refresh_token_model().objects.filter(application=application).delete()
