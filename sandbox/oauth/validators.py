"""
The OAuth2 validator of every simulated payer (django-oauth-toolkit's OAUTH2_VALIDATOR_CLASS).

All client authentication is decided here (STYLE §4): client_secret_basic/post (DOT's own),
private_key_jwt (sandbox/oauth/client_assertion.py), and RFC 8705 tls_client_auth and
self_signed_tls_client_auth from the verified certificate the ClientCertMiddleware put in
request.META. Tokens requested over mutual TLS are bound to that certificate
(`cnf.x5t#S256`), and a bound token is refused without it. Applications are loaded through
the tenant-scoped manager, so a client of one payer does not exist at another.
"""

from django.utils import timezone
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauthlib.oauth2.rfc6749 import errors

from sandbox.oauth import client_assertion, scopes
from sandbox.trust.identity import META_THUMBPRINT

TLS_METHODS = ("tls_client_auth", "self_signed_tls_client_auth")


def request_thumbprint(request):
    """x5t#S256 of the verified client certificate of an oauthlib request, or None."""
    headers = getattr(request, "headers", None) or {}
    return headers.get(META_THUMBPRINT) or None


def token_audiences(request):
    """Token endpoint URLs a client assertion may name: this tenant's public ones, and the URL
    this request really came to (the oauthlib request carries only the path)."""
    from tenants.context import require_tenant

    endpoints = require_tenant().endpoints()
    audiences = [endpoints["token_url"], endpoints["tls_token_url"]]
    headers = getattr(request, "headers", None) or {}
    scheme = headers.get("wsgi.url_scheme", "http")
    host = headers.get("HTTP_HOST")
    if not host and headers.get("SERVER_NAME"):
        port = str(headers.get("SERVER_PORT", ""))
        default = "443" if scheme == "https" else "80"
        host = headers["SERVER_NAME"] + (f":{port}" if port and port != default else "")
    if host:
        # DOT copies request.META into the headers; Django has already checked the Host
        # against ALLOWED_HOSTS (CommonMiddleware).
        audiences.append(f"{scheme}://{host}{headers.get('SCRIPT_NAME', '')}{headers.get('PATH_INFO', '')}")
    return audiences


