"""
Claims of a synthetic payer: CARIN Blue Button ExplanationOfBenefits (inpatient and outpatient
institutional, professional non-clinician, pharmacy) and PDex prior authorizations (EOB with
use = preauthorization).
"""

import datetime as dt
from dataclasses import dataclass, field

from . import terminology as terms
from .builders import CARIN_BB, PDEX, coding, concept, instant, meta, money, period, ref
from .identifiers import C4BB_IDENTIFIER_TYPE_SYSTEM
from .payer import PAYER_ORG_ID

C4BB_CS = "http://hl7.org/fhir/us/carin-bb/CodeSystem/"
ADJUDICATION_CS = "http://terminology.hl7.org/CodeSystem/adjudication"
CLAIM_TYPE_CS = "http://terminology.hl7.org/CodeSystem/claim-type"
SUPPORTING_INFO_CS = C4BB_CS + "C4BBSupportingInfoType"
PAYER_STATUS_CS = C4BB_CS + "C4BBPayerAdjudicationStatus"
CARE_TEAM_ROLE_CS = C4BB_CS + "C4BBClaimCareTeamRole"
REVENUE_CS = "https://www.nubc.org/CodeSystem/RevenueCodes"
TYPE_OF_BILL_CS = "https://www.nubc.org/CodeSystem/TypeOfBill"
POINT_OF_ORIGIN_CS = "https://www.nubc.org/CodeSystem/PointOfOrigin"
ADMIT_TYPE_CS = "https://www.nubc.org/CodeSystem/PriorityTypeOfAdmitOrVisit"
DISCHARGE_STATUS_CS = "https://www.nubc.org/CodeSystem/PatDischargeStatus"
MS_DRG_CS = "https://www.cms.gov/Medicare/Medicare-Fee-for-Service-Payment/AcuteInpatientPPS/MS-DRG-Classifications-and-Software"
PLACE_OF_SERVICE_CS = "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"

PROFILE = {
    "inpatient": CARIN_BB + "C4BB-ExplanationOfBenefit-Inpatient-Institutional",
    "outpatient": CARIN_BB + "C4BB-ExplanationOfBenefit-Outpatient-Institutional",
    "professional": CARIN_BB + "C4BB-ExplanationOfBenefit-Professional-NonClinician",
    "pharmacy": CARIN_BB + "C4BB-ExplanationOfBenefit-Pharmacy",
}

# Base charge by service line; the generator varies it per claim.
CHARGES = {
    "99203": 180,
    "99213": 130,
    "99214": 190,
    "99395": 220,
    "99396": 240,
    "99397": 260,
    "99284": 650,
    "99221": 420,
    "99238": 210,
    "90837": 210,
    "90834": 160,
    "45378": 1900,
    "77067": 260,
    "93000": 90,
    "71046": 140,
    "27447": 24000,
    "80061": 60,
    "80048": 45,
    "85025": 35,
    "83036": 50,
    "87536": 230,
    "90471": 30,
}
REVENUE = {
    "0450": "Emergency room - general classification",
    "0320": "Radiology - diagnostic - general classification",
    "0300": "Laboratory - general classification",
    "0360": "Operating room services - general classification",
    "0750": "Gastrointestinal services - general classification",
    "0403": "Other imaging services - screening mammography",
    "0120": "Room & board - semi-private two beds - general classification",
    "0250": "Pharmacy - general classification",
}


@dataclass
class Line:
    code: str
    display: str
    charge: float
    revenue: str | None = None
    system: str = terms.CPT


@dataclass
class ClaimInput:
    """What a claim is about: one encounter (or one dispense) of one member."""

    kind: str  # inpatient | outpatient | professional | pharmacy
    start: dt.date
    end: dt.date
    provider_org: str
    provider_display: str
    practitioner: str | None
    diagnoses: list = field(default_factory=list)  # (ICD-10-CM code, display)
    lines: list = field(default_factory=list)
    encounter_id: str | None = None
    drg: str | None = None
    days_supply: int | None = None
    refill: int | None = None
    security: tuple = ()
    location_id: str | None = None


def _adjudication(category_system, code, display, amount):
    return {"category": concept(category_system, code, display), "amount": money(amount)}


