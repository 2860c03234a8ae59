"""
The search-parameter registry: which parameters each served resource type has, where their
values live in the resource, and which canonical SearchParameter defines them.

Definitions are hand-written from FHIR R4 core plus the guides this sandbox serves: US Core
3.1.1 / 6.1, CARIN Blue Button (ExplanationOfBenefit), Da Vinci PDex 2.0-2.2, Da Vinci ATR and
US Drug Formulary 2.0.1 / 2.1.0 (see ../shared/spec/). Paths are a small FHIRPath subset:
dotted element names, `extension('url')`, and `name[x]` for choice elements, alternatives
separated by ` | `. The store walks them at write time to fill the search-index tables.

Only types listed here are served; every other type is answered with 404.
"""

import re
from dataclasses import dataclass, field

TOKEN, STRING, REFERENCE, DATE, QUANTITY, URI, NUMBER = (
    "token",
    "string",
    "reference",
    "date",
    "quantity",
    "uri",
    "number",
)
# token$token composites, indexed as "code$code" tokens (e.g. Group characteristic-value).
COMPOSITE = "composite"

CORE = "http://hl7.org/fhir/SearchParameter/"
US_CORE = "http://hl7.org/fhir/us/core/SearchParameter/us-core-"
CARIN = "http://hl7.org/fhir/us/carin-bb/SearchParameter/explanationofbenefit-"
USDF = "http://hl7.org/fhir/us/davinci-drug-formulary/SearchParameter/"
PDEX = "http://hl7.org/fhir/us/davinci-pdex/SearchParameter/pdex-"
SANDBOX = "http://sandbox.connectathon.example/fhir/SearchParameter/"

USDF_EXT = "http://hl7.org/fhir/us/davinci-drug-formulary/StructureDefinition/"
US_CORE_EXT = "http://hl7.org/fhir/us/core/StructureDefinition/"


@dataclass(frozen=True)
class SearchParam:
    resource_type: str
    code: str
    type: str
    expression: str
    url: str
    targets: tuple = ()
    source: str = "core"
    # Stored on the resource row itself, not in an index table.
    column: str = ""
    # For composites: the element paths, relative to `expression`, of the two token parts.
    components: tuple = ()
    paths: tuple = field(default=(), compare=False)

    @property
    def documentation(self):
        return f"{self.type} on {self.expression}"


_STEP = re.compile(r"extension\('[^']*'\)|[A-Za-z_]+(?:\[x\])?")


def _compile(expression):
    return tuple(tuple(_STEP.findall(alt.strip())) for alt in expression.split("|"))


def evaluate(resource, param):
    """Values of `param` in a resource dict (a flat list of dicts and primitives)."""
    out = []
    for steps in param.paths:
        first = steps[0] if steps else ""
        # Most parameters of a type are absent from any one resource: skip them cheaply.
        if first and not first.endswith("[x]") and not first.startswith("extension(") and first not in resource:
            continue
        nodes = [resource]
        for step in steps:
            nxt = []
            for node in nodes:
                if not isinstance(node, dict):
                    continue
                if step.startswith("extension('"):
                    url = step[11:-2]
                    nxt.extend(e for e in node.get("extension") or () if isinstance(e, dict) and e.get("url") == url)
                elif step.endswith("[x]"):
                    prefix = step[:-3]
                    for key, value in node.items():
                        if key.startswith(prefix) and key[len(prefix) : len(prefix) + 1].isupper():
                            _extend(nxt, value)
                else:
                    _extend(nxt, node.get(step))
            nodes = nxt
        out.extend(nodes)
    return out


def _extend(out, value):
    if value is None:
        return
    if isinstance(value, list):
        out.extend(v for v in value if v is not None)
    else:
        out.append(value)


# Code-system aliases: the formulary IG's examples, RI seed data and published CodeSystems
# disagree on a "-TEMPORARY-TRIAL-USE" suffix (spec/formulary.md §3), and the STU1-era client
# still sends usdf-PharmacyTypeCS. Index and query both go through this, so any spelling matches.
_SYSTEM_ALIASES = {
    "http://hl7.org/fhir/us/davinci-drug-formulary/CodeSystem/usdf-PharmacyTypeCS": (
        "http://hl7.org/fhir/us/davinci-drug-formulary/CodeSystem/usdf-PharmacyBenefitTypeCS"
    ),
}


def canonical_system(system):
    """The spelling of a code system used in the token index."""
    if not system:
        return system
    if system.startswith("http://hl7.org/fhir/us/davinci-drug-formulary/") and system.endswith("-TEMPORARY-TRIAL-USE"):
        system = system[: -len("-TEMPORARY-TRIAL-USE")]
    return _SYSTEM_ALIASES.get(system, system)


