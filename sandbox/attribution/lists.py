"""
ATR attribution lists: members, versions and the reconciliation operations (Da Vinci ATR
STU2.1 §"Attribution List Operations", OperationDefinitions member-add, member-remove,
confirm-attribution-list and attribution-status; spec/bulk-data-and-attribution.md §6.2, §6.5).

Every change is a FHIR update of the Group, so the store keeps each list version
(history, vread) and `meta.lastUpdated` moves: `Group?_lastUpdated=gt...`,
`Group/[id]/_history?_since=...` and `changes_since()` show what changed. Operations run in
the tenant's scope and raise FhirError: 400 for malformed input, 422 (business-rule) for what
the payer refuses (a final list, a member it does not cover, a member not on the list).
"""

import json
from dataclasses import dataclass

from django.utils import timezone

from sandbox.attribution.models import AttributionChange
from sandbox.attribution.providers import NPI_SYSTEM
from sandbox.fhirstore import indexing, search, store
from sandbox.fhirstore.errors import FhirError, InvalidResource
from sandbox.fhirstore.models import Resource, ResourceVersion

ATR = "http://hl7.org/fhir/us/davinci-atr/StructureDefinition/"
STATUS_URL = ATR + "ext-attributionListStatus"
CHANGE_URL = ATR + "ext-changeType"
COVERAGE_URL = ATR + "ext-coverageReference"
PROVIDER_URL = ATR + "ext-attributedProvider"
EDITABLE = ("draft", "open")

# Parameter name -> the value[x] it must carry (the ATR OperationDefinitions).
PARAMETER_TYPES = {
    "memberId": "valueIdentifier",
    "providerNpi": "valueIdentifier",
    "patientReference": "valueReference",
    "providerReference": "valueReference",
    "attributionPeriod": "valuePeriod",
    "coverageReference": "valueReference",
}


class Refused(FhirError):
    """The payer refuses the change (ATR: "an OperationOutcome error with the reason")."""

    status, code = 422, "business-rule"


@dataclass(frozen=True)
class Actor:
    """Who asks: a provider (its NPI and the Organization ids carrying it) or the payer's side."""

    label: str
    is_provider: bool = False
    organization_npi: str = ""
    organization_ids: tuple = ()


# --- reading lists ----------------------------------------------------------------------


def _extension(element, url):
    for ext in element.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == url:
            return ext
    return None


def list_status(group):
    """draft | open | final, or None for a Group without the ATR status extension."""
    ext = _extension(group, STATUS_URL)
    return ext.get("valueCode") if ext else None


def _member_patient(member, bases):
    if not isinstance(member, dict):
        return None
    parsed = indexing.parse_reference((member.get("entity") or {}).get("reference"), bases)
    return parsed[1] if parsed and parsed[0] == "Patient" else None


def member_ids(group, *, active_only=True):
    """Patient ids of a Group's members (active ones only by default), in list order."""
    bases = store.local_bases()
    ids = []
    for member in group.get("member") or []:
        if active_only and isinstance(member, dict) and member.get("inactive") is True:
            continue
        pid = _member_patient(member, bases)
        if pid and pid not in ids:
            ids.append(pid)
    return ids


def active_member_ids(group_id):
    """Active members of the current version of a Group (none when it is missing or deleted)."""
    row = Resource.objects.filter(resource_type="Group", fhir_id=group_id, deleted=False).first()
    return member_ids(json.loads(row.content)) if row else []


def members_at(group_id, when):
    """Active members of the version of a Group current at `when` (empty before it existed)."""
    version = (
        ResourceVersion.objects.filter(resource_type="Group", fhir_id=group_id, last_updated__lte=when)
        .order_by("-version_id")
        .first()
    )
    if version is None or version.deleted:
        return [], None
    return member_ids(json.loads(version.content)), version.version_id


def changes_since(group_id, since):
    """
    How a list changed after `since`: {"added": [...], "removed": [...], "from_version",
    "to_version"} comparing the version current at `since` with the current one.
    """
    before, from_version = members_at(group_id, since)
    row = Resource.objects.filter(resource_type="Group", fhir_id=group_id).first()
    now = member_ids(json.loads(row.content)) if row and not row.deleted else []
    then = set(before)
    return {
        "added": [p for p in now if p not in then],
        "removed": [p for p in before if p not in set(now)],
        "from_version": from_version,
        "to_version": row.version_id if row else None,
    }


# --- operation input --------------------------------------------------------------------


