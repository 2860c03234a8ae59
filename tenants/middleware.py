import json
import re

from django.conf import settings
from django.db import transaction
from django.http import Http404, HttpResponse
from django.urls import get_script_prefix, set_script_prefix

from sandbox.fhirstore.outcome import outcome_response
from tenants.context import request_tenant_scope
from tenants.models import Tenant

TENANT_PATH = re.compile(r"^/t/(?P<slug>[^/]+)(?P<rest>/.*)?$")


class TenantPathMiddleware:
    """
    Resolve `/t/<slug>/...` to a simulated payer.

    Sets `request.tenant` and the active tenant, moves `/t/<slug>` from the path into the
    script name (so `reverse()`, `build_absolute_uri()` and django-oauth-toolkit all produce
    tenant URLs), routes through the tenant URLconf, and runs the request in a tenant scope
    (one transaction; on PostgreSQL the row-level-security setting). Everything is undone in
    `finally`, because worker threads serve many tenants.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        match = TENANT_PATH.match(request.path_info)
        if not match:
            return self.get_response(request)
        slug, rest = match["slug"], match["rest"] or "/"

        with request_tenant_scope(slug, request) as tenant:
            if tenant is None:
                return _not_found(rest, f"There is no simulated payer '{slug}' in this sandbox.")
            if tenant.status != Tenant.Status.READY:
                return _not_ready(tenant, rest)

            script_name = request.META.get("SCRIPT_NAME", "").rstrip("/") + f"/t/{slug}"
            old_prefix = get_script_prefix()
            request.tenant = tenant
            request.path_info = rest
            request.META["SCRIPT_NAME"] = script_name
            request.META["PATH_INFO"] = rest
            request.urlconf = settings.TENANT_URLCONF
            set_script_prefix(script_name + "/")
            try:
                response = self.get_response(request)
                if response.status_code >= 500:
                    # The handler turned an exception into a response inside this block, so
                    # roll back what the failed request wrote.
                    transaction.set_rollback(True)
                return response
            finally:
                set_script_prefix(old_prefix)


def _is_fhir(rest):
    return rest == "/fhir" or rest.startswith("/fhir/")


def _not_found(rest, message):
    if _is_fhir(rest):
        return outcome_response(404, "not-found", message)
    if rest.startswith("/oauth/") or rest.startswith("/bulk/"):
        return _json_error(404, "not_found", message)
    raise Http404(message)


def _not_ready(tenant, rest):
    if tenant.status == Tenant.Status.PROVISIONING:
        message = f"The simulated payer '{tenant.slug}' is still being created; try again shortly."
        headers = {"Retry-After": "5"}
    else:
        message = (
            f"The simulated payer '{tenant.slug}' could not be created; its owner can see why on its dashboard page."
        )
        headers = {}
    if _is_fhir(rest):
        return outcome_response(503, "transient", message, headers=headers)
    response = _json_error(503, "temporarily_unavailable", message)
    for name, value in headers.items():
        response[name] = value
    return response


def _json_error(status, error, description):
    body = json.dumps({"error": error, "error_description": description})
    return HttpResponse(body, status=status, content_type="application/json")