# (resource types, code, type, expression, source, targets)
_CLINICAL_PATIENT = "patient"
_DEFS = [
    # AllergyIntolerance (US Core: clinical-status, patient)
    ("AllergyIntolerance", "patient", REFERENCE, "patient", "us-core", ("Patient",)),
    ("AllergyIntolerance", "clinical-status", TOKEN, "clinicalStatus", "us-core"),
    ("AllergyIntolerance", "verification-status", TOKEN, "verificationStatus", "core"),
    ("AllergyIntolerance", "code", TOKEN, "code | reaction.substance", "core"),
    ("AllergyIntolerance", "category", TOKEN, "category", "core"),
    ("AllergyIntolerance", "criticality", TOKEN, "criticality", "core"),
    ("AllergyIntolerance", "date", DATE, "recordedDate", "core"),
    ("AllergyIntolerance", "onset", DATE, "reaction.onset", "core"),
    ("AllergyIntolerance", "identifier", TOKEN, "identifier", "core"),
    ("AllergyIntolerance", "recorder", REFERENCE, "recorder", "core"),
    ("AllergyIntolerance", "asserter", REFERENCE, "asserter", "core"),
    # Basic (US Drug Formulary FormularyItem)
    ("Basic", "code", TOKEN, "code", "usdf"),
    ("Basic", "subject", REFERENCE, "subject", "usdf"),
    ("Basic", "status", TOKEN, f"extension('{USDF_EXT}usdf-AvailabilityStatus-extension').valueCode", "usdf"),
    ("Basic", "period", DATE, f"extension('{USDF_EXT}usdf-AvailabilityPeriod-extension').valuePeriod", "usdf"),
    (
        "Basic",
        "formulary",
        REFERENCE,
        f"extension('{USDF_EXT}usdf-FormularyReference-extension').valueReference",
        "usdf",
        ("InsurancePlan",),
    ),
    (
        "Basic",
        "pharmacy-benefit-type",
        TOKEN,
        f"extension('{USDF_EXT}usdf-PharmacyBenefitType-extension').valueCodeableConcept",
        "usdf",
    ),
    ("Basic", "drug-tier", TOKEN, f"extension('{USDF_EXT}usdf-DrugTierID-extension').valueCodeableConcept", "usdf"),
    ("Basic", "identifier", TOKEN, "identifier", "core"),
    ("Basic", "created", DATE, "created", "core"),
    ("Basic", "author", REFERENCE, "author", "core"),
    ("Basic", "patient", REFERENCE, "subject", "core", ("Patient",)),
    # Bundle
    ("Bundle", "identifier", TOKEN, "identifier", "core"),
    ("Bundle", "type", TOKEN, "type", "core"),
    ("Bundle", "timestamp", DATE, "timestamp", "core"),
    # CarePlan
    ("CarePlan", "patient", REFERENCE, "subject", "us-core", ("Patient",)),
    ("CarePlan", "subject", REFERENCE, "subject", "core"),
    ("CarePlan", "category", TOKEN, "category", "us-core"),
    ("CarePlan", "date", DATE, "period", "us-core"),
    ("CarePlan", "status", TOKEN, "status", "us-core"),
    ("CarePlan", "intent", TOKEN, "intent", "core"),
    ("CarePlan", "identifier", TOKEN, "identifier", "core"),
    ("CarePlan", "encounter", REFERENCE, "encounter", "core"),
    ("CarePlan", "care-team", REFERENCE, "careTeam", "core"),
    # CareTeam
    ("CareTeam", "patient", REFERENCE, "subject", "us-core", ("Patient",)),
    ("CareTeam", "subject", REFERENCE, "subject", "core"),
    ("CareTeam", "status", TOKEN, "status", "us-core"),
    ("CareTeam", "role", TOKEN, "participant.role", "us-core"),
    ("CareTeam", "category", TOKEN, "category", "core"),
    ("CareTeam", "date", DATE, "period", "core"),
    ("CareTeam", "participant", REFERENCE, "participant.member", "core"),
    ("CareTeam", "identifier", TOKEN, "identifier", "core"),
    ("CareTeam", "encounter", REFERENCE, "encounter", "core"),
    # Claim
    ("Claim", "patient", REFERENCE, "patient", "core", ("Patient",)),
    ("Claim", "identifier", TOKEN, "identifier", "core"),
    ("Claim", "status", TOKEN, "status", "core"),
    ("Claim", "use", TOKEN, "use", "core"),
    ("Claim", "created", DATE, "created", "core"),
    ("Claim", "provider", REFERENCE, "provider", "core"),
    ("Claim", "insurer", REFERENCE, "insurer", "core"),
    ("Claim", "enterer", REFERENCE, "enterer", "core"),
    ("Claim", "facility", REFERENCE, "facility", "core"),
    ("Claim", "priority", TOKEN, "priority", "core"),
    ("Claim", "encounter", REFERENCE, "item.encounter", "core"),
    ("Claim", "care-team", REFERENCE, "careTeam.provider", "core"),
    ("Claim", "payee", REFERENCE, "payee.party", "core"),
    # ClaimResponse
    ("ClaimResponse", "patient", REFERENCE, "patient", "core", ("Patient",)),
    ("ClaimResponse", "identifier", TOKEN, "identifier", "core"),
    ("ClaimResponse", "status", TOKEN, "status", "core"),
    ("ClaimResponse", "created", DATE, "created", "core"),
    ("ClaimResponse", "insurer", REFERENCE, "insurer", "core"),
    ("ClaimResponse", "outcome", TOKEN, "outcome", "core"),
    ("ClaimResponse", "request", REFERENCE, "request", "core"),
    ("ClaimResponse", "requestor", REFERENCE, "requestor", "core"),
    ("ClaimResponse", "use", TOKEN, "use", "core"),
    ("ClaimResponse", "disposition", STRING, "disposition", "core"),
    ("ClaimResponse", "payment-date", DATE, "payment.date", "core"),
    # Condition
    ("Condition", "patient", REFERENCE, "subject", "us-core", ("Patient",)),
    ("Condition", "subject", REFERENCE, "subject", "core"),
    ("Condition", "code", TOKEN, "code", "us-core"),
    ("Condition", "category", TOKEN, "category", "us-core"),
    ("Condition", "clinical-status", TOKEN, "clinicalStatus", "us-core"),
    ("Condition", "verification-status", TOKEN, "verificationStatus", "core"),
    ("Condition", "onset-date", DATE, "onset[x]", "us-core"),
    ("Condition", "abatement-date", DATE, "abatement[x]", "us-core"),
    ("Condition", "recorded-date", DATE, "recordedDate", "us-core"),
    (
        "Condition",
        "asserted-date",
        DATE,
        "extension('http://hl7.org/fhir/StructureDefinition/condition-assertedDate').valueDateTime",
        "us-core",
    ),
    ("Condition", "encounter", REFERENCE, "encounter", "us-core"),
    ("Condition", "identifier", TOKEN, "identifier", "core"),
    ("Condition", "severity", TOKEN, "severity", "core"),
    ("Condition", "body-site", TOKEN, "bodySite", "core"),
    ("Condition", "asserter", REFERENCE, "asserter", "core"),
    # Consent
    ("Consent", "patient", REFERENCE, "patient", "core", ("Patient",)),
    ("Consent", "status", TOKEN, "status", "core"),
    ("Consent", "scope", TOKEN, "scope", "core"),
    ("Consent", "category", TOKEN, "category", "core"),
    ("Consent", "date", DATE, "dateTime", "core"),
    ("Consent", "identifier", TOKEN, "identifier", "core"),
    ("Consent", "action", TOKEN, "provision.action", "core"),
    ("Consent", "actor", REFERENCE, "provision.actor.reference", "core"),
    ("Consent", "period", DATE, "provision.period", "core"),
    ("Consent", "purpose", TOKEN, "provision.purpose", "core"),
    ("Consent", "security-label", TOKEN, "provision.securityLabel", "core"),
    ("Consent", "data", REFERENCE, "provision.data.reference", "core"),
    ("Consent", "source-reference", REFERENCE, "sourceReference", "core"),
    ("Consent", "consentor", REFERENCE, "performer", "core"),
    ("Consent", "organization", REFERENCE, "organization", "core"),
    # Coverage (US Core: patient; HRex/PDex/ATR use identifier)
    ("Coverage", "patient", REFERENCE, "beneficiary", "us-core", ("Patient",)),
    ("Coverage", "beneficiary", REFERENCE, "beneficiary", "core"),
    ("Coverage", "identifier", TOKEN, "identifier", "core"),
    ("Coverage", "status", TOKEN, "status", "core"),
    ("Coverage", "type", TOKEN, "type", "core"),
    ("Coverage", "subscriber", REFERENCE, "subscriber", "core"),
    ("Coverage", "policy-holder", REFERENCE, "policyHolder", "core"),
    ("Coverage", "payor", REFERENCE, "payor", "core"),
    ("Coverage", "class-type", TOKEN, "class.type", "core"),
    ("Coverage", "class-value", STRING, "class.value", "core"),
    ("Coverage", "dependent", STRING, "dependent", "core"),
    ("Coverage", "period", DATE, "period", "sandbox"),
    # Device
    ("Device", "patient", REFERENCE, "patient", "us-core", ("Patient",)),
    ("Device", "type", TOKEN, "type", "us-core"),
    ("Device", "identifier", TOKEN, "identifier", "core"),
    ("Device", "status", TOKEN, "status", "core"),
    ("Device", "udi-carrier", STRING, "udiCarrier.carrierHRF", "core"),
    ("Device", "udi-di", STRING, "udiCarrier.deviceIdentifier", "core"),
    ("Device", "manufacturer", STRING, "manufacturer", "core"),
    ("Device", "model", STRING, "modelNumber", "core"),
    ("Device", "organization", REFERENCE, "owner", "core"),
    ("Device", "location", REFERENCE, "location", "core"),
    # DiagnosticReport
    ("DiagnosticReport", "patient", REFERENCE, "subject", "us-core", ("Patient",)),
    ("DiagnosticReport", "subject", REFERENCE, "subject", "core"),
    ("DiagnosticReport", "category", TOKEN, "category", "us-core"),
    ("DiagnosticReport", "code", TOKEN, "code", "us-core"),
    ("DiagnosticReport", "date", DATE, "effective[x]", "us-core"),
    ("DiagnosticReport", "status", TOKEN, "status", "us-core"),
    ("DiagnosticReport", "identifier", TOKEN, "identifier", "core"),
    ("DiagnosticReport", "encounter", REFERENCE, "encounter", "core"),
    ("DiagnosticReport", "issued", DATE, "issued", "core"),
    ("DiagnosticReport", "performer", REFERENCE, "performer", "core"),
    ("DiagnosticReport", "result", REFERENCE, "result", "core"),
    ("DiagnosticReport", "based-on", REFERENCE, "basedOn", "core"),
    ("DiagnosticReport", "results-interpreter", REFERENCE, "resultsInterpreter", "core"),
    ("DiagnosticReport", "conclusion", TOKEN, "conclusionCode", "core"),
    # DocumentReference
    ("DocumentReference", "patient", REFERENCE, "subject", "us-core", ("Patient",)),
    ("DocumentReference", "subject", REFERENCE, "subject", "core"),
    ("DocumentReference", "category", TOKEN, "category", "us-core"),
    ("DocumentReference", "type", TOKEN, "type", "us-core"),
    ("DocumentReference", "date", DATE, "date", "us-core"),
    ("DocumentReference", "period", DATE, "context.period", "us-core"),
    ("DocumentReference", "status", TOKEN, "status", "us-core"),
    ("DocumentReference", "identifier", TOKEN, "masterIdentifier | identifier", "core"),
    ("DocumentReference", "author", REFERENCE, "author", "core"),
    ("DocumentReference", "custodian", REFERENCE, "custodian", "core"),
    ("DocumentReference", "encounter", REFERENCE, "context.encounter", "core"),
    ("DocumentReference", "related", REFERENCE, "context.related", "core"),
    ("DocumentReference", "contenttype", TOKEN, "content.attachment.contentType", "core"),
    ("DocumentReference", "format", TOKEN, "content.format", "core"),
    ("DocumentReference", "relatesto", REFERENCE, "relatesTo.target", "core"),
    ("DocumentReference", "description", STRING, "description", "core"),
    ("DocumentReference", "setting", TOKEN, "context.practiceSetting", "core"),
    ("DocumentReference", "facility", TOKEN, "context.facilityType", "core"),
    ("DocumentReference", "event", TOKEN, "context.event", "core"),
    ("DocumentReference", "location", URI, "content.attachment.url", "core"),
    # Encounter
    ("Encounter", "patient", REFERENCE, "subject", "us-core", ("Patient",)),
    ("Encounter", "subject", REFERENCE, "subject", "core"),
    ("Encounter", "date", DATE, "period", "us-core"),
    ("Encounter", "status", TOKEN, "status", "us-core"),
    ("Encounter", "class", TOKEN, "class", "us-core"),
    ("Encounter", "type", TOKEN, "type", "us-core"),
    ("Encounter", "identifier", TOKEN, "identifier", "us-core"),
    ("Encounter", "location", REFERENCE, "location.location", "us-core"),
    ("Encounter", "discharge-disposition", TOKEN, "hospitalization.dischargeDisposition", "us-core"),
    ("Encounter", "participant", REFERENCE, "participant.individual", "core"),
    ("Encounter", "practitioner", REFERENCE, "participant.individual", "core", ("Practitioner",)),
    ("Encounter", "service-provider", REFERENCE, "serviceProvider", "core"),
    ("Encounter", "reason-code", TOKEN, "reasonCode", "core"),
    ("Encounter", "account", REFERENCE, "account", "core"),
    ("Encounter", "episode-of-care", REFERENCE, "episodeOfCare", "core"),
    ("Encounter", "based-on", REFERENCE, "basedOn", "core"),
    # Endpoint
    ("Endpoint", "identifier", TOKEN, "identifier", "core"),
    ("Endpoint", "name", STRING, "name", "core"),
    ("Endpoint", "organization", REFERENCE, "managingOrganization", "core"),
    ("Endpoint", "status", TOKEN, "status", "core"),
    ("Endpoint", "connection-type", TOKEN, "connectionType", "core"),
    ("Endpoint", "payload-type", TOKEN, "payloadType", "core"),
    # ExplanationOfBenefit (CARIN BB, PDex prior authorization)
    ("ExplanationOfBenefit", "patient", REFERENCE, "patient", "carin", ("Patient",)),
    ("ExplanationOfBenefit", "identifier", TOKEN, "identifier", "carin"),
    ("ExplanationOfBenefit", "type", TOKEN, "type", "carin"),
    ("ExplanationOfBenefit", "service-date", DATE, "billablePeriod | item.serviced[x]", "carin"),
    (
        "ExplanationOfBenefit",
        "service-start-date",
        DATE,
        "billablePeriod.start | item.servicedDate | item.servicedPeriod.start",
        "carin",
    ),
    ("ExplanationOfBenefit", "billable-period-start", DATE, "billablePeriod.start", "carin"),
    ("ExplanationOfBenefit", "status", TOKEN, "status", "core"),
    ("ExplanationOfBenefit", "created", DATE, "created", "core"),
    ("ExplanationOfBenefit", "provider", REFERENCE, "provider", "core"),
    ("ExplanationOfBenefit", "care-team", REFERENCE, "careTeam.provider", "core"),
    ("ExplanationOfBenefit", "claim", REFERENCE, "claim", "core"),
    ("ExplanationOfBenefit", "coverage", REFERENCE, "insurance.coverage", "core"),
    ("ExplanationOfBenefit", "encounter", REFERENCE, "item.encounter", "core"),
    ("ExplanationOfBenefit", "enterer", REFERENCE, "enterer", "core"),
    ("ExplanationOfBenefit", "facility", REFERENCE, "facility", "core"),
    ("ExplanationOfBenefit", "payee", REFERENCE, "payee.party", "core"),
    ("ExplanationOfBenefit", "insurer", REFERENCE, "insurer", "sandbox"),
    ("ExplanationOfBenefit", "disposition", STRING, "disposition", "core"),
    ("ExplanationOfBenefit", "use", TOKEN, "use", "sandbox"),
    ("ExplanationOfBenefit", "outcome", TOKEN, "outcome", "sandbox"),
    # Goal
    ("Goal", "patient", REFERENCE, "subject", "us-core", ("Patient",)),
    ("Goal", "subject", REFERENCE, "subject", "core"),
    ("Goal", "lifecycle-status", TOKEN, "lifecycleStatus", "us-core"),
    ("Goal", "target-date", DATE, "target.due[x]", "us-core"),
    ("Goal", "description", TOKEN, "description", "us-core"),
    ("Goal", "identifier", TOKEN, "identifier", "core"),
    ("Goal", "category", TOKEN, "category", "core"),
    ("Goal", "achievement-status", TOKEN, "achievementStatus", "core"),
    ("Goal", "start-date", DATE, "start[x]", "core"),
    # GraphDefinition
    ("GraphDefinition", "url", URI, "url", "core"),
    ("GraphDefinition", "name", STRING, "name", "core"),
    ("GraphDefinition", "status", TOKEN, "status", "core"),
    ("GraphDefinition", "version", TOKEN, "version", "core"),
    ("GraphDefinition", "date", DATE, "date", "core"),
    ("GraphDefinition", "start", TOKEN, "start", "core"),
    # Group (ATR, PDex)
    ("Group", "identifier", TOKEN, "identifier", "core"),
    ("Group", "characteristic", TOKEN, "characteristic.code", "core"),
    ("Group", "value", TOKEN, "characteristic.value[x]", "core"),
    ("Group", "characteristic-value-reference", REFERENCE, "characteristic.valueReference", "pdex"),
    ("Group", "characteristic-value", COMPOSITE, "characteristic", "core", (), ("code", "value[x]")),
    ("Group", "code", TOKEN, "code", "core"),
    ("Group", "type", TOKEN, "type", "core"),
    ("Group", "actual", TOKEN, "actual", "core"),
    ("Group", "exclude", TOKEN, "characteristic.exclude", "core"),
    ("Group", "member", REFERENCE, "member.entity", "core"),
    ("Group", "managing-entity", REFERENCE, "managingEntity", "core"),
    ("Group", "name", STRING, "name", "sandbox"),
    # Immunization
    ("Immunization", "patient", REFERENCE, "patient", "us-core", ("Patient",)),
    ("Immunization", "status", TOKEN, "status", "us-core"),
    ("Immunization", "date", DATE, "occurrence[x]", "us-core"),
    ("Immunization", "vaccine-code", TOKEN, "vaccineCode", "core"),
    ("Immunization", "identifier", TOKEN, "identifier", "core"),
    ("Immunization", "location", REFERENCE, "location", "core"),
    ("Immunization", "performer", REFERENCE, "performer.actor", "core"),
    ("Immunization", "lot-number", STRING, "lotNumber", "core"),
    ("Immunization", "manufacturer", REFERENCE, "manufacturer", "core"),
    ("Immunization", "reason-code", TOKEN, "reasonCode", "core"),
    ("Immunization", "status-reason", TOKEN, "statusReason", "core"),
    # InsurancePlan (US Drug Formulary)
    ("InsurancePlan", "identifier", TOKEN, "identifier", "usdf"),
    ("InsurancePlan", "status", TOKEN, "status", "usdf"),
    ("InsurancePlan", "period", DATE, "period", "usdf"),
    ("InsurancePlan", "type", TOKEN, "type", "usdf"),
    ("InsurancePlan", "name", STRING, "name | alias", "usdf"),
    ("InsurancePlan", "coverage-type", TOKEN, "coverage.type", "usdf"),
    (
        "InsurancePlan",
        "formulary-coverage",
        REFERENCE,
        f"coverage.extension('{USDF_EXT}usdf-FormularyReference-extension').valueReference",
        "usdf",
        ("InsurancePlan",),
    ),
    ("InsurancePlan", "coverage-area", REFERENCE, "coverageArea", "usdf", ("Location",)),
    ("InsurancePlan", "owned-by", REFERENCE, "ownedBy", "core"),
    ("InsurancePlan", "administered-by", REFERENCE, "administeredBy", "core"),
    ("InsurancePlan", "endpoint", REFERENCE, "endpoint", "core"),
    ("InsurancePlan", "address", STRING, "contact.address", "core"),
    # Location
    ("Location", "name", STRING, "name | alias", "us-core"),
    ("Location", "address", STRING, "address", "us-core"),
    ("Location", "address-city", STRING, "address.city", "us-core"),
    ("Location", "address-state", STRING, "address.state", "us-core"),
    ("Location", "address-postalcode", STRING, "address.postalCode", "us-core"),
    ("Location", "address-country", STRING, "address.country", "core"),
    ("Location", "identifier", TOKEN, "identifier", "core"),
    ("Location", "type", TOKEN, "type", "core"),
    ("Location", "status", TOKEN, "status", "core"),
    ("Location", "operational-status", TOKEN, "operationalStatus", "core"),
    ("Location", "organization", REFERENCE, "managingOrganization", "core"),
    ("Location", "partof", REFERENCE, "partOf", "core"),
    ("Location", "endpoint", REFERENCE, "endpoint", "core"),
    # Medication
    ("Medication", "code", TOKEN, "code", "core"),
    ("Medication", "identifier", TOKEN, "identifier", "core"),
    ("Medication", "status", TOKEN, "status", "core"),
    ("Medication", "form", TOKEN, "form", "core"),
    ("Medication", "ingredient-code", TOKEN, "ingredient.itemCodeableConcept", "core"),
    ("Medication", "ingredient", REFERENCE, "ingredient.itemReference", "core"),
    ("Medication", "manufacturer", REFERENCE, "manufacturer", "core"),
    ("Medication", "lot-number", TOKEN, "batch.lotNumber", "core"),
    ("Medication", "expiration-date", DATE, "batch.expirationDate", "core"),
    # MedicationDispense (PDex)
    ("MedicationDispense", "patient", REFERENCE, "subject", "us-core", ("Patient",)),
    ("MedicationDispense", "subject", REFERENCE, "subject", "core"),
    ("MedicationDispense", "status", TOKEN, "status", "us-core"),
    ("MedicationDispense", "type", TOKEN, "type", "us-core"),
    ("MedicationDispense", "identifier", TOKEN, "identifier", "core"),
    ("MedicationDispense", "code", TOKEN, "medicationCodeableConcept", "core"),
    ("MedicationDispense", "medication", REFERENCE, "medicationReference", "core"),
    ("MedicationDispense", "prescription", REFERENCE, "authorizingPrescription", "core"),
    ("MedicationDispense", "whenhandedover", DATE, "whenHandedOver", "core"),
    ("MedicationDispense", "whenprepared", DATE, "whenPrepared", "core"),
    ("MedicationDispense", "performer", REFERENCE, "performer.actor", "core"),
    ("MedicationDispense", "receiver", REFERENCE, "receiver", "core"),
    ("MedicationDispense", "destination", REFERENCE, "destination", "core"),
    ("MedicationDispense", "context", REFERENCE, "context", "core"),
    # MedicationKnowledge (US Drug Formulary FormularyDrug)
    ("MedicationKnowledge", "status", TOKEN, "status", "usdf"),
    ("MedicationKnowledge", "code", TOKEN, "code", "usdf"),
    ("MedicationKnowledge", "drug-name", STRING, "code.coding.display | synonym", "usdf"),
    ("MedicationKnowledge", "doseform", TOKEN, "doseForm", "usdf"),
    ("MedicationKnowledge", "classification", TOKEN, "medicineClassification.classification", "core"),
    ("MedicationKnowledge", "ingredient-code", TOKEN, "ingredient.itemCodeableConcept", "core"),
    ("MedicationKnowledge", "ingredient", REFERENCE, "ingredient.itemReference", "core"),
    ("MedicationKnowledge", "manufacturer", REFERENCE, "manufacturer", "core"),
    ("MedicationKnowledge", "monograph-type", TOKEN, "monograph.type", "core"),
    ("MedicationKnowledge", "source-cost", TOKEN, "cost.source", "core"),
    # MedicationRequest
    ("MedicationRequest", "patient", REFERENCE, "subject", "us-core", ("Patient",)),
    ("MedicationRequest", "subject", REFERENCE, "subject", "core"),
    ("MedicationRequest", "status", TOKEN, "status", "us-core"),
    ("MedicationRequest", "intent", TOKEN, "intent", "us-core"),
    ("MedicationRequest", "authoredon", DATE, "authoredOn", "us-core"),
    ("MedicationRequest", "encounter", REFERENCE, "encounter", "us-core"),
    ("MedicationRequest", "identifier", TOKEN, "identifier", "core"),
    ("MedicationRequest", "code", TOKEN, "medicationCodeableConcept", "core"),
    ("MedicationRequest", "medication", REFERENCE, "medicationReference", "core"),
    ("MedicationRequest", "requester", REFERENCE, "requester", "core"),
    ("MedicationRequest", "category", TOKEN, "category", "core"),
    ("MedicationRequest", "priority", TOKEN, "priority", "core"),
    ("MedicationRequest", "intended-dispenser", REFERENCE, "dispenseRequest.performer", "core"),
    ("MedicationRequest", "intended-performer", REFERENCE, "performer", "core"),
    ("MedicationRequest", "date", DATE, "dosageInstruction.timing.event", "core"),
    # Observation
    ("Observation", "patient", REFERENCE, "subject", "us-core", ("Patient",)),
    ("Observation", "subject", REFERENCE, "subject", "core"),
    ("Observation", "category", TOKEN, "category", "us-core"),
    ("Observation", "code", TOKEN, "code", "us-core"),
    ("Observation", "date", DATE, "effective[x]", "us-core"),
    ("Observation", "status", TOKEN, "status", "us-core"),
    ("Observation", "identifier", TOKEN, "identifier", "core"),
    ("Observation", "encounter", REFERENCE, "encounter", "core"),
    ("Observation", "performer", REFERENCE, "performer", "core"),
    ("Observation", "based-on", REFERENCE, "basedOn", "core"),
    ("Observation", "derived-from", REFERENCE, "derivedFrom", "core"),
    ("Observation", "has-member", REFERENCE, "hasMember", "core"),
    ("Observation", "specimen", REFERENCE, "specimen", "core"),
    ("Observation", "device", REFERENCE, "device", "core"),
    ("Observation", "value-quantity", QUANTITY, "valueQuantity", "core"),
    ("Observation", "value-concept", TOKEN, "valueCodeableConcept", "core"),
    ("Observation", "value-date", DATE, "valueDateTime | valuePeriod", "core"),
    ("Observation", "value-string", STRING, "valueString", "core"),
    ("Observation", "component-code", TOKEN, "component.code", "core"),
    ("Observation", "component-value-quantity", QUANTITY, "component.valueQuantity", "core"),
    ("Observation", "combo-code", TOKEN, "code | component.code", "core"),
    # OperationDefinition
    ("OperationDefinition", "url", URI, "url", "core"),
    ("OperationDefinition", "name", STRING, "name", "core"),
    ("OperationDefinition", "code", TOKEN, "code", "core"),
    ("OperationDefinition", "status", TOKEN, "status", "core"),
    ("OperationDefinition", "kind", TOKEN, "kind", "core"),
    ("OperationDefinition", "version", TOKEN, "version", "core"),
    # Organization
    ("Organization", "name", STRING, "name | alias", "us-core"),
    ("Organization", "address", STRING, "address", "us-core"),
    ("Organization", "address-city", STRING, "address.city", "core"),
    ("Organization", "address-state", STRING, "address.state", "core"),
    ("Organization", "address-postalcode", STRING, "address.postalCode", "core"),
    ("Organization", "identifier", TOKEN, "identifier", "core"),
    ("Organization", "type", TOKEN, "type", "core"),
    ("Organization", "active", TOKEN, "active", "core"),
    ("Organization", "partof", REFERENCE, "partOf", "core"),
    ("Organization", "endpoint", REFERENCE, "endpoint", "core"),
    # Patient
    ("Patient", "identifier", TOKEN, "identifier", "us-core"),
    ("Patient", "name", STRING, "name", "us-core"),
    ("Patient", "family", STRING, "name.family", "us-core"),
    ("Patient", "given", STRING, "name.given", "us-core"),
    ("Patient", "birthdate", DATE, "birthDate", "us-core"),
    ("Patient", "gender", TOKEN, "gender", "us-core"),
    ("Patient", "death-date", DATE, "deceasedDateTime", "us-core"),
    ("Patient", "address", STRING, "address", "core"),
    ("Patient", "address-city", STRING, "address.city", "core"),
    ("Patient", "address-state", STRING, "address.state", "core"),
    ("Patient", "address-postalcode", STRING, "address.postalCode", "core"),
    ("Patient", "address-country", STRING, "address.country", "core"),
    ("Patient", "telecom", TOKEN, "telecom", "core"),
    ("Patient", "phone", TOKEN, "telecom", "core"),
    ("Patient", "email", TOKEN, "telecom", "core"),
    ("Patient", "active", TOKEN, "active", "core"),
    ("Patient", "deceased", TOKEN, "deceasedBoolean", "core"),
    ("Patient", "general-practitioner", REFERENCE, "generalPractitioner", "core"),
    ("Patient", "organization", REFERENCE, "managingOrganization", "core"),
    ("Patient", "link", REFERENCE, "link.other", "core"),
    ("Patient", "language", TOKEN, "communication.language", "core"),
    (
        "Patient",
        "race",
        TOKEN,
        f"extension('{US_CORE_EXT}us-core-race').extension('ombCategory').valueCoding",
        "us-core",
    ),
    (
        "Patient",
        "ethnicity",
        TOKEN,
        f"extension('{US_CORE_EXT}us-core-ethnicity').extension('ombCategory').valueCoding",
        "us-core",
    ),
    # Practitioner
    ("Practitioner", "name", STRING, "name", "us-core"),
    ("Practitioner", "identifier", TOKEN, "identifier", "us-core"),
    ("Practitioner", "family", STRING, "name.family", "core"),
    ("Practitioner", "given", STRING, "name.given", "core"),
    ("Practitioner", "address", STRING, "address", "core"),
    ("Practitioner", "active", TOKEN, "active", "core"),
    ("Practitioner", "gender", TOKEN, "gender", "core"),
    ("Practitioner", "telecom", TOKEN, "telecom", "core"),
    ("Practitioner", "communication", TOKEN, "communication", "core"),
    # PractitionerRole
    ("PractitionerRole", "practitioner", REFERENCE, "practitioner", "us-core"),
    ("PractitionerRole", "specialty", TOKEN, "specialty", "us-core"),
    ("PractitionerRole", "organization", REFERENCE, "organization", "core"),
    ("PractitionerRole", "role", TOKEN, "code", "core"),
    ("PractitionerRole", "identifier", TOKEN, "identifier", "core"),
    ("PractitionerRole", "location", REFERENCE, "location", "core"),
    ("PractitionerRole", "active", TOKEN, "active", "core"),
    ("PractitionerRole", "endpoint", REFERENCE, "endpoint", "core"),
    ("PractitionerRole", "service", REFERENCE, "healthcareService", "core"),
    ("PractitionerRole", "telecom", TOKEN, "telecom", "core"),
    ("PractitionerRole", "date", DATE, "period", "core"),
    # Procedure
    ("Procedure", "patient", REFERENCE, "subject", "us-core", ("Patient",)),
    ("Procedure", "subject", REFERENCE, "subject", "core"),
    ("Procedure", "code", TOKEN, "code", "us-core"),
    ("Procedure", "date", DATE, "performed[x]", "us-core"),
    ("Procedure", "status", TOKEN, "status", "us-core"),
    ("Procedure", "identifier", TOKEN, "identifier", "core"),
    ("Procedure", "encounter", REFERENCE, "encounter", "core"),
    ("Procedure", "category", TOKEN, "category", "core"),
    ("Procedure", "performer", REFERENCE, "performer.actor", "core"),
    ("Procedure", "location", REFERENCE, "location", "core"),
    ("Procedure", "reason-code", TOKEN, "reasonCode", "core"),
    ("Procedure", "based-on", REFERENCE, "basedOn", "core"),
    # Provenance (PDex transmitter, _revinclude=Provenance:target)
    ("Provenance", "target", REFERENCE, "target", "core"),
    ("Provenance", "patient", REFERENCE, "target", "core", ("Patient",)),
    ("Provenance", "agent", REFERENCE, "agent.who", "core"),
    ("Provenance", "agent-type", TOKEN, "agent.type", "core"),
    ("Provenance", "agent-role", TOKEN, "agent.role", "core"),
    ("Provenance", "recorded", DATE, "recorded", "core"),
    ("Provenance", "entity", REFERENCE, "entity.what", "core"),
    ("Provenance", "location", REFERENCE, "location", "core"),
    ("Provenance", "when", DATE, "occurred[x]", "core"),
    # QuestionnaireResponse
    ("QuestionnaireResponse", "patient", REFERENCE, "subject", "us-core", ("Patient",)),
    ("QuestionnaireResponse", "subject", REFERENCE, "subject", "core"),
    ("QuestionnaireResponse", "status", TOKEN, "status", "us-core"),
    ("QuestionnaireResponse", "authored", DATE, "authored", "us-core"),
    ("QuestionnaireResponse", "questionnaire", URI, "questionnaire", "us-core"),
    ("QuestionnaireResponse", "identifier", TOKEN, "identifier", "core"),
    ("QuestionnaireResponse", "author", REFERENCE, "author", "core"),
    ("QuestionnaireResponse", "encounter", REFERENCE, "encounter", "core"),
    ("QuestionnaireResponse", "based-on", REFERENCE, "basedOn", "core"),
    # RelatedPerson
    ("RelatedPerson", "patient", REFERENCE, "patient", "us-core", ("Patient",)),
    ("RelatedPerson", "name", STRING, "name", "us-core"),
    ("RelatedPerson", "identifier", TOKEN, "identifier", "core"),
    ("RelatedPerson", "relationship", TOKEN, "relationship", "core"),
    ("RelatedPerson", "active", TOKEN, "active", "core"),
    ("RelatedPerson", "address", STRING, "address", "core"),
    ("RelatedPerson", "birthdate", DATE, "birthDate", "core"),
    ("RelatedPerson", "gender", TOKEN, "gender", "core"),
    ("RelatedPerson", "telecom", TOKEN, "telecom", "core"),
    # ServiceRequest
    ("ServiceRequest", "patient", REFERENCE, "subject", "us-core", ("Patient",)),
    ("ServiceRequest", "subject", REFERENCE, "subject", "core"),
    ("ServiceRequest", "code", TOKEN, "code", "us-core"),
    ("ServiceRequest", "status", TOKEN, "status", "us-core"),
    ("ServiceRequest", "category", TOKEN, "category", "us-core"),
    ("ServiceRequest", "authored", DATE, "authoredOn", "us-core"),
    ("ServiceRequest", "intent", TOKEN, "intent", "core"),
    ("ServiceRequest", "identifier", TOKEN, "identifier", "core"),
    ("ServiceRequest", "encounter", REFERENCE, "encounter", "core"),
    ("ServiceRequest", "requester", REFERENCE, "requester", "core"),
    ("ServiceRequest", "performer", REFERENCE, "performer", "core"),
    ("ServiceRequest", "occurrence", DATE, "occurrence[x]", "core"),
    # Specimen
    ("Specimen", "patient", REFERENCE, "subject", "us-core", ("Patient",)),
    ("Specimen", "subject", REFERENCE, "subject", "core"),
    ("Specimen", "type", TOKEN, "type", "core"),
    ("Specimen", "identifier", TOKEN, "identifier", "core"),
    ("Specimen", "status", TOKEN, "status", "core"),
    ("Specimen", "collected", DATE, "collection.collected[x]", "core"),
]

