"""
Discovery documents of a simulated payer: SMART configuration (SMART App Launch 2.x
§Conformance; bulk-data-and-attribution.md §5.2) and RFC 8414 authorization server metadata.

Absolute URLs come from SANDBOX_PUBLIC_URL / SANDBOX_TLS_PUBLIC_URL (Tenant.endpoints()); a
document fetched over the mutual-TLS listener points the token endpoint at that listener, so
a client that found it there keeps its certificate, and its tokens get bound to it.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from sandbox.oauth import client_assertion, scopes

AUTH_METHODS = [
    "private_key_jwt",
    "client_secret_basic",
    "client_secret_post",
    "tls_client_auth",
    "self_signed_tls_client_auth",
]


def _on_tls_listener(request):
    return request.get_host() == urlsplit(settings.SANDBOX_TLS_PUBLIC_URL).netloc


def _urls(request):
    tenant = request.tenant
    endpoints = tenant.endpoints()
    base = settings.SANDBOX_TLS_PUBLIC_URL if _on_tls_listener(request) else settings.SANDBOX_PUBLIC_URL
    oauth = f"{base}/t/{tenant.slug}/oauth"
    return {
        "issuer": f"{settings.SANDBOX_PUBLIC_URL}/t/{tenant.slug}/oauth",
        "authorization_endpoint": endpoints["authorization_url"],
        "token_endpoint": f"{oauth}/token",
        "registration_endpoint": endpoints["registration_url"],
        "introspection_endpoint": f"{oauth}/introspect",
        "revocation_endpoint": f"{oauth}/revoke",
    }


def _common(request):
    urls = _urls(request)
    return {
        **urls,
        "grant_types_supported": ["client_credentials", "authorization_code", "refresh_token"],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": list(client_assertion.ALGORITHMS),
        "scopes_supported": list(scopes.ADVERTISED),
        "tls_client_certificate_bound_access_tokens": True,
        "mtls_endpoint_aliases": {
            "token_endpoint": f"{settings.SANDBOX_TLS_PUBLIC_URL}/t/{request.tenant.slug}/oauth/token",
            "registration_endpoint": urls["registration_endpoint"],
        },
    }


@require_GET
def smart_configuration(request):
    """`[base]/.well-known/smart-configuration` (JSON whatever the Accept header says)."""
    document = _common(request)
    document["capabilities"] = [
        "client-confidential-asymmetric",
        "client-confidential-symmetric",
        "permission-v1",
        "permission-v2",
        "permission-offline",
        "context-standalone-patient",
        "launch-standalone",
    ]
    response = JsonResponse(document)
    response["Cache-Control"] = "public, max-age=60"
    return response


@require_GET
def authorization_server_metadata(request):
    """RFC 8414 metadata, under the issuer path (`/t/<slug>/oauth/.well-known/oauth-authorization-server`)."""
    return JsonResponse(_common(request))
