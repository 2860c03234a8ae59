"""
Members who opted out of provider access (PDex 2.1 §Provider Access "Member opt-out",
CMS-0057-F 42 CFR 422.121; spec/bulk-data-and-attribution.md §7.5).

Two records count, both re-read every time they are needed (a member may change their mind):
- a `pdex-provider-consent` Consent (or any active Consent in the provider-access purpose or
  the IDSCL category with scope patient-privacy); the latest one in force decides, `deny`
  opts out, `permit` opts back in, and no record means permit;
- membership of an active `pdex-member-opt-out` Group (PDex 2.2 draft).
Opt-outs are applied to every provider alike: the IG examples do not identify the provider of
a "provider-specific" opt-out reliably, and leaving a member out is the safe reading.
"""

import json

from django.utils import timezone

from sandbox.fhirstore import indexing, store
from sandbox.fhirstore.models import Resource

PDEX = "http://hl7.org/fhir/us/davinci-pdex/"
CONSENT_PROFILE = PDEX + "StructureDefinition/pdex-provider-consent"
OPT_OUT_GROUP_PROFILE = PDEX + "StructureDefinition/pdex-member-opt-out"
PURPOSE_SYSTEM = PDEX + "CodeSystem/pdex-consent-api-purpose"


def _codes(concepts):
    for concept in concepts if isinstance(concepts, list) else [concepts]:
        for coding in (concept or {}).get("coding") or [] if isinstance(concept, dict) else []:
            if isinstance(coding, dict):
                yield coding.get("system"), coding.get("code")


def _in_force(period, today):
    period = period if isinstance(period, dict) else {}
    start, end = str(period.get("start") or "")[:10], str(period.get("end") or "")[:10]
    return (not start or start <= today) and (not end or end >= today)


def is_provider_access_consent(consent):
    """Whether a Consent is about provider access (PDex pdex-provider-consent)."""
    profiles = (consent.get("meta") or {}).get("profile") or []
    if CONSENT_PROFILE in profiles:
        return True
    categories = set(_codes(consent.get("category") or []))
    if any(code == "provider-access" for _system, code in categories):
        return True
    scopes = {code for _s, code in _codes(consent.get("scope"))}
    return any(code == "IDSCL" for _s, code in categories) and "patient-privacy" in scopes


def _consent_decisions(patient_ids, today):
    rows = Resource.objects.filter(resource_type="Consent", deleted=False).exclude(patient_id="")
    if patient_ids is not None:
        rows = rows.filter(patient_id__in=list(patient_ids))
    latest = {}
    for patient_id, content, updated in rows.values_list("patient_id", "content", "last_updated"):
        consent = json.loads(content)
        provision = consent.get("provision") or {}
        if consent.get("status") != "active" or not is_provider_access_consent(consent):
            continue
        if not _in_force(provision.get("period"), today):
            continue
        key = (str((provision.get("period") or {}).get("start") or ""), updated)
        if patient_id not in latest or key > latest[patient_id][0]:
            latest[patient_id] = (key, provision.get("type"))
    return {pid for pid, (_key, decision) in latest.items() if decision == "deny"}


def _opt_out_group_members(today):
    bases = store.local_bases()
    members = set()
    rows = Resource.objects.filter(resource_type="Group", deleted=False, content__contains="pdex-member-opt-out")
    for content in rows.values_list("content", flat=True):
        group = json.loads(content)
        if OPT_OUT_GROUP_PROFILE not in ((group.get("meta") or {}).get("profile") or []):
            continue
        if group.get("active") is False:
            continue
        for member in group.get("member") or []:
            if not isinstance(member, dict) or member.get("inactive") is True:
                continue
            if not _in_force(member.get("period"), today):
                continue
            parsed = indexing.parse_reference((member.get("entity") or {}).get("reference"), bases)
            if parsed and parsed[0] == "Patient":
                members.add(parsed[1])
    return members


def opted_out(patient_ids=None, *, today=None):
    """
    The ids (of `patient_ids`, or of every patient when None) of members who have opted out of
    provider access today. Run inside the tenant's scope.
    """
    today = (today or timezone.localdate()).isoformat()
    out = _consent_decisions(patient_ids, today) | _opt_out_group_members(today)
    return out if patient_ids is None else out & set(patient_ids)


def record(patient_id, *, opt_out):
    """
    Record a member's choice as a `pdex-provider-consent` Consent (PDex 2.1 "Health Plans SHALL
    implement" it): `deny` to opt out of provider access, `permit` to opt back in. The latest
    Consent in force decides. Returns the stored Consent.
    """
    store.read("Patient", patient_id)  # NotFound for an unknown member
    today = timezone.localdate().isoformat()
    consent = {
        "resourceType": "Consent",
        "meta": {"profile": [CONSENT_PROFILE]},
        "status": "active",
        "scope": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]
        },
        "category": [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IDSCL"}]},
            {"coding": [{"system": PURPOSE_SYSTEM, "code": "provider-access"}]},
        ],
        "patient": {"reference": f"Patient/{patient_id}"},
        "dateTime": timezone.now().isoformat(),
        "provision": {
            "type": "deny" if opt_out else "permit",
            "period": {"start": today},
            "action": [
                {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentaction", "code": "disclose"}]}
            ],
        },
    }
    stored, _created = store.create("Consent", json.dumps(consent))
    return stored