# Parameters every type has (FHIR R4 "Parameters for all resources").
_COMMON = [
    ("_id", TOKEN, "id", "Resource-id", "fhir_id"),
    ("_lastUpdated", DATE, "meta.lastUpdated", "Resource-lastUpdated", "last_updated"),
    ("_profile", URI, "meta.profile", "Resource-profile", ""),
    ("_tag", TOKEN, "meta.tag", "Resource-tag", ""),
    ("_security", TOKEN, "meta.security", "Resource-security", ""),
    ("_source", URI, "meta.source", "Resource-source", ""),
]

# Which parameter places a resource in a patient's compartment, in order of preference
# (FHIR R4 CompartmentDefinition/patient). The first Patient it names fills Resource.patient_id.
COMPARTMENT = {
    "AllergyIntolerance": ("patient", "recorder", "asserter"),
    "Basic": ("patient", "author"),
    "CarePlan": ("patient",),
    "CareTeam": ("patient", "participant"),
    "Claim": ("patient", "payee"),
    "ClaimResponse": ("patient",),
    "Condition": ("patient", "asserter"),
    "Consent": ("patient",),
    "Coverage": ("beneficiary", "subscriber", "policy-holder", "payor"),
    "Device": ("patient",),
    "DiagnosticReport": ("patient",),
    "DocumentReference": ("patient", "author"),
    "Encounter": ("patient",),
    "ExplanationOfBenefit": ("patient", "payee"),
    "Goal": ("patient",),
    "Immunization": ("patient",),
    "MedicationDispense": ("patient", "receiver"),
    "MedicationRequest": ("patient",),
    "Observation": ("patient", "performer"),
    "Procedure": ("patient", "performer"),
    "Provenance": ("patient",),
    "QuestionnaireResponse": ("patient", "author"),
    "RelatedPerson": ("patient",),
    "ServiceRequest": ("patient", "performer"),
    "Specimen": ("patient",),
}