def read_parameters(body):
    """{name: value} of an ATR operation's Parameters body, each value of its declared type."""
    if body is None:
        return {}
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise InvalidResource("The operation takes a FHIR Parameters resource.")
    values = {}
    for parameter in body.get("parameter") or []:
        name = parameter.get("name") if isinstance(parameter, dict) else None
        if name not in PARAMETER_TYPES:
            raise InvalidResource(f"Unknown parameter '{name}'.", expression=f"Parameters.parameter.{name}")
        kind = PARAMETER_TYPES[name]
        if not isinstance(parameter.get(kind), dict):
            raise InvalidResource(f"{name} takes {kind}.", expression=f"Parameters.parameter.{name}")
        if name in values:
            raise InvalidResource(f"{name} may appear only once.", expression=f"Parameters.parameter.{name}")
        values[name] = parameter[kind]
    return values


def _identifier_query(identifier):
    value = str(identifier.get("value") or "").strip()
    if not value:
        raise InvalidResource("The identifier has no value.")
    system = str(identifier.get("system") or "").strip()
    return f"{system}|{value}" if system else value


def _local_reference(reference, types, name):
    parsed = indexing.parse_reference(str((reference or {}).get("reference") or ""), store.local_bases())
    if not parsed or parsed[0] not in types:
        raise InvalidResource(f"{name} must reference a {' or '.join(types)} on this server.", expression=name)
    return parsed[0], parsed[1]


def resolve_patient(values):
    """The Patient id named by patientReference or memberId (member identifier on Patient or Coverage)."""
    if "patientReference" in values:
        _type, pid = _local_reference(values["patientReference"], ("Patient",), "patientReference")
        if not Resource.objects.filter(resource_type="Patient", fhir_id=pid, deleted=False).exists():
            raise Refused(f"Patient/{pid} is not a member of this payer.", expression="patientReference")
        return pid
    if "memberId" in values:
        query = _identifier_query(values["memberId"])
        found = search.match_ids("Patient", [("identifier", query)], limit=2)
        if not found:
            coverages = search.match_ids("Coverage", [("identifier", query)])
            found = sorted(
                set(
                    Resource.objects.filter(resource_type="Coverage", fhir_id__in=coverages, deleted=False)
                    .exclude(patient_id="")
                    .values_list("patient_id", flat=True)
                )
            )
        if len(found) != 1:
            problem = "matches no member" if not found else "matches more than one member"
            raise Refused(f"memberId {query} {problem} of this payer.", expression="memberId", code="not-found")
        return found[0]
    raise InvalidResource("Name the member with memberId or patientReference.")


def _overlaps(period, start, end):
    period = period if isinstance(period, dict) else {}
    p_start, p_end = str(period.get("start") or "")[:10], str(period.get("end") or "")[:10]
    return (not p_end or p_end >= start) and (not p_start or p_start <= end)


def covering_coverage(patient_id, attribution_period=None):
    """Id of an active Coverage of the patient with this payer over the attribution period."""
    today = timezone.localdate().isoformat()
    period = attribution_period or {}
    start = str(period.get("start") or today)[:10]
    end = str(period.get("end") or start)[:10]
    rows = Resource.objects.filter(resource_type="Coverage", patient_id=patient_id, deleted=False)
    for fhir_id, content in rows.order_by("pk").values_list("fhir_id", "content"):
        coverage = json.loads(content)
        if coverage.get("status") == "active" and _overlaps(coverage.get("period"), start, end):
            return fhir_id
    return None


def resolve_provider(values, actor):
    """
    The (type, id) of the attributed provider named by providerReference or providerNpi; a
    provider may only name its own organization or one of its practitioners (by role).
    Without either, a provider's own organization.
    """
    if "providerReference" in values:
        kind, pid = _local_reference(
            values["providerReference"], ("Organization", "Practitioner", "PractitionerRole"), "providerReference"
        )
        if not Resource.objects.filter(resource_type=kind, fhir_id=pid, deleted=False).exists():
            raise Refused(f"{kind}/{pid} does not exist.", expression="providerReference", code="not-found")
    elif "providerNpi" in values:
        npi = str(values["providerNpi"].get("value") or "").strip()
        system = values["providerNpi"].get("system")
        if not npi or (system and system != NPI_SYSTEM):
            raise InvalidResource(f"providerNpi is an identifier in {NPI_SYSTEM}.", expression="providerNpi")
        kind, pid = None, None
        for candidate in ("Organization", "Practitioner"):
            found = search.match_ids(candidate, [("identifier", f"{NPI_SYSTEM}|{npi}")], limit=1)
            if found:
                kind, pid = candidate, found[0]
                break
        if kind is None:
            raise Refused(f"No provider with NPI {npi} is known to this payer.", expression="providerNpi")
    elif actor.is_provider and actor.organization_ids:
        return "Organization", actor.organization_ids[0]
    else:
        raise InvalidResource("Name the attributed provider with providerNpi or providerReference.")
    if actor.is_provider and not _in_organization(kind, pid, actor.organization_ids):
        raise Refused(
            f"{kind}/{pid} is not part of the calling provider organization (NPI {actor.organization_npi}).",
            expression="providerReference" if "providerReference" in values else "providerNpi",
        )
    return kind, pid