def _network_status():
    return {
        "category": concept(
            C4BB_CS + "C4BBAdjudicationDiscriminator", "benefitpaymentstatus", "Benefit Payment Status"
        ),
        "reason": concept(PAYER_STATUS_CS, "innetwork", "In Network"),
    }


def explanation_of_benefit(ctx, member, claim: ClaimInput, eob_id: str, claim_number: str, rng) -> dict:
    """A CARIN BB ExplanationOfBenefit (the profile follows claim.kind), adjudicated in network."""
    # Nothing is dated after the reference date: a visit in its last days is received and paid on it.
    today = ctx.reference_date
    received = max(claim.end, min(today, claim.end + dt.timedelta(days=rng.randint(1, 10))))
    paid_on = max(received, min(today, received + dt.timedelta(days=rng.randint(5, 25))))
    institutional = claim.kind in ("inpatient", "outpatient")
    supporting = [
        {
            "sequence": 1,
            "category": concept(SUPPORTING_INFO_CS, "clmrecvddate", "Claim Received Date"),
            "timingDate": received.isoformat(),
        },
        {
            "sequence": 2,
            "category": concept(
                SUPPORTING_INFO_CS, "billingnetworkcontractingstatus", "Billing Network Contracting Status"
            ),
            "code": concept(PAYER_STATUS_CS, "contracted", "Contracted"),
        },
    ]
    if institutional:
        bill = "0111" if claim.kind == "inpatient" else "0131"
        supporting.append(
            {
                "sequence": 3,
                "category": concept(SUPPORTING_INFO_CS, "typeofbill", "Type of Bill"),
                "code": concept(TYPE_OF_BILL_CS, bill),
            }
        )
        supporting.append(
            {
                "sequence": 4,
                "category": concept(SUPPORTING_INFO_CS, "pointoforigin", "Point Of Origin"),
                "code": concept(POINT_OF_ORIGIN_CS, "1", "Non-health care facility point of origin"),
            }
        )
        supporting.append(
            {
                "sequence": 5,
                "category": concept(SUPPORTING_INFO_CS, "admtype", "Admission Type"),
                "code": concept(
                    ADMIT_TYPE_CS,
                    "1" if claim.kind == "inpatient" else "3",
                    "Emergency" if claim.kind == "inpatient" else "Elective",
                ),
            }
        )
    if claim.kind == "inpatient":
        supporting.append(
            {
                "sequence": 6,
                "category": concept(SUPPORTING_INFO_CS, "admissionperiod", "Admission Period"),
                "timingPeriod": period(claim.start, claim.end),
            }
        )
        supporting.append(
            {
                "sequence": 7,
                "category": concept(SUPPORTING_INFO_CS, "discharge-status", "Discharge Status"),
                "code": concept(DISCHARGE_STATUS_CS, "01", "Discharged to home or self care (routine discharge)"),
            }
        )
        supporting.append(
            {
                "sequence": 8,
                "category": concept(SUPPORTING_INFO_CS, "drg", "DRG"),
                "code": concept(MS_DRG_CS, claim.drg, terms.DRGS[claim.drg][0]),
            }
        )
    if claim.kind == "pharmacy":
        supporting.append(
            {
                "sequence": 3,
                "category": concept(SUPPORTING_INFO_CS, "dayssupply", "Days Supply"),
                "valueQuantity": {"value": claim.days_supply},
            }
        )
        supporting.append(
            {
                "sequence": 4,
                "category": concept(SUPPORTING_INFO_CS, "refillnum", "Refill Number"),
                "valueQuantity": {"value": claim.refill},
            }
        )

    care_team = []
    if claim.practitioner:
        role = {
            "inpatient": "attending",
            "outpatient": "attending",
            "professional": "performing",
            "pharmacy": "prescribing",
        }[claim.kind]
        care_team.append(
            {
                "sequence": 1,
                "provider": ref("Practitioner", claim.practitioner),
                "role": concept(CARE_TEAM_ROLE_CS, role, role.capitalize()),
            }
        )

    items = []
    submitted_total = allowed_total = member_total = paid_total = 0.0
    for sequence, line in enumerate(claim.lines, start=1):
        allowed = round(line.charge * rng.uniform(0.55, 0.8), 2)
        member_share = round(min(allowed, 10 + allowed * rng.choice((0, 0.1, 0.2))), 2)
        paid = round(allowed - member_share, 2)
        submitted_total += line.charge
        allowed_total += allowed
        member_total += member_share
        paid_total += paid
        item = {"sequence": sequence}
        if care_team:
            item["careTeamSequence"] = [1]
        if claim.diagnoses and claim.kind != "pharmacy":
            item["diagnosisSequence"] = [1]
        if line.revenue:
            item["revenue"] = concept(REVENUE_CS, line.revenue, REVENUE[line.revenue])
        item["productOrService"] = concept(line.system, line.code, line.display)
        if claim.kind == "inpatient":
            item["servicedPeriod"] = period(claim.start, claim.end)
        else:
            item["servicedDate"] = claim.start.isoformat()
        if claim.kind == "professional":
            item["locationCodeableConcept"] = concept(PLACE_OF_SERVICE_CS, "11", "Office")
        if claim.encounter_id:
            item["encounter"] = [ref("Encounter", claim.encounter_id)]
        item["quantity"] = {"value": 1}
        item["net"] = money(line.charge)
        item["adjudication"] = [
            _adjudication(ADJUDICATION_CS, "submitted", "Submitted Amount", line.charge),
            _adjudication(ADJUDICATION_CS, "eligible", "Eligible Amount", allowed),
            _adjudication(C4BB_CS + "C4BBAdjudication", "paidbypatient", "Paid by patient", member_share),
            _adjudication(C4BB_CS + "C4BBAdjudication", "paidtoprovider", "Paid to provider", paid),
            _network_status(),
        ]
        items.append(item)

    eob = {
        "resourceType": "ExplanationOfBenefit",
        "id": eob_id,
        "meta": meta([PROFILE[claim.kind]], instant(paid_on), claim.security),
        "identifier": [
            {
                "type": concept(C4BB_IDENTIFIER_TYPE_SYSTEM, "uc", "Unique Claim ID"),
                "system": ctx.payer.claim_system,
                "value": claim_number,
            }
        ],
        "status": "active",
        "type": concept(
            CLAIM_TYPE_CS,
            "institutional" if institutional else claim.kind,
            "Institutional" if institutional else claim.kind.capitalize(),
        ),
    }
    if institutional:
        eob["subType"] = concept(C4BB_CS + "C4BBInstitutionalClaimSubType", claim.kind, claim.kind.capitalize())
    eob.update(
        {
            "use": "claim",
            "patient": ref("Patient", member.patient_id),
            "billablePeriod": period(claim.start, claim.end),
            "created": instant(received),
            "insurer": ref("Organization", PAYER_ORG_ID, ctx.payer.name),
            "provider": ref("Organization", claim.provider_org, claim.provider_display),
            "outcome": "complete",
        }
    )
    if care_team:
        eob["careTeam"] = care_team
    eob["supportingInfo"] = supporting
    if claim.diagnoses and claim.kind != "pharmacy":
        eob["diagnosis"] = [
            {
                "sequence": number,
                "diagnosisCodeableConcept": concept(terms.ICD10CM, code, display),
                "type": [
                    concept(
                        "http://terminology.hl7.org/CodeSystem/ex-diagnosistype",
                        "principal" if number == 1 else "secondary",
                        "Principal Diagnosis" if number == 1 else "Secondary Diagnosis",
                    )
                ],
            }
            for number, (code, display) in enumerate(claim.diagnoses, start=1)
        ]
        if claim.kind == "inpatient":
            for diagnosis in eob["diagnosis"]:
                diagnosis["onAdmission"] = concept("https://www.nubc.org/CodeSystem/PresentOnAdmit", "Y", "Yes")
    eob["insurance"] = [{"focal": True, "coverage": ref("Coverage", member.coverage_id)}]
    eob["item"] = items
    eob["total"] = [
        _adjudication(ADJUDICATION_CS, "submitted", "Submitted Amount", submitted_total),
        _adjudication(ADJUDICATION_CS, "eligible", "Eligible Amount", allowed_total),
        _adjudication(C4BB_CS + "C4BBAdjudication", "paidbypatient", "Paid by patient", member_total),
        _adjudication(C4BB_CS + "C4BBAdjudication", "paidtoprovider", "Paid to provider", paid_total),
    ]
    eob["payment"] = {
        "type": concept("http://terminology.hl7.org/CodeSystem/ex-paymenttype", "complete", "Complete"),
        "date": paid_on.isoformat(),
        "amount": money(paid_total),
    }
    return eob