# Sort keys the guides use besides _lastUpdated and _id.
SORTABLE_TYPES = (STRING, DATE, TOKEN, QUANTITY, NUMBER, URI)

# Formulary types: public per tenant setting (spec/formulary.md §4.3).
FORMULARY_TYPES = ("InsurancePlan", "Basic", "MedicationKnowledge", "Location")


def _url(source, resource_type, code):
    if source == "us-core":
        return f"{US_CORE}{resource_type.lower()}-{code}"
    if source == "carin":
        return f"{CARIN}{code}"
    if source == "usdf":
        return f"{USDF}{resource_type}-{code}"
    if source == "pdex":
        return f"{PDEX}{resource_type.lower()}-{code}"
    if source == "sandbox":
        return f"{SANDBOX}{resource_type}-{code}"
    return f"{CORE}{resource_type}-{code}"


def _build():
    registry = {}
    for row in _DEFS:
        resource_type, code, kind, expression, source = row[:5]
        targets = row[5] if len(row) > 5 else ()
        components = row[6] if len(row) > 6 else ()
        param = SearchParam(
            resource_type=resource_type,
            code=code,
            type=kind,
            expression=expression,
            url=_url(source, resource_type, code),
            targets=tuple(targets),
            source=source,
            components=tuple(components),
            paths=_compile(expression),
        )
        registry.setdefault(resource_type, {})[code] = param
    for resource_type, params in registry.items():
        for code, kind, expression, sp_id, column in _COMMON:
            params[code] = SearchParam(
                resource_type=resource_type,
                code=code,
                type=kind,
                expression=expression,
                url=f"{CORE}{sp_id}",
                column=column,
                paths=_compile(expression),
            )
    return registry


REGISTRY = _build()
SERVED_TYPES = tuple(sorted(REGISTRY))


def params_for(resource_type):
    """The search parameters of a served type, by code (empty for unserved types)."""
    return REGISTRY.get(resource_type, {})


def get_param(resource_type, code):
    return REGISTRY.get(resource_type, {}).get(code)


def is_served(resource_type):
    return resource_type in REGISTRY
