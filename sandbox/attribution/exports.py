"""
Attributed bulk download for providers on the bulk engine (sandbox.bulk.export):
`Group/[id]/$davinci-data-export` (ATR STU2.1 OperationDefinition davinci-data-export; PDex
2.1 Provider Access §"Provider Access API") and `Group/[id]/$export` when a provider calls it
(spec/bulk-data-and-attribution.md §6.4, §7.3, §7.4, §7.6).

What the payer enforces at kick-off:
- the list must be the caller's (otherwise it does not exist for it);
- a `patient` subset may name only attributed members of this list (active, not opted out);
  anything else refuses the whole request with an OperationOutcome naming the patient, and
  nothing is exported;
- `exportType` is one of EXPORT_TYPES; `provider-delta` needs `_since` (PDex 2.2 draft SHALL)
  unless the payer turned that off or the request is lenient, when it runs as a download;
- the data window starts at the payer's AttributionSettings.data_window_start: clinical data
  dated before it is left out (a `_typeFilter` on each type's date, undated resources kept).
When the job runs, members who opted out are dropped again (drop_opted_out). With `_since`, the
manifest's error file carries an informational OperationOutcome naming the members added to and
removed from the list since then (their Group versions are in Group/[id]/_history).

Another app may serve more exportType values on this route (payer-to-payer's `#payertopayer`)
by adding a handler to EXPORT_TYPE_HANDLERS in its AppConfig.ready().
"""

from datetime import datetime

from sandbox.attribution import lists, optout
from sandbox.attribution.access import provider_access
from sandbox.attribution.models import AttributionSettings
from sandbox.bulk import export, kickoff
from sandbox.fhirstore import access
from sandbox.fhirstore.errors import FhirError
from sandbox.fhirstore.search_parameters import DATE, get_param
from sandbox.oauth.scopes import ScopeSet

PDEX = "hl7.fhir.us.davinci-pdex"
ATR_EXPORT = "hl7.fhir.us.davinci-atr"
DOWNLOAD, DELTA, SNAPSHOT = f"{PDEX}#provider-download", f"{PDEX}#provider-delta", f"{PDEX}#provider-snapshot"
EXPORT_TYPES = (DOWNLOAD, DELTA, SNAPSHOT, ATR_EXPORT)
# exportType -> f(request, caller, group_id, pairs, lenient) -> HttpResponse, for other apps.
EXPORT_TYPE_HANDLERS = {}
# ATR §6.4: the attribution export SHALL support Patient and Coverage (and Group) and SHOULD the rest.
ATR_TYPES = ("Patient", "Coverage", "RelatedPerson", "Practitioner", "PractitionerRole", "Organization", "Location")
# Ballot-era names still in the ATR prose (§6.4), accepted as aliases.
ALIASES = {"memberReference": "patient", "resourceTypes": "_type", "filterQueries": "_typeFilter"}
# The clinical date each patient-compartment type is dated by, for the data window (§7.5).
WINDOW_PARAMS = {
    "AllergyIntolerance": "date",
    "CarePlan": "date",
    "CareTeam": "date",
    "Claim": "created",
    "ClaimResponse": "created",
    "Condition": "recorded-date",
    "DiagnosticReport": "date",
    "DocumentReference": "date",
    "Encounter": "date",
    "ExplanationOfBenefit": "created",
    "Immunization": "date",
    "MedicationDispense": "whenhandedover",
    "MedicationRequest": "authoredon",
    "Observation": "date",
    "Procedure": "date",
    "ServiceRequest": "authored",
}


class ExportRefused(FhirError):
    status, code = 400, "invalid"


def _issue(message, expression=None, severity="information", code="informational"):
    return [severity, code, message, expression]


def split_export_type(pairs):
    """(exportType or "", the other pairs with ballot-era aliases renamed)."""
    values = [v.strip() for k, v in pairs if k == "exportType" and v.strip()]
    if len(values) > 1:
        raise ExportRefused("exportType may appear only once.", expression="exportType")
    rest = [(ALIASES.get(k, k), v) for k, v in pairs if k != "exportType"]
    return (values[0] if values else ""), rest


def window_type_filters(params, window_start):
    """_typeFilter queries that keep data dated on or after `window_start` (and undated data)."""
    filters = {t: list(qs) for t, qs in (params.get("_typeFilter") or {}).items()}
    wanted = params.get("_type")
    for resource_type, code in WINDOW_PARAMS.items():
        param = get_param(resource_type, code)
        if param is None or param.type != DATE or (wanted is not None and resource_type not in wanted):
            continue
        bounds = [f"{code}=ge{window_start.isoformat()}", f"{code}:missing=true"]
        client = filters.get(resource_type) or [""]
        filters[resource_type] = [f"{q}&{b}" if q else b for q in client for b in bounds]
    return filters


def allowed_members(group_id, caller):
    """Members of the list this caller may export: active, attributed to it, not opted out."""
    members = lists.active_member_ids(group_id)
    limit = provider_access(caller)
    if limit is not None:
        allowed = limit.patient_ids
        return [p for p in members if p in allowed]
    out = optout.opted_out(members)
    return [p for p in members if p not in out]


def check_caller(caller, tenant):
    """401/403 as the bulk kick-off does: a client's bearer token that may read Group and some type."""
    if caller.kind != "token":
        raise access.Unauthorized(
            "Bulk Data export needs a bearer token of a client of this payer (SMART Backend Services).",
            headers={"WWW-Authenticate": 'Bearer realm="FHIR"'},
        )
    readable = caller.readable_types(tenant)
    if readable is not None and not readable:
        raise access.Forbidden("The access token's scopes allow reading no resource type.")
    if not ScopeSet(caller.scope).allows("Group", "read"):
        raise access.Forbidden("Exporting a group needs read access to Group (system/Group.rs or user/Group.rs).")
    return readable


