"""HTTP side of Dynamic Client Registration (sandbox/oauth/registration.py)."""

import json

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from sandbox.oauth import registration
from sandbox.oauth.bearer import bearer_value
from sandbox.trust.identity import MtlsIdentityRequired, require_directory_identity


def _json_error(status, error, description, **headers):
    response = JsonResponse({"error": error, "error_description": description}, status=status)
    for name, value in headers.items():
        response[name] = value
    response["Cache-Control"] = "no-store"
    return response


def _identity_or_401(request):
    try:
        return require_directory_identity(request), None
    except MtlsIdentityRequired as exc:
        return None, _json_error(
            401,
            "invalid_client",
            "Registration needs mutual TLS with a certificate listed in the endpoint directory "
            f"(connect to the TLS listener with your client certificate): {exc.description}",
        )


def _body(request):
    if request.content_type != "application/json":
        raise registration.RegistrationError(
            "invalid_client_metadata", "Send the client metadata as application/json (RFC 7591 §3.1)."
        )
    try:
        return json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise registration.RegistrationError("invalid_client_metadata", "The request body is not valid JSON.") from None


@csrf_exempt
@require_http_methods(["POST"])
def register(request):
    """RFC 7591 §3: POST the client metadata, get a client."""
    identity, denied = _identity_or_401(request)
    if denied:
        return denied
    try:
        body = registration.register(request.tenant, _body(request), identity)
    except registration.RegistrationError as exc:
        return _json_error(400, exc.error, exc.description)
    response = JsonResponse(body, status=201)
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt
@require_http_methods(["GET", "PUT", "DELETE"])
def manage(request, client_id):
    """RFC 7592: read, update or delete a registration with its registration access token."""
    identity, denied = _identity_or_401(request)
    if denied:
        return denied
    token = bearer_value(request)
    application = registration.find_registered(client_id, token) if token else None
    if application is None or application.directory_entry_id != identity.entry.pk:
        return _json_error(
            401,
            "invalid_token",
            "The registration access token is missing, wrong, or for another client or directory entry.",
            **{"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    if request.method == "DELETE":
        registration.revoke(application)
        return HttpResponse(status=204)
    if request.method == "PUT":
        try:
            body = registration.update(request.tenant, application, _body(request))
        except registration.RegistrationError as exc:
            return _json_error(400, exc.error, exc.description)
        return JsonResponse(body)
    return JsonResponse(registration.response_body(request.tenant, application))