def _in_organization(kind, pid, organization_ids):
    orgs = [f"Organization/{o}" for o in organization_ids]
    if not orgs:
        return False
    if kind == "Organization":
        return pid in organization_ids
    if kind == "PractitionerRole":
        return bool(search.match_ids("PractitionerRole", [("_id", pid), ("organization", ",".join(orgs))], limit=1))
    return bool(
        search.match_ids(
            "PractitionerRole", [("practitioner", f"Practitioner/{pid}"), ("organization", ",".join(orgs))], limit=1
        )
    )


# --- writing lists ----------------------------------------------------------------------


def _editable_group(group_id):
    stored = store.read("Group", group_id)
    group = stored.as_dict()
    status = list_status(group)
    if status is None:
        raise Refused(f"Group/{group_id} is not an ATR attribution list (no list status).")
    if status not in EDITABLE:
        raise Refused(
            f"Group/{group_id} is {status}; members can only be added or removed while a list is draft or open.",
            code="business-rule",
        )
    return stored, group


def _set_extension(element, url, key, value):
    ext = _extension(element, url)
    if ext is None:
        element.setdefault("extension", []).append({"url": url, key: value})
    else:
        ext.pop(next((k for k in list(ext) if k.startswith("value")), None), None)
        ext[key] = value


def _save(stored, group, *, operation, patient_id, actor, detail):
    group["quantity"] = len(member_ids(group))
    if not group.get("member"):
        group.pop("member", None)
    saved, _created = store.update("Group", stored.fhir_id, json.dumps(group), if_match=str(stored.version_id))
    AttributionChange.objects.create(
        group_id=stored.fhir_id,
        operation=operation,
        patient_id=patient_id,
        version_id=saved.version_id,
        organization_npi=actor.organization_npi,
        actor=actor.label[:255],
        detail=detail[:500],
    )
    return saved


def member_add(group_id, values, actor):
    """
    ATR $member-add: attribute a member to the list (draft or open only), with the attributed
    provider, the member's Coverage and the attribution period. Returns the new Group version.
    """
    stored, group = _editable_group(group_id)
    patient_id = resolve_patient(values)
    period = values.get("attributionPeriod")
    coverage_id = covering_coverage(patient_id, period)
    if coverage_id is None:
        when = f"{period.get('start', '')}..{period.get('end', '')}" if period else "today"
        raise Refused(
            f"Patient/{patient_id} has no active coverage with this payer for {when}; "
            "only covered members can be attributed.",
            expression="attributionPeriod" if period else None,
        )
    provider_type, provider_id = resolve_provider(values, actor)
    bases = store.local_bases()
    entry = next((m for m in group.get("member") or [] if _member_patient(m, bases) == patient_id), None)
    change = "new"
    if entry is None:
        entry = {"entity": {"reference": f"Patient/{patient_id}"}}
        group.setdefault("member", []).append(entry)
    elif entry.get("inactive") is not True:
        change = "changed"
    entry["inactive"] = False
    _set_extension(entry, CHANGE_URL, "valueCode", change)
    _set_extension(entry, COVERAGE_URL, "valueReference", {"reference": f"Coverage/{coverage_id}"})
    _set_extension(entry, PROVIDER_URL, "valueReference", {"reference": f"{provider_type}/{provider_id}"})
    if period:
        entry["period"] = period
    elif "period" not in entry:
        entry["period"] = {"start": timezone.localdate().isoformat()}
    detail = f"{change}: Patient/{patient_id} attributed to {provider_type}/{provider_id}"
    return _save(stored, group, operation="member-add", patient_id=patient_id, actor=actor, detail=detail)


