"""
Group/[id]/$davinci-data-export with exportType `hl7.fhir.us.davinci-pdex#payertopayer` (ATR
OperationDefinition davinci-data-export; PDex 2.1 "Payer-to-payer bulk exchange" data export;
spec/payer-to-payer.md §4.2), on the bulk engine (sandbox.bulk.export).

The route belongs to the attribution app (Group/[id]/$davinci-data-export for providers); this
module is its handler for the payer-to-payer exportType (attribution.exports.EXPORT_TYPE_HANDLERS).

- Only the client's own matched Group (from its $bulk-member-match) can be exported; any other
  Group does not exist for it.
- Members are those of the Group whose consent for this client is still in force, checked at
  kick-off and again when the job runs (§pdex-156: consent is re-checked at export time).
- The payer's data window (ExchangeSettings.data_window_years) is enforced server-side on the
  date of service, independently of `_since` (PDex 2.2: never rewrite `_since`).
- Sensitive data is left out unless every exported member's consent is #sensitive and the payer
  labels it (the same rule as the post-match restriction).
"""

from django.utils import timezone

from sandbox.bulk import export, kickoff
from sandbox.fhirstore import access
from sandbox.fhirstore.errors import NotFound
from sandbox.fhirstore.search_parameters import get_param
from sandbox.payer2payer.models import MatchedMember
from sandbox.payer2payer.restriction import SENSITIVE_CODES, SERVICE_DATE, MemberRestriction

EXPORT_TYPE = "hl7.fhir.us.davinci-pdex#payertopayer"


def type_filters(params, window_start, exclude_sensitive):
    """_typeFilter queries adding the data window and, if asked, the sensitive-data exclusion."""
    filters = {t: list(qs) for t, qs in (params.get("_typeFilter") or {}).items()}
    wanted = params.get("_type")
    types = set(SERVICE_DATE) | (set(export.PATIENT_LEVEL_TYPES) if exclude_sensitive else set())
    for resource_type in sorted(types):
        if wanted is not None and resource_type not in wanted:
            continue
        bounds = []
        code = SERVICE_DATE.get(resource_type)
        if code and get_param(resource_type, code) is not None:
            bounds = [f"{code}=ge{window_start.date().isoformat()}", f"{code}:missing=true"]
        if exclude_sensitive:
            sensitive = f"_security:not={','.join(SENSITIVE_CODES)}"
            bounds = [f"{b}&{sensitive}" for b in bounds] or [sensitive]
        client = filters.get(resource_type) or [""]
        filters[resource_type] = [f"{q}&{b}" if q else b for q in client for b in bounds]
    return filters


def consented_members(tenant, job, patient_ids):
    """member_filter run by the export worker: keep members whose consent is still in force."""
    now = timezone.now()
    active = {
        row.patient_id
        for row in MatchedMember.objects.filter(application_id=job.application_id, revoked_at__isnull=True)
        if row.is_active(now)
    }
    if patient_ids is None:
        return sorted(active)
    return [p for p in patient_ids if p in active]


def kickoff_export(request, caller, group_id, pairs, lenient):
    """The EXPORT_TYPE_HANDLERS entry for #payertopayer: start the job, answer 202."""
    if caller.kind != "token":
        raise access.Unauthorized(
            "Payer-to-payer data export needs the bearer token of the client that matched the members.",
            headers={"WWW-Authenticate": 'Bearer realm="FHIR"'},
        )
    restriction = caller.restriction
    if not isinstance(restriction, MemberRestriction) or group_id not in restriction.group_ids:
        raise NotFound(f"Group/{group_id} does not exist.")
    tenant = request.tenant
    params, issues = kickoff.parse(pairs, level="group", lenient=lenient)
    members = sorted(restriction.patient_ids)
    exclude_sensitive = bool(restriction.regular_ids & restriction.patient_ids)
    params["_typeFilter"] = type_filters(params, restriction.window_start, exclude_sensitive)
    job = export.start_export(
        tenant=tenant,
        application=caller.token.application,
        level="group",
        params=params,
        request_url=request.build_absolute_uri(),
        group_id=group_id,
        patient_ids=members,
        types_allowed=caller.readable_types(tenant),
        member_filter="sandbox.payer2payer.data_export.consented_members",
        lenient=lenient,
        issues=issues,
        operation="davinci-data-export",
    )
    return export.kickoff_response(request, job)