class SandboxOAuth2Validator(OAuth2Validator):
    def client_authentication_required(self, request, *args, **kwargs):
        if getattr(request, "client_assertion", None) or getattr(request, "client_assertion_type", None):
            return True
        if request_thumbprint(request) and request.client_id:
            client = self._load_application(request.client_id, request)
            if client is not None and client.token_endpoint_auth_method in TLS_METHODS:
                return True
        return super().client_authentication_required(request, *args, **kwargs)

    def authenticate_client(self, request, *args, **kwargs):
        if getattr(request, "client_assertion", None) or getattr(request, "client_assertion_type", None):
            return self._authenticate_assertion(request)
        if request.client_id and not self._extract_basic_auth(request):
            client = self._load_application(request.client_id, request)
            if client is not None and client.token_endpoint_auth_method in TLS_METHODS:
                return self._authenticate_tls(request, client)
            if client is not None and client.token_endpoint_auth_method == "private_key_jwt":
                raise errors.InvalidClientError(
                    description=f"Client {client.client_id} is registered for private_key_jwt: send "
                    f"client_assertion_type={client_assertion.ASSERTION_TYPE} and a signed client_assertion.",
                    request=request,
                )
        authenticated = super().authenticate_client(request, *args, **kwargs)
        if authenticated and request.client.token_endpoint_auth_method in ("private_key_jwt", *TLS_METHODS):
            raise errors.InvalidClientError(
                description=f"Client {request.client.client_id} is registered for "
                f"{request.client.token_endpoint_auth_method}, not a client secret.",
                request=request,
            )
        return authenticated

    def _authenticate_assertion(self, request):
        assertion_type = getattr(request, "client_assertion_type", None)
        if assertion_type != client_assertion.ASSERTION_TYPE:
            raise errors.InvalidClientError(
                description=f"client_assertion_type must be {client_assertion.ASSERTION_TYPE}.", request=request
            )
        assertion = getattr(request, "client_assertion", None)
        if not assertion:
            raise errors.InvalidClientError(description="client_assertion is missing.", request=request)
        try:
            application, claims = client_assertion.verify(
                assertion,
                load_client=lambda client_id: self._load_application(client_id, request),
                audiences=token_audiences(request),
            )
        except client_assertion.ClientAssertionInvalid as exc:
            raise errors.InvalidClientError(description=str(exc), request=request) from None
        if request.client_id and request.client_id != application.client_id:
            raise errors.InvalidClientError(
                description="client_id does not match the client assertion's iss.", request=request
            )
        request.client = application
        request.client_id = application.client_id
        return True

    def _authenticate_tls(self, request, client):
        """RFC 8705 §2: self_signed_tls_client_auth pins the registered certificate;
        tls_client_auth trusts the PKI, so any valid certificate of the directory entry that
        registered the client (a renewed one too) authenticates it, and a registered
        tls_client_auth_subject_dn must match as well."""
        thumbprint = request_thumbprint(request)
        method = client.token_endpoint_auth_method
        if not thumbprint:
            raise errors.InvalidClientError(
                description=f"Client {client.client_id} authenticates with {method}: "
                "connect to the mutual-TLS endpoint with its certificate.",
                request=request,
            )
        if method == "self_signed_tls_client_auth":
            if thumbprint != client.client_cert_x5t_s256:
                raise errors.InvalidClientError(
                    description="The presented client certificate is not the one registered for this client.",
                    request=request,
                )
        else:
            from sandbox.trust.models import Certificate

            presented = Certificate.objects.filter(thumbprint=thumbprint).first()
            same_entry = presented is not None and presented.entry_id == client.directory_entry_id
            if not (same_entry or thumbprint == client.client_cert_x5t_s256):
                raise errors.InvalidClientError(
                    description="The presented client certificate does not belong to the directory entry "
                    "that registered this client.",
                    request=request,
                )
            wanted_dn = client.client_metadata.get("tls_client_auth_subject_dn")
            if wanted_dn and presented is not None and presented.subject != wanted_dn:
                raise errors.InvalidClientError(
                    description=f"The certificate subject does not match tls_client_auth_subject_dn {wanted_dn!r}.",
                    request=request,
                )
        request.client = client
        return True

    def validate_scopes(self, client_id, requested, client, request, *args, **kwargs):
        """Grant the requested scopes the client's registration covers (SMART: the intersection)."""
        for text in requested:
            if not scopes.is_valid(text):
                raise errors.InvalidScopeError(description=_describe_invalid(text), request=request)
        allowed = (client.allowed_scope or "").split() or ["system/*.read", "system/*.rs"]
        granted = scopes.narrow(requested, allowed)
        if not granted:
            raise errors.InvalidScopeError(
                description=f"None of the requested scopes ({' '.join(requested)}) is allowed for this client; "
                f"it may request: {' '.join(allowed)}.",
                request=request,
            )
        request.scopes = granted
        return True

    def get_default_scopes(self, client_id, request, *args, **kwargs):
        client = request.client
        return (client.allowed_scope or "").split() if client and client.allowed_scope else ["system/*.read"]

    def save_bearer_token(self, token, request, *args, **kwargs):
        """Issue the token for the tenant's configured lifetime (the response shows the same)."""
        from tenants.context import require_tenant

        token["expires_in"] = require_tenant().access_token_lifetime
        return super().save_bearer_token(token, request, *args, **kwargs)

    def _create_access_token(self, expires, request, token, source_refresh_token=None):
        access_token = super()._create_access_token(expires, request, token, source_refresh_token)
        thumbprint = request_thumbprint(request)
        if thumbprint:
            type(access_token).objects.filter(pk=access_token.pk).update(cnf_x5t_s256=thumbprint)
            access_token.cnf_x5t_s256 = thumbprint
        type(request.client).objects.filter(pk=request.client.pk).update(last_used_at=timezone.now())
        return access_token


def _describe_invalid(text):
    try:
        scopes.parse(text)
    except scopes.InvalidScope as exc:
        return str(exc)
    return f"'{text}' is not acceptable."