# Services that need prior authorization: (code system, code, display, claim type)
PRIOR_AUTH_SERVICES = (
    (terms.CPT, "73721", terms.CPT_CODES["73721"], "professional"),
    (terms.CPT, "95810", terms.CPT_CODES["95810"], "professional"),
    (terms.CPT, "27447", terms.CPT_CODES["27447"], "institutional"),
    (terms.CPT, "97110", terms.CPT_CODES["97110"], "professional"),
    (terms.RXNORM, "2047241", "baricitinib 2 MG Oral Tablet", "pharmacy"),
)
# decision: (EOB outcome, disposition)
PRIOR_AUTH_DECISIONS = {
    "approved": ("complete", "Approved"),
    "pending": ("queued", "Pended for clinical review"),
    "denied": ("complete", "Denied: documentation does not show medical necessity"),
    "partial": ("partial", "Partially approved: fewer units than requested"),
}


def prior_authorization(
    ctx, member, *, pa_id, number, service, decision, requested, provider_org, practitioner
) -> dict:
    """A PDex prior authorization (pdex-priorauthorization: ExplanationOfBenefit, use = preauthorization)."""
    system, code, display, claim_type = service
    outcome, disposition = PRIOR_AUTH_DECISIONS[decision]
    decided = requested + dt.timedelta(days=0 if decision == "pending" else 3)
    service_start = requested + dt.timedelta(days=14)
    units = 12 if code == "97110" else 1
    adjudication = [_adjudication(ADJUDICATION_CS, "submitted", "Submitted Amount", CHARGES.get(code, 900) * units)]
    if decision in ("approved", "partial"):
        adjudication.append(
            {
                "category": concept(C4BB_CS + "C4BBAdjudicationDiscriminator", "allowedunits", "allowed units"),
                "value": units if decision == "approved" else units // 2,
            }
        )
    return {
        "resourceType": "ExplanationOfBenefit",
        "id": pa_id,
        "meta": meta([PDEX + "pdex-priorauthorization"], instant(decided)),
        "identifier": [
            {
                "type": concept(C4BB_IDENTIFIER_TYPE_SYSTEM, "uc", "Unique Claim ID"),
                "system": ctx.payer.prior_auth_system,
                "value": number,
            }
        ],
        "status": "active",
        "type": concept(CLAIM_TYPE_CS, claim_type, claim_type.capitalize()),
        "use": "preauthorization",
        "patient": ref("Patient", member.patient_id),
        "billablePeriod": period(service_start, service_start + dt.timedelta(days=90)),
        "created": instant(requested, 9),
        "insurer": ref("Organization", PAYER_ORG_ID, ctx.payer.name),
        "provider": ref("Organization", provider_org.id, provider_org.name),
        "outcome": outcome,
        "disposition": disposition,
        "preAuthRef": [number],
        "preAuthRefPeriod": [period(service_start, service_start + dt.timedelta(days=90))],
        "careTeam": [
            {
                "sequence": 1,
                "provider": ref("Practitioner", practitioner.id),
                "role": concept(CARE_TEAM_ROLE_CS, "referring", "Referring"),
            }
        ],
        "insurance": [{"focal": True, "coverage": ref("Coverage", member.coverage_id)}],
        "item": [
            {
                "sequence": 1,
                "careTeamSequence": [1],
                "productOrService": {"coding": [coding(system, code, display)]},
                "servicedPeriod": period(service_start, service_start + dt.timedelta(days=90)),
                "quantity": {"value": units},
                "adjudication": adjudication,
            }
        ],
        "total": [_adjudication(ADJUDICATION_CS, "submitted", "Submitted Amount", CHARGES.get(code, 900) * units)],
    }
