"""
Member attribution lists as the dashboard edits them: Da Vinci ATR Groups (atr-group, ATR
STU2), one per provider organization, with per-member attributed provider, coverage
reference, period and change type, and the list status extension.

Run inside tenant_scope; writes go through sandbox.fhirstore.store.
"""

import datetime as dt
import json

from sandbox.fhirstore import store
from sandbox.fhirstore.models import Resource
from sandbox.fhirstore.search import filter_queryset
from sandbox.seeding.attribution import LIST_STATUSES
from sandbox.seeding.builders import ATR, concept, ref
from sandbox.seeding.identifiers import IDENTIFIER_TYPE_SYSTEM, NPI_SYSTEM, TIN_SYSTEM
from sandbox.seeding.payer import PAYER_ORG_ID
from sandbox.seeding.roster import current_coverage, display_name, read_patient

STATUS_URL = ATR + "ext-attributionListStatus"
CONTRACT_URL = ATR + "ext-contractValidityPeriod"
CHANGE_URL = ATR + "ext-changeType"
COVERAGE_URL = ATR + "ext-coverageReference"
PROVIDER_URL = ATR + "ext-attributedProvider"


class ListError(ValueError):
    """A change the list cannot take (explained in the message)."""


def provider_organizations():
    """(id, name) of provider organizations (Organization.type prov)."""
    matches, _u, _r = filter_queryset("Organization", [("type", "prov")])
    found = [json.loads(c) for c in matches.values_list("content", flat=True)]
    return sorted(((o["id"], o.get("name", o["id"])) for o in found), key=lambda item: item[1])


def list_status(group):
    for extension in group.get("extension", []):
        if extension.get("url") == STATUS_URL:
            return extension.get("valueCode", "")
    return ""


def attribution_lists():
    """Every ATR Group (Group with an attribution list status or the atr-group profile), by name."""
    groups = []
    for content in Resource.objects.filter(resource_type="Group", deleted=False).values_list("content", flat=True):
        group = json.loads(content)
        profiles = group.get("meta", {}).get("profile", [])
        if list_status(group) or any(p.endswith("atr-group") for p in profiles):
            groups.append(group)
    return sorted(groups, key=lambda g: g.get("name", g["id"]))


def read_list(group_id):
    """The ATR Group; NotFound / Gone when it does not exist."""
    return store.read("Group", group_id).as_dict()


def _identifiers(org):
    kept = []
    for identifier in org.get("identifier", []):
        system = identifier.get("system")
        if system == NPI_SYSTEM:
            kept.append(
                {
                    "use": "official",
                    "type": concept(IDENTIFIER_TYPE_SYSTEM, "NPI", "National provider identifier"),
                    "system": NPI_SYSTEM,
                    "value": identifier["value"],
                }
            )
        elif system == TIN_SYSTEM:
            kept.append(
                {
                    "use": "official",
                    "type": concept(IDENTIFIER_TYPE_SYSTEM, "TAX", "Tax ID number"),
                    "system": TIN_SYSTEM,
                    "value": identifier["value"],
                }
            )
    return kept


def create_list(tenant, *, organization_id, name, status, start, end):
    """Create an empty ATR Group for a provider organization; returns its id."""
    org = store.read("Organization", organization_id).as_dict()
    base = f"atr-{organization_id}"
    group_id, suffix = base, 1
    while Resource.objects.filter(resource_type="Group", fhir_id=group_id).exists():
        suffix += 1
        group_id = f"{base}-{suffix}"
    group = {
        "resourceType": "Group",
        "id": group_id,
        "meta": {"profile": [ATR + "atr-group"]},
        "extension": [
            {"url": CONTRACT_URL, "valuePeriod": {"start": start.isoformat(), "end": end.isoformat()}},
            {"url": STATUS_URL, "valueCode": status},
        ],
        "active": True,
        "type": "person",
        "actual": True,
        "name": name or f"{org.get('name', organization_id)} attribution list {start.year}",
        "managingEntity": ref("Organization", PAYER_ORG_ID, tenant.name),
        "quantity": 0,
    }
    identifiers = _identifiers(org)
    if identifiers:
        group["identifier"] = identifiers
    store.update("Group", group_id, group)
    return group_id


def attributed_organization(group):
    """The provider Organization a list belongs to: by NPI identifier, else any attributed provider."""
    npis = [i["value"] for i in group.get("identifier", []) if i.get("system") == NPI_SYSTEM]
    if npis:
        matches, _u, _r = filter_queryset("Organization", [("identifier", f"{NPI_SYSTEM}|{npis[0]}")])
        found = matches.values_list("fhir_id", flat=True).first()
        if found:
            return found
    return None


def add_member(group_id, patient_id, *, provider=None, start=None, end=None):
    """Attribute a member to the list (change type new), with their Coverage at this payer."""
    group = read_list(group_id)
    patient = read_patient(patient_id)
    if any(_entity_id(entry) == patient_id for entry in group.get("member", [])):
        raise ListError(f"{display_name(patient)} is already on this list.")
    coverage = current_coverage(patient_id)
    if coverage is None:
        raise ListError(f"{display_name(patient)} has no coverage at this payer; only covered members are attributed.")
    contract = next((e["valuePeriod"] for e in group.get("extension", []) if e.get("url") == CONTRACT_URL), {})
    start = start or dt.date.fromisoformat(contract.get("start", dt.date.today().isoformat()))
    period = {"start": start.isoformat()}
    if end or contract.get("end"):
        period["end"] = end.isoformat() if end else contract["end"]
    org_id = provider or attributed_organization(group)
    extensions = [
        {"url": CHANGE_URL, "valueCode": "new"},
        {"url": COVERAGE_URL, "valueReference": ref("Coverage", coverage["id"])},
    ]
    if org_id:
        extensions.append({"url": PROVIDER_URL, "valueReference": ref("Organization", org_id)})
    group.setdefault("member", []).append(
        {
            "extension": extensions,
            "entity": ref("Patient", patient_id, display_name(patient)),
            "period": period,
            "inactive": False,
        }
    )
    _save(group)


def _entity_id(entry):
    return entry.get("entity", {}).get("reference", "").removeprefix("Patient/")


def remove_member(group_id, patient_id):
    """Take a member off the list entirely (the list no longer names them)."""
    group = read_list(group_id)
    kept = [entry for entry in group.get("member", []) if _entity_id(entry) != patient_id]
    if len(kept) == len(group.get("member", [])):
        raise ListError(f"Patient/{patient_id} is not on this list.")
    if kept:
        group["member"] = kept
    else:
        group.pop("member", None)
    _save(group)


def set_status(group_id, status):
    """Set the list status (open, draft, final: ATR AttributionListStatus)."""
    if status not in LIST_STATUSES:
        raise ListError(f"The status must be one of {', '.join(LIST_STATUSES)}.")
    group = read_list(group_id)
    extensions = [e for e in group.get("extension", []) if e.get("url") != STATUS_URL]
    extensions.append({"url": STATUS_URL, "valueCode": status})
    group["extension"] = extensions
    _save(group)


def _save(group):
    group["quantity"] = sum(1 for entry in group.get("member", []) if not entry.get("inactive"))
    store.update("Group", group["id"], group)
