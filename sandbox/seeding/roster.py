"""
The payer's members as the dashboard edits them: a Patient with an MB member identifier and
the Coverage at this payer whose beneficiary it is.

Every function runs inside tenant_scope and writes only through sandbox.fhirstore.store, so
the search index and history stay right and one failing write rolls back the whole change.
"""

import datetime as dt
import json
import secrets
from dataclasses import dataclass
from types import SimpleNamespace

from django.db.models import Count

from sandbox.fhirstore import store
from sandbox.fhirstore.errors import FhirError
from sandbox.fhirstore.models import Resource, SearchReference
from sandbox.fhirstore.search import filter_queryset
from sandbox.seeding import designed, payer
from sandbox.seeding.builders import CARIN_BB, US_CORE, concept, ref
from sandbox.seeding.identifiers import DEFAULT_IDENTIFIER_BASE, member_id_prefix
from sandbox.seeding.members import RELATIONSHIP_CS, member_identifier

RELATIONSHIPS = {"self": "Self", "spouse": "Spouse", "child": "Child", "other": "Other"}
PAYER_ORG = f"Organization/{payer.PAYER_ORG_ID}"


class MemberConflict(ValueError):
    """The member id belongs to another member."""


@dataclass(frozen=True)
class MemberRow:
    patient_id: str
    name: str
    birth_date: str
    gender: str
    member_id: str


def the_payer(tenant):
    """The generator's Payer for this tenant (member id system, NPI, plans), from its seed."""
    from sandbox.seeding.populate import seed_of

    _members, seed = seed_of(tenant)
    return payer.build_payer(slug=tenant.slug, name=tenant.name, seed=seed, identifier_base=DEFAULT_IDENTIFIER_BASE)


def display_name(patient):
    name = (patient.get("name") or [{}])[0]
    return " ".join([*name.get("given", []), name.get("family", "")]).strip() or patient.get("id", "")


def member_id_of(patient_or_coverage):
    """The value of the MB (member number) identifier, or of the first identifier."""
    identifiers = patient_or_coverage.get("identifier") or []
    for identifier in identifiers:
        for coding in (identifier.get("type") or {}).get("coding", []):
            if coding.get("code") == "MB":
                return identifier.get("value", "")
    return identifiers[0].get("value", "") if identifiers else ""


def _row(resource_row):
    patient = json.loads(resource_row.content)
    return MemberRow(
        patient_id=resource_row.fhir_id,
        name=display_name(patient),
        birth_date=patient.get("birthDate", ""),
        gender=patient.get("gender", ""),
        member_id=member_id_of(patient),
    )


def search_members(query=""):
    """Patients (queryset of Resource rows, by id) whose name starts with `query` or whose member id is `query`."""
    patients = Resource.objects.filter(resource_type="Patient", deleted=False)
    query = query.strip()
    if query:
        # Commas and pipes mean OR and system|code to FHIR search; typed into a search box they are just text.
        text = query.replace(",", " ").replace("|", " ").replace("\\", " ").strip()
        matching = []
        for param, value in (("name", text), ("identifier", text), ("identifier", text.upper())):
            if value:
                try:
                    matching.append(filter_queryset("Patient", [(param, value)])[0].values("pk"))
                except FhirError:
                    continue
        if not matching:
            return patients.none()
        patients = patients.filter(pk__in=matching[0].union(*matching[1:]))
    return patients.order_by("fhir_id")


def rows(resource_rows):
    return [_row(row) for row in resource_rows]


def read_patient(patient_id):
    """The member's Patient as a dict; NotFound / Gone when there is no such member."""
    return store.read("Patient", patient_id).as_dict()


def coverages(patient_id):
    """Every Coverage whose beneficiary is the member, current first."""
    matches, _u, _r = filter_queryset("Coverage", [("beneficiary", f"Patient/{patient_id}")])
    found = [json.loads(content) for content in matches.order_by("fhir_id").values_list("content", flat=True)]
    return sorted(found, key=lambda c: (not _is_ours(c), c.get("status") != "active", c["id"]))


def _is_ours(coverage):
    return any(p.get("reference") == PAYER_ORG for p in coverage.get("payor", []))


def current_coverage(patient_id):
    """The member's Coverage at this payer, or None."""
    ours = [c for c in coverages(patient_id) if _is_ours(c)]
    return ours[0] if ours else None


def data_counts(patient_id):
    """Resources in the member's patient compartment, per type."""
    return dict(
        Resource.objects.filter(patient_id=patient_id, deleted=False)
        .values_list("resource_type")
        .annotate(n=Count("pk"))
        .order_by("resource_type")
    )