def start_group_export(request, caller, group_id, pairs, *, operation, export_type=""):
    """
    Kick off an attributed export of one list (ATR davinci-data-export, Bulk group export);
    returns the ExportJob or raises FhirError. Checks are in the module docstring.
    """
    readable = check_caller(caller, request.tenant)
    limit = provider_access(caller)
    if limit is not None:
        limit.check("operation", "Group", group_id)
    elif caller.restriction is not None:
        # Another app restricts this client (payer-to-payer): it exports only through its handler.
        served = ", ".join(EXPORT_TYPE_HANDLERS) or "none"
        raise access.Forbidden(f"This client may export only with its own exportType ({served}).")
    tenant = request.tenant
    lenient = kickoff.is_lenient(request)
    extra = []
    if export_type and export_type not in EXPORT_TYPES:
        raise ExportRefused(
            f"exportType {export_type} is not served here; use one of {', '.join(EXPORT_TYPES)}.",
            expression="exportType",
            code="not-supported",
        )
    if export_type == ATR_EXPORT:
        pairs, atr_issues = _atr_types(pairs, lenient)
        extra += atr_issues
    params, issues = kickoff.parse(pairs, level="group", lenient=lenient)
    settings = AttributionSettings.for_tenant(tenant)
    if export_type == DELTA and not params["_since"]:
        if settings.require_since_for_delta and not lenient:
            raise ExportRefused(
                "exportType provider-delta needs _since (the time of your last download); "
                "send Prefer: handling=lenient to run it as a full download.",
                expression="_since",
            )
        extra.append(_issue("provider-delta without _since ran as a full download.", "_since", "warning"))

    members = allowed_members(group_id, caller)
    allowed = set(members)
    refused = [pid for pid in params.get("patient") or [] if pid not in allowed]
    if refused:
        names = ", ".join(f"Patient/{pid}" for pid in refused)
        raise ExportRefused(
            f"{names} {'is' if len(refused) == 1 else 'are'} not among the attributed members of Group/{group_id} "
            "that you may export; nothing was exported.",
            expression="patient",
            code="business-rule",
            status=422,
        )
    params["_typeFilter"] = window_type_filters(params, settings.data_window_start)
    if params["_since"]:
        extra.append(_changes_issue(group_id, params["_since"], allowed))
    return export.start_export(
        tenant=tenant,
        application=caller.token.application,
        level="group",
        params=params,
        request_url=request.build_absolute_uri(),
        group_id=group_id,
        patient_ids=members,
        types_allowed=readable,
        member_filter="sandbox.attribution.access.drop_opted_out",
        lenient=lenient,
        issues=[*issues, *extra],
        operation=operation,
    )


def start_patient_export(request, caller, pairs):
    """Patient/$export by a provider: the compartments of its attributed members only (§7.3)."""
    readable = check_caller(caller, request.tenant)
    limit = provider_access(caller)
    lenient = kickoff.is_lenient(request)
    params, issues = kickoff.parse(pairs, level="patient", lenient=lenient)
    allowed = limit.patient_ids
    refused = [pid for pid in params.get("patient") or [] if pid not in allowed]
    if refused:
        names = ", ".join(f"Patient/{pid}" for pid in refused)
        raise ExportRefused(
            f"{names} {'is' if len(refused) == 1 else 'are'} not attributed to you; nothing was exported.",
            expression="patient",
            code="business-rule",
            status=422,
        )
    settings = AttributionSettings.for_tenant(request.tenant)
    params["_typeFilter"] = window_type_filters(params, settings.data_window_start)
    return export.start_export(
        tenant=request.tenant,
        application=caller.token.application,
        level="patient",
        params=params,
        request_url=request.build_absolute_uri(),
        patient_ids=sorted(allowed),
        types_allowed=readable,
        member_filter="sandbox.attribution.access.drop_opted_out",
        lenient=lenient,
        issues=issues,
    )


def _atr_types(pairs, lenient):
    """ATR exportType: _type defaults to the attribution types; Group itself is served by read."""
    issues = []
    asked = [t.strip() for k, v in pairs if k == "_type" for t in v.split(",") if t.strip()]
    rest = [(k, v) for k, v in pairs if k != "_type"]
    if not asked:
        types = list(ATR_TYPES)
    else:
        missing = [t for t in ("Patient", "Coverage") if t not in asked]
        if missing and not lenient:
            raise ExportRefused(
                f"The attribution export (exportType {ATR_EXPORT}) needs _type to include Group, Patient and "
                f"Coverage; {', '.join(missing)} missing.",
                expression="_type",
            )
        types = [t for t in asked if t != "Group"] + missing
        if missing:
            issues.append(_issue(f"Added {', '.join(missing)} to _type (ATR).", "_type", "warning", "not-supported"))
    issues.append(
        _issue(
            "The attribution list itself is not in the files: read Group/[id] (its versions, in "
            "Group/[id]/_history, show each change).",
            "_type",
        )
    )
    return [*rest, ("_type", ",".join(types))], issues


def _changes_issue(group_id, since, allowed):
    changes = lists.changes_since(group_id, datetime.fromisoformat(since))
    added = [p for p in changes["added"] if p in allowed]
    added_text = ", ".join(f"Patient/{p}" for p in added) or "none"
    removed_text = ", ".join(f"Patient/{p}" for p in changes["removed"]) or "none"
    versions = f"version {changes['from_version'] or 'none'} to {changes['to_version']}"
    return _issue(
        f"Group/{group_id} changed since {since} ({versions}): members added: {added_text}; "
        f"members removed: {removed_text}. Resources of added members last updated before _since are "
        "not in this delta; fetch them with a patient subset.",
        "_since",
    )
