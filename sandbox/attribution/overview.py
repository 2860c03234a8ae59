"""
What the provider-access pages show: the attribution lists by provider, one provider's lists,
members and exports, and the changes providers made (ATR STU2.1 lists, PDex Provider Access).
Run inside the tenant's scope.
"""

import json

from sandbox.attribution import lists, optout, providers
from sandbox.attribution.models import AttributionChange, ProviderClient
from sandbox.fhirstore import store
from sandbox.fhirstore.models import Resource

MAX_EXPORTS = 50


def _identifier(group, system):
    for identifier in group.get("identifier") or []:
        if isinstance(identifier, dict) and identifier.get("system") == system:
            return str(identifier.get("value") or "")
    return ""


def _summary(row, group):
    active = lists.member_ids(group)
    every = lists.member_ids(group, active_only=False)
    return {
        "id": row.fhir_id,
        "name": group.get("name") or row.fhir_id,
        "status": lists.list_status(group),
        "npi": _identifier(group, providers.NPI_SYSTEM),
        "tin": _identifier(group, providers.TIN_SYSTEM),
        "active": len(active),
        "inactive": len(every) - len(active),
        "version": row.version_id,
        "last_updated": row.last_updated,
    }


def attribution_lists(group_ids=None):
    """Summaries of the ATR lists (Groups with a list status), optionally only `group_ids`."""
    rows = Resource.objects.filter(resource_type="Group", deleted=False, content__contains="ext-attributionListStatus")
    if group_ids is not None:
        rows = rows.filter(fhir_id__in=list(group_ids))
    out = []
    for row in rows.order_by("fhir_id"):
        group = json.loads(row.content)
        if lists.list_status(group) is not None:
            out.append(_summary(row, group))
    return out


def _members(group_id):
    group = store.read("Group", group_id).as_dict()
    bases = store.local_bases()
    entries = []
    for member in group.get("member") or []:
        pid = lists._member_patient(member, bases)
        if not pid:
            continue
        change = lists._extension(member, lists.CHANGE_URL) or {}
        provider = (lists._extension(member, lists.PROVIDER_URL) or {}).get("valueReference") or {}
        entries.append(
            {
                "patient_id": pid,
                "display": (member.get("entity") or {}).get("display", ""),
                "change": change.get("valueCode", ""),
                "provider": provider.get("reference", ""),
                "period": member.get("period") or {},
                "inactive": member.get("inactive") is True,
            }
        )
    out = optout.opted_out([e["patient_id"] for e in entries])
    for entry in entries:
        entry["opted_out"] = entry["patient_id"] in out
    return entries


def provider_page(npi, *, hide_opted_out=False):
    """
    One provider organization's lists (with members), its exports and the changes to its lists.
    `hide_opted_out` leaves opted-out members off the member tables (the provider's own view:
    PDex asks that an opt-out not be revealed).
    """
    from sandbox.bulk.models import ExportJob

    group_ids = providers.group_ids(npi)
    summaries = attribution_lists(group_ids)
    for summary in summaries:
        members = _members(summary["id"])
        summary["members"] = [m for m in members if not m["opted_out"]] if hide_opted_out else members
    applications = list(ProviderClient.objects.filter(organization_npi=npi).values_list("application_id", flat=True))
    exports = ExportJob.objects.filter(group_id__in=list(group_ids)) | ExportJob.objects.filter(
        application_id__in=applications
    )
    return {
        "npi": npi,
        "organizations": providers.organization_ids(npi),
        "lists": summaries,
        "exports": list(exports.select_related("application").order_by("-pk")[:MAX_EXPORTS]),
        "changes": list(AttributionChange.objects.filter(group_id__in=list(group_ids))[:100]),
    }