def _matches(entry, values, bases):
    if "providerReference" in values or "providerNpi" in values:
        ext = _extension(entry, PROVIDER_URL) or {}
        target = indexing.parse_reference((ext.get("valueReference") or {}).get("reference"), bases)
        if "providerReference" in values:
            wanted = indexing.parse_reference(values["providerReference"].get("reference"), bases)
            if not target or not wanted or target[:2] != wanted[:2]:
                return False
        else:
            npi = str(values["providerNpi"].get("value") or "")
            if not target or not target[0]:
                return False
            found = search.match_ids(target[0], [("_id", target[1]), ("identifier", f"{NPI_SYSTEM}|{npi}")])
            if not found:
                return False
    if "coverageReference" in values:
        ext = _extension(entry, COVERAGE_URL) or {}
        have = indexing.parse_reference((ext.get("valueReference") or {}).get("reference"), bases)
        wanted = indexing.parse_reference(values["coverageReference"].get("reference"), bases)
        if not have or not wanted or have[:2] != wanted[:2]:
            return False
    return True


def member_remove(group_id, values, actor):
    """
    ATR $member-remove: on a draft list the member stays listed with inactive=true and
    changeType dropped; on an open list it is removed. Returns the new Group version.
    """
    stored, group = _editable_group(group_id)
    patient_id = resolve_patient(values)
    bases = store.local_bases()
    members = group.get("member") or []
    hits = [
        m
        for m in members
        if _member_patient(m, bases) == patient_id and m.get("inactive") is not True and _matches(m, values, bases)
    ]
    if not hits:
        raise Refused(
            f"Patient/{patient_id} is not an active member of Group/{group_id} for the provider and coverage given.",
            code="not-found",
        )
    if list_status(group) == "draft":
        for entry in hits:
            entry["inactive"] = True
            _set_extension(entry, CHANGE_URL, "valueCode", "dropped")
        how = "marked inactive (dropped)"
    else:
        group["member"] = [m for m in members if not any(m is h for h in hits)]
        how = "removed"
    detail = f"Patient/{patient_id} {how}"
    return _save(stored, group, operation="member-remove", patient_id=patient_id, actor=actor, detail=detail)


def confirm(group_id, actor):
    """
    ATR $confirm-attribution-list: the provider has finished reconciling; the list becomes
    final and inactive members are pruned. Returns (Group version, changed).
    """
    stored = store.read("Group", group_id)
    group = stored.as_dict()
    status = list_status(group)
    if status is None:
        raise Refused(f"Group/{group_id} is not an ATR attribution list (no list status).")
    if status == "final":
        return stored, False
    _set_extension(group, STATUS_URL, "valueCode", "final")
    kept = [m for m in group.get("member") or [] if not (isinstance(m, dict) and m.get("inactive") is True)]
    pruned = len(group.get("member") or []) - len(kept)
    group["member"] = kept
    detail = f"{status} -> final, {pruned} inactive member(s) pruned"
    saved = _save(stored, group, operation="confirm-attribution-list", patient_id="", actor=actor, detail=detail)
    return saved, True


def attribution_status(group_id, values, base, *, visible=None):
    """
    ATR $attribution-status: a collection Bundle of one member's attribution resources (the
    Patient, its Coverage, the attributed provider) on this list. `visible(patient_id)` says
    whether the caller may see that member at all (a provider: attributed and not opted out).
    """
    group = store.read("Group", group_id).as_dict()
    patient_id = resolve_patient(values)
    bases = store.local_bases()
    entry = next((m for m in group.get("member") or [] if _member_patient(m, bases) == patient_id), None)
    if entry is None or (visible is not None and not visible(patient_id)):
        raise Refused(f"Patient/{patient_id} is not a member of Group/{group_id}.", code="not-found")
    references = [("Patient", patient_id)]
    for url in (COVERAGE_URL, PROVIDER_URL):
        ext = _extension(entry, url) or {}
        parsed = indexing.parse_reference((ext.get("valueReference") or {}).get("reference"), bases)
        if parsed and parsed[0] and (parsed[0], parsed[1]) not in references:
            references.append((parsed[0], parsed[1]))
    entries = []
    for kind, fhir_id in references:
        row = Resource.objects.filter(resource_type=kind, fhir_id=fhir_id, deleted=False).first()
        if row is not None:
            entries.append({"fullUrl": f"{base}/{kind}/{fhir_id}", "resource": json.loads(row.content)})
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": timezone.now().isoformat().replace("+00:00", "Z"),
        "total": len(entries),
        "entry": entries,
    }
