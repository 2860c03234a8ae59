"""
What every FHIR view shares: content negotiation, body limits, the access check and turning
service errors into OperationOutcome responses.
"""

import json

from django.conf import settings
from django.http import HttpResponse
from django.utils.http import http_date
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from sandbox.fhirstore import access
from sandbox.fhirstore.errors import FhirError
from sandbox.fhirstore.outcome import FHIR_JSON, fhir_response, operation_outcome

JSON_TYPES = {"application/fhir+json", "application/json", "application/json+fhir"}
FORMAT_VALUES = JSON_TYPES | {"json"}
FORM_TYPE = "application/x-www-form-urlencoded"


class NotAcceptable(FhirError):
    status, code = 406, "not-supported"


class UnsupportedMediaType(FhirError):
    status, code = 415, "not-supported"


class TooLarge(FhirError):
    status, code = 413, "too-costly"


def fhir_base(request):
    """The absolute FHIR base of this tenant on the listener the request came in on."""
    return request.build_absolute_uri(request.META.get("SCRIPT_NAME", "").rstrip("/") + "/fhir")


def error_response(exc):
    return fhir_response(operation_outcome(exc.issues), status=exc.status, headers=exc.headers)


def raw_response(text, status=200, headers=None):
    """A response around JSON text that is already serialised (stored resources, bundles)."""
    response = HttpResponse(text, status=status, content_type=f"{FHIR_JSON}; charset=utf-8")
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def check_accept(request):
    """406 unless the client takes FHIR JSON (Accept header or _format)."""
    # Most requests have no query: no QueryDict to build for them.
    fmt = request.GET.get("_format") if request.META.get("QUERY_STRING") else None
    if fmt and fmt.split(";")[0].strip().lower() not in FORMAT_VALUES:
        raise NotAcceptable(
            f"_format={fmt} is not supported; this server speaks application/fhir+json.", expression="_format"
        )
    accept = request.META.get("HTTP_ACCEPT", "").strip()
    if not accept:
        return
    media = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    if not any(m in JSON_TYPES or m in ("*/*", "application/*") for m in media):
        raise NotAcceptable(f"Cannot answer with any of '{accept}'; this server speaks application/fhir+json.")


def media_type(request):
    return request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()


def read_body(request, *, allow_form=False):
    """
    The request body as bytes, refusing bodies over FHIR_MAX_BODY_BYTES (413) and media types
    other than FHIR JSON (415). Requiring a JSON media type for writes also keeps cross-site
    HTML forms from writing with a member's session cookie.
    """
    limit = settings.FHIR_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise TooLarge(f"The body is {declared} bytes; this server accepts at most {limit}.")
    kind = media_type(request)
    if kind and kind not in JSON_TYPES and not (allow_form and kind == FORM_TYPE):
        raise UnsupportedMediaType(f"Content-Type {kind} is not supported; send application/fhir+json.")
    body = request.read(limit + 1)
    if len(body) > limit:
        raise TooLarge(f"The body is larger than {limit} bytes.")
    return body


def parse_json(body):
    from sandbox.fhirstore.errors import InvalidResource

    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidResource(f"The body is not valid JSON: {exc}") from None


def query_pairs(lists):
    """(name, value) pairs of QueryDict.lists()."""
    return [(key, value) for key, values in lists for value in values]


def prefer(request, name):
    """A value from the Prefer header (RFC 7240), e.g. prefer(request, "return")."""
    for part in request.META.get("HTTP_PREFER", "").split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == name:
            return value.strip().strip('"').lower()
    return ""


def resource_headers(stored, base=None, location=False):
    headers = {"ETag": stored.etag, "Last-Modified": http_date(stored.last_updated.timestamp())}
    if location and base:
        headers["Location"] = f"{base}/{stored.resource_type}/{stored.fhir_id}/_history/{stored.version_id}"
    return headers


def write_response(request, stored, status, message):
    """Create/update response honouring Prefer: return=minimal|representation|OperationOutcome."""
    headers = resource_headers(stored, fhir_base(request), location=True)
    wanted = prefer(request, "return")
    if wanted == "minimal":
        response = HttpResponse(status=status)
        for name, value in headers.items():
            response[name] = value
        return response
    if wanted == "operationoutcome":
        return fhir_response(
            operation_outcome([("information", "informational", message, None)]), status=status, headers=headers
        )
    return raw_response(stored.content, status=status, headers=headers)


# Browser apps (SMART) call the API from other origins with bearer tokens. Any origin may, since
# no credentials ride along: "*" makes browsers leave session cookies out.
CORS_REQUEST_HEADERS = "Authorization, Content-Type, Accept, Prefer, If-Match, If-None-Match, If-None-Exist"
CORS_EXPOSED_HEADERS = "Location, Content-Location, ETag, Last-Modified, WWW-Authenticate"


def _cors(response):
    response["Access-Control-Allow-Origin"] = "*"
    response["Access-Control-Expose-Headers"] = CORS_EXPOSED_HEADERS
    return response


class FhirView(View):
    """Base of the FHIR views: negotiation and errors; subclasses call self.authorize()."""

    @classmethod
    def as_view(cls, **initkwargs):
        # Bearer tokens, not cookies: no CSRF. Exempting the view function once costs nothing per
        # request; method_decorator would wrap dispatch anew on every call.
        return csrf_exempt(super().as_view(**initkwargs))

    def dispatch(self, request, *args, **kwargs):
        if request.method == "OPTIONS":
            response = self.options(request, *args, **kwargs)
        else:
            try:
                check_accept(request)
                response = super().dispatch(request, *args, **kwargs)
            except FhirError as exc:
                response = error_response(exc)
        return _cors(response)

    def options(self, request, *args, **kwargs):
        """CORS preflight (and plain OPTIONS): never needs authentication."""
        response = HttpResponse(status=200)
        response["Allow"] = ", ".join(m.upper() for m in self._allowed_methods())
        response["Access-Control-Allow-Methods"] = response["Allow"]
        response["Access-Control-Allow-Headers"] = CORS_REQUEST_HEADERS
        response["Access-Control-Max-Age"] = "600"
        return response

    def authorize(self, request, interaction, resource_type=None):
        self.caller = access.authorize(request, interaction, resource_type)
        return self.caller

    def http_method_not_allowed(self, request, *args, **kwargs):
        allowed = ", ".join(m.upper() for m in self._allowed_methods())
        return fhir_response(
            operation_outcome([("error", "not-supported", f"{request.method} is not allowed here ({allowed}).", None)]),
            status=405,
            headers={"Allow": allowed},
        )