def member_match_request(tenant, patient, coverage):
    """A copy-ready HRex member-match-in Parameters that finds this member at this payer."""
    name = (patient.get("name") or [{}])[0]
    the = the_payer(tenant)
    birth = patient.get("birthDate") or "1900-01-01"

    # member_match_request needs only these three attributes of a generator context.
    context = SimpleNamespace(payer=the, seed="member-match", reference_date=dt.date.today())
    return designed.member_match_request(
        context,
        family=name.get("family", ""),
        given=tuple(name.get("given", [])),
        birth_date=dt.date.fromisoformat(birth[:10]) if len(birth) >= 10 else dt.date(int(birth[:4]), 1, 1),
        gender=patient.get("gender", "unknown"),
        member_id=member_id_of(patient) or None,
        subscriber_id=(coverage or {}).get("subscriberId") or member_id_of(patient),
        request_id=patient["id"],
    )


def plans():
    """(id, name) of the payer's insurance plans (usdf-PayerInsurancePlan), for the coverage form."""
    found = []
    for content in Resource.objects.filter(resource_type="InsurancePlan", deleted=False).values_list(
        "content", flat=True
    ):
        plan = json.loads(content)
        if any(p.endswith("usdf-PayerInsurancePlan") for p in plan.get("meta", {}).get("profile", [])):
            found.append((plan["id"], plan.get("name", plan["id"])))
    return sorted(found, key=lambda item: item[1])


def _member_id_owner(system, value):
    ids = filter_queryset("Patient", [("identifier", f"{system}|{value}")])[0].values_list("fhir_id", flat=True)
    return next(iter(ids), None)


def _new_member_id(tenant):
    prefix = member_id_prefix(tenant.slug)
    system = the_payer(tenant).member_system
    while True:
        # Dashboard members get an M after the prefix, so they never collide with generated ones.
        candidate = f"{prefix}M{secrets.randbelow(10**7):07d}"
        if _member_id_owner(system, candidate) is None:
            return candidate


def save_member(tenant, data, patient_id=None):
    """
    Create or update a member: their Patient and their Coverage at this payer; returns the Patient id.

    `data` holds family, given, gender, birth_date, member_id (blank: assigned), phone, email, line,
    city, state, postal_code, plan_id, relationship, subscriber_id (blank: the member id),
    coverage_start and coverage_end. Elements the form does not manage are kept on update.
    Raises MemberConflict when the member id belongs to someone else, InvalidResource when the
    store rejects a resource; nothing is written then (the caller's tenant_scope rolls back).
    """
    the = the_payer(tenant)
    system = the.member_system
    member_id = (data.get("member_id") or "").strip() or _new_member_id(tenant)
    owner = _member_id_owner(system, member_id)
    if owner is not None and owner != patient_id:
        raise MemberConflict(f"Member id {member_id} already belongs to Patient/{owner}.")

    if patient_id:
        patient = read_patient(patient_id)
        coverage = current_coverage(patient_id)
    else:
        patient_id = f"pat-{secrets.token_hex(6)}"
        patient = {
            "resourceType": "Patient",
            "id": patient_id,
            "meta": {"profile": [US_CORE + "us-core-patient", CARIN_BB + "C4BB-Patient"]},
            "active": True,
            "managingOrganization": ref("Organization", payer.PAYER_ORG_ID, tenant.name),
        }
        coverage = None

    identifiers = [
        i
        for i in patient.get("identifier", [])
        if i.get("system") != system and member_id_of({"identifier": [i]}) != i.get("value")
    ]
    patient["identifier"] = [
        member_identifier(system, member_id, ref("Organization", payer.PAYER_ORG_ID, tenant.name)),
        *identifiers,
    ]
    patient["name"] = [{"use": "official", "family": data["family"], "given": data["given"].split()}]
    patient["gender"] = data["gender"]
    patient["birthDate"] = data["birth_date"].isoformat()
    telecom = [t for t in patient.get("telecom", []) if t.get("system") not in ("phone", "email")]
    if data.get("phone"):
        telecom.insert(0, {"system": "phone", "value": data["phone"], "use": "home"})
    if data.get("email"):
        telecom.append({"system": "email", "value": data["email"]})
    if telecom:
        patient["telecom"] = telecom
    else:
        patient.pop("telecom", None)
    address = {
        key: value
        for key, value in (
            ("use", "home"),
            ("line", [data["line"]] if data.get("line") else None),
            ("city", data.get("city")),
            ("state", data.get("state")),
            ("postalCode", data.get("postal_code")),
            ("country", "US"),
        )
        if value
    }
    if len(address) > 2:
        patient["address"] = [address]
    store.update("Patient", patient_id, patient)

    coverage = _coverage(tenant, the, coverage, patient_id, member_id, data)
    store.update("Coverage", coverage["id"], coverage)
    return patient_id


