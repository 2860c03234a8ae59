"""
Bulk Data HTTP endpoints (spec/bulk-data-and-attribution.md §1-§4): kick-off under the FHIR
base, status and files under /t/<slug>/bulk/. Views authenticate, validate and call
sandbox.bulk.export; nothing else.
"""

import zlib

from django.http import FileResponse, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils.decorators import method_decorator
from django.utils.http import http_date
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from sandbox.bulk import export, kickoff
from sandbox.bulk.models import ExportFile, ExportJob
from sandbox.bulk.storage import get_storage
from sandbox.fhirstore import access
from sandbox.fhirstore.errors import FhirError
from sandbox.fhirstore.outcome import outcome_response
from sandbox.fhirstore.search_parameters import FORMULARY_TYPES
from sandbox.fhirstore.views.base import FhirView, media_type, parse_json, read_body
from sandbox.oauth.bearer import authenticate_bearer
from sandbox.oauth.scopes import ScopeSet

NDJSON = "application/fhir+ndjson"
RETRY_AFTER_SECONDS = 1


class KickoffView(FhirView):
    """$export at the system, Patient and Group levels, by GET or POST (Bulk Data §1)."""

    level = "system"

    def get(self, request, group_id=None):
        return self._kickoff(request, group_id, None)

    def post(self, request, group_id=None):
        body = read_body(request)
        parsed = parse_json(body) if body.strip() or media_type(request) else None
        return self._kickoff(request, group_id, parsed)

    def _kickoff(self, request, group_id, body):
        caller = access.identify(request)
        # Without a token, a payer whose formulary is public still exports the public formulary
        # types at the system level when _type names only them (US Drug Formulary bulk export),
        # as a public job; anything else needs a client's token.
        requested = [t for value in request.GET.getlist("_type") for t in value.split(",") if t.strip()]
        public = (
            caller.kind != "token"
            and self.level == "system"
            and request.tenant.formulary_public
            and bool(requested)
            and set(requested) <= set(FORMULARY_TYPES)
        )
        if caller.kind != "token" and not public:
            # Status and files are tied to the client that started the export (§2.1, §3).
            raise access.Unauthorized(
                "Bulk Data export needs a bearer token of a client of this payer (SMART Backend Services).",
                headers={"WWW-Authenticate": 'Bearer realm="FHIR"'},
            )
        if caller.kind == "token" and caller.restriction is not None:
            # A client limited to certain members (payer-to-payer after $member-match) exports
            # through the operation that applies that limit, never the plain $export.
            raise access.Forbidden(
                "This client may read only the data of the members it matched; plain $export would reach "
                "beyond them. Use Group/[id]/$davinci-data-export on the Group of matched members."
            )
        readable = sorted(FORMULARY_TYPES) if public else caller.readable_types(request.tenant)
        if readable is not None and not readable:
            raise access.Forbidden("The access token's scopes allow reading no resource type.")
        if self.level == "group" and not ScopeSet(caller.scope).allows("Group", "read"):
            # Bulk Data STU3 "Groups": servers SHOULD require system/Group.rs to export a group.
            raise access.Forbidden("Exporting a group needs read access to Group (system/Group.rs).")
        lenient = kickoff.is_lenient(request)
        params, issues = kickoff.parse(
            kickoff.read_pairs(request, body),
            level=self.level,
            lenient=lenient,
            patient_in_query="patient" in request.GET,
        )
        job = export.start_export(
            tenant=request.tenant,
            application=None if public else caller.token.application,
            level=self.level,
            params=params,
            request_url=request.build_absolute_uri(),
            group_id=group_id,
            types_allowed=readable,
            lenient=lenient,
            issues=issues,
            new_member_history=self.level == "group",
        )
        return export.kickoff_response(request, job)


class SystemKickoffView(KickoffView):
    level = "system"


class PatientKickoffView(KickoffView):
    level = "patient"


class GroupKickoffView(KickoffView):
    level = "group"


def _error(status, code, diagnostics, headers=None):
    return outcome_response(status, code, diagnostics, headers=headers)


@method_decorator(csrf_exempt, name="dispatch")
class JobView(View):
    """Shared checks of the status and file URLs: the token, the job, the client."""

    def dispatch(self, request, job_id, **kwargs):
        job = ExportJob.objects.filter(uuid=job_id).first()
        # A public job (an anonymous formulary export) has no client: its status and files
        # need no token, as its manifest says (requiresAccessToken: false).
        public = job is not None and job.application_id is None and "HTTP_AUTHORIZATION" not in request.META
        if not public:
            result = authenticate_bearer(request)
            if not result.ok:
                return _error(401, "login", result.description, {"WWW-Authenticate": result.www_authenticate("bulk")})
        if job is None or job.status == ExportJob.Status.CANCELLED:
            return _error(404, "not-found", "There is no such export (it may have been deleted).")
        if not public and job.application_id not in (None, result.token.application_id):
            return _error(403, "forbidden", "This export was started by another client; only that client may use it.")
        self.job = job
        try:
            return super().dispatch(request, job_id, **kwargs)
        except FhirError as exc:
            return _error(exc.status, exc.code, str(exc), exc.headers)


class StatusView(JobView):
    """GET: progress, manifest or error (Bulk Data §2). DELETE: cancel or remove (§4)."""

    def get(self, request, job_id):
        job = self.job
        if job.is_expired:
            return _error(404, "not-found", "This export has expired and its files were removed.")
        if job.is_active:
            response = HttpResponse(status=202)
            response["X-Progress"] = job.x_progress()
            response["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
        if job.status == ExportJob.Status.FAILED:
            status = job.error_status if 400 <= job.error_status < 600 else 500
            return _error(status, "exception", f"The export failed: {job.error}")
        response = JsonResponse(export.manifest(request, job), json_dumps_params={"separators": (",", ":")})
        response["Expires"] = http_date(job.expires_at.timestamp())
        return response

    def delete(self, request, job_id):
        export.cancel_export(self.job)
        return _error(202, "informational", "The export was cancelled and its files are deleted.", None)


def _accepts_gzip(request):
    for item in request.META.get("HTTP_ACCEPT_ENCODING", "").split(","):
        coding, _, q = item.strip().partition(";")
        if coding.strip().lower() in ("gzip", "x-gzip", "*"):
            q = q.strip().removeprefix("q=")
            try:
                return float(q) > 0 if q else True
            except ValueError:
                return False
    return False


def _gzip_stream(fh, level=1):
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)
    try:
        while block := fh.read(1 << 20):
            if data := compressor.compress(block):
                yield data
        yield compressor.flush()
    finally:
        fh.close()


class FileView(JobView):
    """One NDJSON file (Bulk Data §3): only for the client that started the export."""

    def get(self, request, job_id, name):
        job = self.job
        export_file = ExportFile.objects.filter(job=job, name=name).first()
        if export_file is None:
            return _error(404, "not-found", f"The export has no file named {name}.")
        if job.is_expired:
            return _error(410, "deleted", "This export has expired and its files were removed.")
        fh = get_storage().open(job.tenant, job.uuid, name)
        if fh is None:
            return _error(410, "deleted", "This file is no longer available.")
        if _accepts_gzip(request):
            # Level 1: most of the size win at a fraction of the CPU, as files are compressed per request.
            response = StreamingHttpResponse(_gzip_stream(fh), content_type=NDJSON)
            response["Content-Encoding"] = "gzip"
        else:
            response = FileResponse(fh, content_type=NDJSON)
            response["Content-Length"] = str(export_file.size)
        response["Vary"] = "Accept-Encoding"
        return response
