"""
Patient/$member-match (HRex 1.0.0 / 1.1.0 OperationDefinition member-match; PDex 2.0-2.2
"Payer-to-payer exchange"; spec/payer-to-payer.md §3 and §7.2-§7.6).

`parse` checks a member-match-in Parameters against the HRex profiles' required elements,
`find_members` matches on coverage identifiers plus normalised demographics (the rule of
sandbox.seeding.designed.member_match_keys), `evaluate_consent` applies the consent decision
flow, and `member_match` ties them together, stores the Consent and records the match for the
client. Errors are MatchError: 400 for a body that is not a member-match request at all, 422
with an OperationOutcome for the HRex/PDex failure cases (bad format, no match, several
matches, consent constraint); a 422 never names a member.
"""

import json
from dataclasses import dataclass, field

from django.utils import timezone

from sandbox.fhirstore import indexing, store
from sandbox.fhirstore.errors import FhirError
from sandbox.fhirstore.models import Resource, SearchDate, SearchString, SearchToken
from sandbox.payer2payer.models import ExchangeSettings, MatchedMember
from sandbox.payer2payer.restriction import SENSITIVE_CODES
from sandbox.seeding.designed import member_match_keys

OUTCOME_SYSTEM = "https://sandbox.connectathon.example/CodeSystem/member-match-outcome"
MB = {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MB", "display": "Member Number"}
UMB = {
    "system": "http://hl7.org/fhir/us/davinci-hrex/CodeSystem/hrex-temp",
    "code": "UMB",
    "display": "Member Match Unique Member Identifier",
}
POLICY_BASE = "http://hl7.org/fhir/us/davinci-hrex/StructureDefinition-hrex-consent.html#"
MATCH_SOURCE_SYSTEM = "https://sandbox.connectathon.example/fhir/ns/member-match-source-client"
# Pre-HRex-1.0 names (PDex STU1; FHIR-34038) mapped to the current ones.
LEGACY_NAMES = {"OldCoverage": "CoverageToMatch", "NewCoverage": "CoverageToLink"}
INPUTS = {"MemberPatient": "Patient", "CoverageToMatch": "Coverage", "CoverageToLink": "Coverage", "Consent": "Consent"}
MAX_CANDIDATES = 50


class MatchError(FhirError):
    """A $member-match failure: `reason` is the member-match-outcome code (bad-format, ...)."""

    def __init__(self, status, code, reason, diagnostics, expression=None):
        super().__init__(diagnostics, expression=expression, status=status, code=code)
        self.reason = reason
        self.expression = expression

    def outcome(self, warnings=()):
        issue = {
            "severity": "error",
            "code": self.code,
            "details": {"coding": [{"system": OUTCOME_SYSTEM, "code": self.reason}], "text": str(self)},
            "diagnostics": str(self),
        }
        if self.expression:
            issue["expression"] = [self.expression]
        return {"resourceType": "OperationOutcome", "issue": [issue, *warnings]}


def bad_request(diagnostics, expression=None):
    return MatchError(400, "invalid", "bad-format", diagnostics, expression)


def bad_format(diagnostics, expression=None):
    return MatchError(422, "required", "bad-format", diagnostics, expression)


@dataclass
class MatchRequest:
    patient: dict
    coverage_to_match: dict
    coverage_to_link: dict | None
    consent: dict | None
    where: str = "Parameters.parameter"  # FHIRPath prefix of the parts (bulk: MemberBundle[n].part)
    warnings: list = field(default_factory=list)

    def warn(self, text, expression=None):
        issue = {"severity": "warning", "code": "informational", "diagnostics": text}
        if expression:
            issue["expression"] = [expression]
        self.warnings.append(issue)


def _expr(where, name, path=""):
    return f"{where}.where(name='{name}').resource" + (f".{path}" if path else "")


def parse_parts(parts, where="Parameters.parameter"):
    """
    A MatchRequest from the parts of a member-match-in Parameters (or of one MemberBundle of
    a bulk request). Raises MatchError naming the part in `expression`.
    """
    found = {}
    for index, part in enumerate(parts):
        if not isinstance(part, dict) or not isinstance(part.get("name"), str):
            raise bad_request(f"Parameter {index} has no name.", f"{where}[{index}]")
        name = LEGACY_NAMES.get(part["name"], part["name"])
        if name not in INPUTS:
            raise bad_request(
                f"Unknown parameter '{part['name']}': $member-match takes MemberPatient, CoverageToMatch, "
                "CoverageToLink and Consent.",
                f"{where}[{index}]",
            )
        if name in found:
            raise bad_request(f"Parameter {name} is given more than once (it is 0..1 or 1..1).", _expr(where, name))
        resource = part.get("resource")
        if not isinstance(resource, dict):
            raise bad_request(f"Parameter {name} must carry a resource.", _expr(where, name))
        if resource.get("resourceType") != INPUTS[name]:
            raise bad_request(
                f"Parameter {name} must be a {INPUTS[name]}, not {resource.get('resourceType')!r}.",
                _expr(where, name, "resourceType"),
            )
        found[name] = resource
    for required in ("MemberPatient", "CoverageToMatch"):
        if required not in found:
            raise bad_format(f"The required parameter {required} is missing (HRex member-match-in).", where)
    request = MatchRequest(
        found["MemberPatient"], found["CoverageToMatch"], found.get("CoverageToLink"), found.get("Consent"), where
    )
    _check_patient(request)
    _check_coverage(request)
    if request.coverage_to_link is None:
        request.warn(
            "CoverageToLink is absent; a payer requesting member data SHALL send it (HRex mm-4).",
            _expr(where, "CoverageToLink"),
        )
    if request.consent is not None:
        _check_consent(request)
    _check_local_references(request)
    return request


def parse(parameters):
    """Parse a member-match-in Parameters body (dict)."""
    if not isinstance(parameters, dict) or parameters.get("resourceType") != "Parameters":
        raise bad_request("The body must be a Parameters resource (HRex member-match-in).", "Parameters")
    parts = parameters.get("parameter")
    if not isinstance(parts, list) or not parts:
        raise bad_request("Parameters.parameter is missing or empty.", "Parameters.parameter")
    return parse_parts(parts)


def _check_patient(request):
    patient, where = request.patient, request.where
    names = patient.get("name")
    if not isinstance(names, list) or not names or not isinstance(names[0], dict):
        raise bad_format(
            "MemberPatient needs a name (HRex patient demographics: name 1..*).", _expr(where, "MemberPatient", "name")
        )
    if not isinstance(names[0].get("family"), str) or not names[0]["family"].strip():
        raise bad_format("MemberPatient.name needs a family name.", _expr(where, "MemberPatient", "name.family"))
    given = names[0].get("given")
    if not isinstance(given, list) or not given or not all(isinstance(g, str) for g in given):
        raise bad_format("MemberPatient.name needs a given name.", _expr(where, "MemberPatient", "name.given"))
    birth = patient.get("birthDate")
    if not isinstance(birth, str):
        raise bad_format("MemberPatient needs a birthDate.", _expr(where, "MemberPatient", "birthDate"))
    try:
        indexing.date_range(birth)
    except ValueError:
        raise bad_format(
            f"MemberPatient.birthDate '{birth}' is not a FHIR date.", _expr(where, "MemberPatient", "birthDate")
        ) from None
    has_birthsex = any(
        isinstance(e, dict) and str(e.get("url", "")).endswith("us-core-birthsex")
        for e in patient.get("extension") or []
    )
    if not patient.get("gender") and not has_birthsex:
        raise bad_format(
            "MemberPatient needs gender or the US Core birthsex extension (HRex hrex-pat-1).",
            _expr(where, "MemberPatient", "gender"),
        )


def _check_coverage(request):
    coverage, where = request.coverage_to_match, request.where
    identifiers = coverage.get("identifier") or []
    has_identifier = isinstance(identifiers, list) and any(isinstance(i, dict) and i.get("value") for i in identifiers)
    if not has_identifier and not coverage.get("subscriberId"):
        raise bad_format(
            "CoverageToMatch needs a member identifier or a subscriberId (HRex hrex-cov-1).",
            _expr(where, "CoverageToMatch", "identifier"),
        )
    if not coverage.get("payor"):
        request.warn(
            "CoverageToMatch.payor is missing (HRex Coverage: payor 1..1).", _expr(where, "CoverageToMatch", "payor")
        )


def consent_policy(consent):
    """'regular', 'sensitive' or None from Consent.policy[].uri (HRex consent policy value set)."""
    for policy in consent.get("policy") or []:
        uri = policy.get("uri", "") if isinstance(policy, dict) else ""
        tail = uri.rsplit("#", 1)[-1] if "#" in uri else ""
        if tail in ("regular", "sensitive"):
            return tail
    return None


def consent_period(consent):
    """(start, end) datetimes of Consent.provision.period (end is the end of its precision)."""
    period = (consent.get("provision") or {}).get("period") or {}
    try:
        start = indexing.date_range(period["start"])[0] if period.get("start") else None
        end = indexing.date_range(period["end"])[1] if period.get("end") else None
    except (ValueError, TypeError):
        return None, None
    return start, end


def _check_consent(request):
    consent, where = request.consent, request.where
    if consent.get("status") != "active":
        raise bad_format("Consent.status must be active (HRex Consent).", _expr(where, "Consent", "status"))
    if consent_policy(consent) is None:
        raise bad_format(
            f"Consent.policy.uri must be {POLICY_BASE}regular or {POLICY_BASE}sensitive (HRex consent policy).",
            _expr(where, "Consent", "policy"),
        )
    provision = consent.get("provision")
    if not isinstance(provision, dict) or provision.get("type", "permit") != "permit":
        raise bad_format("Consent.provision.type must be permit.", _expr(where, "Consent", "provision.type"))
    start, end = consent_period(consent)
    if start is None or end is None:
        raise bad_format(
            "Consent.provision.period needs a valid start and end (HRex Consent).",
            _expr(where, "Consent", "provision.period"),
        )


def _check_local_references(request):
    # HRex mm-6: references to the member are local and resolve to MemberPatient. Inferno checks
    # it; the HRex 1.1 examples break it, so a mismatch is a warning, not a 422.
    local = f"Patient/{request.patient.get('id', '')}"
    checks = [("CoverageToMatch", "beneficiary", (request.coverage_to_match.get("beneficiary") or {}))]
    if request.consent is not None:
        checks.append(("Consent", "patient", request.consent.get("patient") or {}))
    for name, path, reference in checks:
        value = reference.get("reference", "") if isinstance(reference, dict) else ""
        if value and value != local and not value.endswith("/" + local):
            request.warn(
                f"{name}.{path} is {value!r}, which does not resolve to MemberPatient ({local}) (HRex mm-6).",
                _expr(request.where, name, path),
            )


# --- matching ----------------------------------------------------------------------------------


def _member_keys(patient_ids):
    """
    {patient id: (demographics, identifiers, Patient)} over each Patient and all its Coverages.
    `patient_ids` may be a subquery: the candidates and their resources then come in one query.
    """
    rows = Resource.objects.filter(
        patient_id__in=patient_ids, resource_type__in=("Patient", "Coverage"), deleted=False
    ).values_list("resource_type", "patient_id", "content")
    patients, coverages = {}, {}
    for resource_type, patient_id, content in rows:
        if resource_type == "Patient":
            patients[patient_id] = json.loads(content)
        else:
            coverages.setdefault(patient_id, []).append(json.loads(content))
    keys = {}
    for patient_id, patient in patients.items():
        demographics, identifiers = member_match_keys(patient)
        identifiers = set(identifiers)
        for coverage in coverages.get(patient_id, []):
            identifiers |= member_match_keys(patient, coverage)[1]
        keys[patient_id] = (demographics, identifiers, patient)
    return keys


def find_members(request):
    """
    The Patients that match a request: same normalised family name, first given name and
    birth date (and gender when sent), and at least one shared identifier among the Patient's
    and its Coverages' member ids and subscriber ids. Returns [(patient id, Patient dict)].
    """
    wanted, identifiers = member_match_keys(request.patient, request.coverage_to_match)
    # The candidate lookup goes through the string index, which folds case and accents but
    # keeps punctuation; member_match_keys then compares the fully normalised forms.
    family = request.patient["name"][0]["family"]
    low, high = indexing.date_range(request.patient["birthDate"])
    by_name = SearchString.objects.filter(
        resource_type="Patient", param="family", normalized=indexing.normalize(family)
    ).values("resource_id")
    candidates = SearchDate.objects.filter(
        resource_type="Patient", param="birthdate", low=low, high=high, resource_id__in=by_name
    ).values_list("resource__fhir_id", flat=True)[:MAX_CANDIDATES]
    # One round trip: the candidates are a subquery of the lookup of their Patients and Coverages.
    found = []
    for patient_id, (demographics, their_ids, patient) in sorted(_member_keys(candidates).items()):
        if demographics[:3] != wanted[:3]:
            continue
        if wanted[3] and demographics[3] and wanted[3] != demographics[3]:
            continue
        if identifiers & their_ids:
            found.append((patient_id, patient))
    return found


def _forced(config, request):
    """The outcome a payer forces for testing clients, or None to match for real."""
    override = config.match_override
    if override == ExchangeSettings.MatchOverride.NONE:
        return []
    if override == ExchangeSettings.MatchOverride.SEVERAL:
        return [("forced-1", {}), ("forced-2", {})]
    if override == ExchangeSettings.MatchOverride.ONE:
        real = find_members(request)
        if len(real) == 1:
            return real
        row = Resource.objects.filter(resource_type="Patient", deleted=False).order_by("pk").first()
        return [(row.fhir_id, json.loads(row.content))] if row else []
    return None


def has_sensitive_data(patient_id):
    return SearchToken.objects.filter(
        param="_security", code__in=SENSITIVE_CODES, resource__patient_id=patient_id, resource__deleted=False
    ).exists()


def evaluate_consent(config, request, patient_id, application=None, now=None):
    """
    The PDex consent decision for a matched member (payer-to-payer.md §3.3): returns the policy
    ('regular' or 'sensitive') to record, or raises MatchError 422 consent-constraint.
    """
    now = now or timezone.now()
    consent = request.consent
    if consent is None:
        if config.require_consent:
            raise bad_format(
                "Consent is required for payer-to-payer $member-match by this payer.", _expr(request.where, "Consent")
            )
        return MatchedMember.Policy.REGULAR
    policy = consent_policy(consent)
    start, end = consent_period(consent)
    if (start > now or end < now) and not config.enforce_consent_period:
        request.warn(
            "The consent's period does not cover today; accepted because this payer does not enforce it.",
            _expr(request.where, "Consent", "provision.period"),
        )
    elif start > now or end < now:
        raise MatchError(
            422,
            "business-rule",
            "consent-constraint",
            "The consent cannot be complied with: its period does not cover today.",
            _expr(request.where, "Consent", "provision.period"),
        )
    if (
        policy == "regular"
        and config.sensitive_data == ExchangeSettings.SensitiveData.UNLABELLED
        and has_sensitive_data(patient_id)
    ):
        raise MatchError(
            422,
            "business-rule",
            "consent-constraint",
            "The consent cannot be complied with: it allows only non-sensitive data (#regular), and this payer "
            "cannot separate the member's sensitive data.",
            _expr(request.where, "Consent", "policy"),
        )
    _check_recipient(config, request, application)
    return policy


def _recipient_identifiers(consent):
    out = set()
    for actor in (consent.get("provision") or {}).get("actor") or []:
        codes = {c.get("code") for c in ((actor.get("role") or {}).get("coding") or []) if isinstance(c, dict)}
        if "IRCP" in codes:
            identifier = (actor.get("reference") or {}).get("identifier") or {}
            if identifier.get("value"):
                out.add(str(identifier["value"]))
    return out


def _check_recipient(config, request, application):
    entry = getattr(application, "directory_entry", None) if application is not None else None
    if entry is None:
        return
    theirs = {v for v in (entry.npi, entry.naic, entry.tin) if v}
    named = _recipient_identifiers(request.consent)
    if named & theirs:
        return
    text = (
        f"The consent's recipient (IRCP actor: {', '.join(sorted(named)) or 'none'}) does not name the requesting "
        f"organization {entry.name} ({', '.join(sorted(theirs)) or 'no identifiers'})."
    )
    if config.strict_recipient:
        raise MatchError(
            422,
            "business-rule",
            "consent-constraint",
            "The consent cannot be complied with: " + text,
            _expr(request.where, "Consent", "provision.actor"),
        )
    request.warn(text, _expr(request.where, "Consent", "provision.actor"))


def member_identifier(patient, patient_id):
    """The member's business identifier (Patient identifier typed MB, else the first one)."""
    identifiers = [i for i in patient.get("identifier") or [] if isinstance(i, dict) and i.get("value")]
    chosen = None
    for identifier in identifiers:
        codes = {c.get("code") for c in ((identifier.get("type") or {}).get("coding") or [])}
        if codes & {"MB", "UMB"}:
            chosen = identifier
            break
    chosen = chosen or (identifiers[0] if identifiers else {"value": patient_id})
    out = {"type": {"coding": [MB, UMB]}}
    if chosen.get("system"):
        out["system"] = chosen["system"]
    out["value"] = chosen["value"]
    return out


def store_consent(match):
    """
    Write a matched member's accepted Consent into the payer's store, pointed at the local
    member and tagged with the client (HRex mm-13), and link it from the match. Runs after the
    match commits (tasks.store_consent_task), so that $member-match answers without paying for
    a FHIR write and its search index.
    """
    if not match.consent:
        return ""
    consent = {k: v for k, v in match.consent.items() if k not in ("id", "meta", "text", "contained")}
    consent["patient"] = {"reference": f"Patient/{match.patient_id}"}
    consent["performer"] = [{"reference": f"Patient/{match.patient_id}"}]
    consent["identifier"] = [{"system": MATCH_SOURCE_SYSTEM, "value": match.application.client_id}]
    try:
        if match.consent_id:
            stored, _ = store.update("Consent", match.consent_id, {**consent, "id": match.consent_id})
        else:
            stored, _ = store.create("Consent", consent)
    except FhirError:
        # A consent whose other elements do not validate still decided the match; it stays on the row.
        return ""
    MatchedMember.objects.filter(pk=match.pk).update(consent_id=stored.fhir_id)
    return stored.fhir_id


@dataclass
class MatchResult:
    patient_id: str
    identifier: dict
    policy: str
    warnings: list


def match_one(config, request, application=None):
    """Match one request and check its consent; returns MatchResult or raises MatchError."""
    members = _forced(config, request)
    if members is None:
        members = find_members(request)
    if not members:
        raise MatchError(422, "not-found", "no-match", "No member matches the demographics and coverage given.")
    if len(members) > 1:
        raise MatchError(
            422, "multiple-matches", "multiple-matches", "More than one member matches; add a member identifier."
        )
    patient_id, patient = members[0]
    policy = evaluate_consent(config, request, patient_id, application)
    return MatchResult(patient_id, member_identifier(patient, patient_id), policy, request.warnings)


def record_match(request, result, application):
    """Store the Consent and remember that `application` may read this member (within it)."""
    if application is None:
        return None
    from sandbox.payer2payer.tasks import store_consent_task

    start, end = consent_period(request.consent) if request.consent else (None, None)
    now = timezone.now()
    fields = {
        "member_identifier": result.identifier.get("value", ""),
        "policy": result.policy,
        "consent_start": start,
        "consent_end": end,
        "consent": request.consent,
        "coverage_to_link": request.coverage_to_link,
        "updated_at": now,
        "revoked_at": None,
    }
    # One upsert rather than update_or_create's lock, savepoint and write: this is the hot path
    # of $member-match (bench/member_match.py). created_at is set only when the row is new.
    (row,) = MatchedMember.objects.bulk_create(
        [
            MatchedMember(
                tenant_id=application.tenant_id, application=application, patient_id=result.patient_id, **fields
            )
        ],
        update_conflicts=True,
        unique_fields=["tenant", "application", "patient_id"],
        update_fields=list(fields),
    )
    if request.consent:
        store_consent_task.delay_on_commit(row.tenant_id, row.pk)
    return row


def response_parameters(tenant, result):
    """member-match-out: MemberIdentifier (MB and UMB), plus MemberId in PDex 2.2 mode (§7.2)."""
    parameters = [{"name": "MemberIdentifier", "valueIdentifier": result.identifier}]
    if tenant.pdex_version == "2.2":
        parameters.append({"name": "MemberId", "valueReference": {"reference": f"Patient/{result.patient_id}"}})
    return {"resourceType": "Parameters", "parameter": parameters}


def member_match(tenant, parameters, application=None):
    """
    Run $member-match for `application` (None: a signed-in member testing from the dashboard,
    nothing is recorded). Returns (Parameters dict, warnings) or raises MatchError.
    """
    request = parse(parameters)
    config = ExchangeSettings.for_tenant(tenant)
    # Callers run it inside the payer's tenant_scope, which is one transaction already.
    result = match_one(config, request, application)
    record_match(request, result, application)
    return response_parameters(tenant, result), result.warnings