def _coverage(tenant, the, coverage, patient_id, member_id, data):
    plan_id = data["plan_id"]
    plan = store.read("InsurancePlan", plan_id).as_dict()
    start, end = data["coverage_start"], data.get("coverage_end")
    if coverage is None:
        coverage = {
            "resourceType": "Coverage",
            "id": f"cov-{patient_id.removeprefix('pat-')}",
            "meta": {
                "profile": [
                    US_CORE + "us-core-coverage",
                    CARIN_BB + "C4BB-Coverage",
                    "http://hl7.org/fhir/us/davinci-hrex/StructureDefinition/hrex-coverage",
                ]
            },
            "type": concept("http://terminology.hl7.org/CodeSystem/v3-ActCode", "HIP", "health insurance plan policy"),
            "policyHolder": ref("Patient", patient_id),
            "subscriber": ref("Patient", patient_id),
            "beneficiary": ref("Patient", patient_id),
            "payor": [ref("Organization", payer.PAYER_ORG_ID, tenant.name)],
        }
    relationship = data.get("relationship") or "self"
    coverage["identifier"] = [member_identifier(the.member_system, member_id)]
    coverage["status"] = "active" if end is None or end >= dt.date.today() else "cancelled"
    coverage["subscriberId"] = (data.get("subscriber_id") or "").strip() or member_id
    coverage["relationship"] = concept(RELATIONSHIP_CS, relationship, RELATIONSHIPS[relationship])
    coverage["period"] = {"start": start.isoformat(), **({"end": end.isoformat()} if end else {})}
    plan_identifier = (plan.get("identifier") or [{}])[0].get("value", plan_id)
    coverage["class"] = [
        {
            "type": concept("http://terminology.hl7.org/CodeSystem/coverage-class", "plan", "Plan"),
            "value": plan_identifier,
            "name": plan.get("name", plan_id),
        }
    ]
    coverage["extension"] = [
        e for e in coverage.get("extension", []) if not e.get("url", "").endswith("Coverage.insurancePlan")
    ] + [
        {
            "url": "http://hl7.org/fhir/5.0/StructureDefinition/extension-Coverage.insurancePlan",
            "valueReference": ref("InsurancePlan", plan_id, plan.get("name")),
        }
    ]
    return coverage


def _move_shared_related_persons(patient_id, ids):
    """
    The member's RelatedPersons that another member's records still point at, moved to that
    member instead of deleted: dependants on one policy (the designed twins) share their
    subscriber, whose RelatedPerson sits in the first one's compartment. Deleting it would leave
    the other's Coverage.subscriber and policyHolder dangling. Returns the moved (type, id) keys.
    """
    related = [fhir_id for resource_type, fhir_id in ids if resource_type == "RelatedPerson"]
    if not related:
        return set()
    users = (
        SearchReference.objects.filter(target_type="RelatedPerson", target_id__in=related, resource__deleted=False)
        .exclude(resource__patient_id__in=("", patient_id))
        .order_by("resource__patient_id")
        .values_list("target_id", "resource__patient_id")
    )
    new_patient = {}
    for fhir_id, other in users:
        new_patient.setdefault(fhir_id, other)
    for fhir_id, other in sorted(new_patient.items()):
        resource = store.read("RelatedPerson", fhir_id).as_dict()
        resource["patient"] = {"reference": f"Patient/{other}"}
        store.update("RelatedPerson", fhir_id, resource)
    return {("RelatedPerson", fhir_id) for fhir_id in new_patient}


def delete_member(patient_id):
    """
    Delete a member and all their data: every resource in their patient compartment (history is
    kept, as FHIR delete does) and their entries on attribution lists. Returns the count deleted.
    """
    store.read("Patient", patient_id)
    ids = list(
        Resource.objects.filter(patient_id=patient_id, deleted=False)
        .exclude(resource_type="Patient")
        .values_list("resource_type", "fhir_id")
    )
    moved = _move_shared_related_persons(patient_id, ids)
    ids = [(resource_type, fhir_id) for resource_type, fhir_id in ids if (resource_type, fhir_id) not in moved]
    for resource_type, fhir_id in ids:
        store.delete(resource_type, fhir_id)
    groups = set(
        SearchReference.objects.filter(
            resource_type="Group", param="member", target_type="Patient", target_id=patient_id
        ).values_list("resource__fhir_id", flat=True)
    )
    from sandbox.seeding import attribution_lists

    for group_id in sorted(groups):
        attribution_lists.remove_member(group_id, patient_id)
    store.delete("Patient", patient_id)
    return len(ids) + 1
