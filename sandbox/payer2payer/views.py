"""
Payer-to-payer FHIR operations under /t/<slug>/fhir/ (HRex $member-match, PDex
$bulk-member-match and its status). Views authenticate, check the operation scope, parse and
call the services in member_match.py and bulk_member_match.py.
"""

from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.views import View

from sandbox.fhirstore import access
from sandbox.fhirstore.errors import FhirError, InvalidResource, NotFound, NotSupported
from sandbox.fhirstore.outcome import fhir_response, outcome_response
from sandbox.fhirstore.views.base import FhirView, error_response, fhir_base, parse_json, read_body
from sandbox.payer2payer import bulk_member_match, member_match
from sandbox.payer2payer.apps import BULK_MEMBER_MATCH_21, BULK_MEMBER_MATCH_22, MEMBER_MATCH
from sandbox.payer2payer.models import BulkMatchJob


def operation_client(caller, scopes, operation):
    """
    The OAuth client calling a payer-to-payer operation, or None for a signed-in member of the
    payer (testing from the dashboard). A token needs one of `scopes` (403 otherwise).
    """
    if caller.kind != "token":
        return None
    granted = set(caller.scope.split())
    if not granted & set(scopes):
        raise access.Forbidden(
            f"The access token's scopes ({caller.scope or 'none'}) do not allow {operation}; "
            f"it needs {sorted(scopes)[0]}."
        )
    return caller.token.application


class MemberMatchView(FhirView):
    """POST [base]/Patient/$member-match (HRex OperationDefinition member-match)."""

    def post(self, request):
        caller = self.authorize(request, "operation", "Patient")
        application = operation_client(caller, {MEMBER_MATCH}, "$member-match")
        body = parse_json(read_body(request))
        if application is not None and connection.vendor == "postgresql":
            # The match record is cheap to redo (the client asks again), so its commit need not
            # wait for the WAL flush: most of a $member-match's time under load.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        try:
            parameters, _warnings = member_match.member_match(request.tenant, body, application)
        except member_match.MatchError as exc:
            return fhir_response(exc.outcome(), status=exc.status)
        return fhir_response(parameters)


BULK_SCOPES = {MEMBER_MATCH, BULK_MEMBER_MATCH_21, BULK_MEMBER_MATCH_22}


def _status_url(request, job):
    return fhir_base(request) + f"/bulk-member-match-status/{job.uuid}"


class BulkMemberMatchView(FhirView):
    """POST [base]/Group/$bulk-member-match (also $multi-member-match): 202 + Content-Location."""

    def post(self, request):
        caller = self.authorize(request, "operation", "Group")
        if request.tenant.pdex_version == "2.0":
            raise NotSupported(
                "This payer follows PDex 2.0, which has no bulk member match (it arrived in PDex 2.1); "
                "use Patient/$member-match, or switch the payer to PDex 2.1 or 2.2.",
                status=404,
            )
        if caller.kind != "token":
            raise access.Forbidden("Bulk member match needs the bearer token of a client of this payer.")
        application = operation_client(caller, BULK_SCOPES, "$bulk-member-match")
        if "respond-async" not in request.META.get("HTTP_PREFER", ""):
            raise InvalidResource(
                "Send Prefer: respond-async; $bulk-member-match runs asynchronously (PDex bulk member match).",
                expression="Prefer",
            )
        body = parse_json(read_body(request))
        try:
            job = bulk_member_match.start_job(request.tenant, application, body, request.build_absolute_uri())
        except member_match.MatchError as exc:
            return fhir_response(exc.outcome(), status=exc.status)
        response = HttpResponse(status=202)
        response["Content-Location"] = _status_url(request, job)
        return response


class BulkMatchStatusView(FhirView):
    """The status URL of a bulk match: GET polls (202 / 200 manifest / 500), DELETE cancels."""

    def dispatch(self, request, *args, **kwargs):
        if kwargs.get("kind"):
            # Output files are NDJSON (Accept: application/fhir+ndjson), not FHIR JSON.
            try:
                return View.dispatch(self, request, *args, **kwargs)
            except FhirError as exc:
                return error_response(exc)
        return super().dispatch(request, *args, **kwargs)

    def _job(self, request, job_id):
        caller = access.identify(request)
        if caller.kind != "token":
            raise access.Unauthorized(
                "This status URL needs the bearer token of the client that asked.",
                headers={"WWW-Authenticate": 'Bearer realm="FHIR"'},
            )
        job = BulkMatchJob.objects.filter(uuid=job_id).first()
        if job is None or job.status == BulkMatchJob.Status.CANCELLED:
            raise NotFound("There is no such bulk member match request.")
        if job.application_id != caller.token.application_id:
            raise access.Forbidden("This bulk member match was requested by another client.")
        return job

    def get(self, request, job_id, kind=None):
        job = self._job(request, job_id)
        if job.status in (BulkMatchJob.Status.QUEUED, BulkMatchJob.Status.RUNNING):
            response = HttpResponse(status=202)
            response["X-Progress"] = f"{job.members_done} of {job.members_total} members matched"
            response["Retry-After"] = "1"
            return response
        if job.status == BulkMatchJob.Status.FAILED:
            return outcome_response(500, "exception", f"The bulk member match failed: {job.error}")
        if kind is not None:
            return HttpResponse(
                bulk_member_match.ndjson(job, kind), content_type="application/fhir+ndjson; charset=utf-8"
            )
        return JsonResponse(bulk_member_match.manifest(job, _status_url(request, job)))

    def delete(self, request, job_id, kind=None):
        job = self._job(request, job_id)
        BulkMatchJob.objects.filter(pk=job.pk).update(status=BulkMatchJob.Status.CANCELLED)
        return HttpResponse(status=202)
