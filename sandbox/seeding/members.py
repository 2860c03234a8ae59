"""
Members of a synthetic payer: the member skeleton (demographics, coverage, attribution) and the
Patient (US Core / CARIN BB), RelatedPerson and Coverage (US Core / CARIN BB / HRex) resources.

A member is a pure function of (seed, member index): skeletons can be rebuilt cheaply at any time, which
is what lets attribution lists be written after the members without keeping the members in memory.
"""

import datetime as dt
import random
from dataclasses import dataclass

from . import terminology as terms
from .builders import CARIN_BB, US_CORE, add_years, concept, meta, period, ref, seeded_random
from .identifiers import IDENTIFIER_TYPE_SYSTEM, member_id_prefix
from .payer import PAYER_ORG_ID, OtherPayer, PayerContext, Plan
from .providers import Practitioner, ProviderOrg

RACE_URL = US_CORE + "us-core-race"
ETHNICITY_URL = US_CORE + "us-core-ethnicity"
BIRTHSEX_URL = US_CORE + "us-core-birthsex"
INSURANCE_PLAN_EXT = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Coverage.insurancePlan"
RELATIONSHIP_CS = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"
ROLE_CODE_CS = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"

DESIGNED_COUNT = 4


@dataclass(frozen=True)
class DesignedPersona:
    key: str
    family: str
    given: tuple[str, ...]
    gender: str
    birth_date: dt.date


# Names chosen outside the random name lists, so nothing random can ever match a designed member.
DESIGNED_PERSONAS = (
    DesignedPersona("unique", "Person", ("Patricia", "Ann"), "female", dt.date(1974, 12, 25)),
    DesignedPersona("twin-a", "Rivera", ("Jordan", "Lee"), "male", dt.date(2009, 4, 17)),
    DesignedPersona("twin-b", "Rivera", ("Jordan", "Leigh"), "male", dt.date(2009, 4, 17)),
    DesignedPersona("sensitive", "Quinn", ("Alex", "Morgan"), "male", dt.date(1988, 8, 8)),
)


@dataclass(frozen=True)
class Subscriber:
    """The policy holder when the member is a dependant (a RelatedPerson)."""

    id: str
    family: str
    given: str
    gender: str
    birth_date: dt.date
    role: tuple[str, str]


@dataclass(frozen=True)
class Member:
    index: int
    designed: str | None
    patient_id: str
    coverage_id: str
    member_id: str
    subscriber_id: str
    relationship: str
    subscriber: Subscriber | None
    family: str
    given: tuple[str, ...]
    gender: str
    birth_date: dt.date
    address: dict
    phone: str
    email: str
    race: tuple[str, str]
    ethnicity: tuple[str, str]
    plan: Plan
    coverage_start: dt.date
    coverage_end: dt.date | None
    org: ProviderOrg
    pcp: Practitioner
    prior_payer: OtherPayer | None
    prior_member_id: str | None
    prior_start: dt.date | None
    history_start: dt.date
    history_end: dt.date

    @property
    def display_name(self) -> str:
        return f"{' '.join(self.given)} {self.family}"

    def covered_on(self, day: dt.date) -> bool:
        return self.coverage_start <= day and (self.coverage_end is None or day <= self.coverage_end)

    def age_on(self, day: dt.date) -> int:
        return day.year - self.birth_date.year - ((day.month, day.day) < (self.birth_date.month, self.birth_date.day))


def patient_id(index: int) -> str:
    return f"pat-{index + 1:06d}"


def coverage_id(index: int) -> str:
    return f"cov-{index + 1:06d}"


def _weighted(rng: random.Random, table) -> tuple[str, str]:
    code, display, _ = rng.choices(table, weights=[row[2] for row in table])[0]
    return code, display


def _random_day(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    span = max(0, (end - start).days)
    return start + dt.timedelta(days=rng.randint(0, span))


def build_member(ctx: PayerContext, index: int) -> Member:
    """The skeleton of member index: demographics, coverage, prior coverage and attributed provider."""
    rng = seeded_random(ctx.seed, "member", index)
    today = ctx.reference_date
    payer = ctx.payer
    prefix = member_id_prefix(payer.slug)
    member_id = f"{prefix}{index + 1:08d}"
    designed = DESIGNED_PERSONAS[index].key if index < DESIGNED_COUNT else None

    if designed:
        persona = DESIGNED_PERSONAS[index]
        family, given, gender, birth_date = persona.family, persona.given, persona.gender, persona.birth_date
    else:
        gender = rng.choice(("female", "male"))
        names = terms.GIVEN_FEMALE if gender == "female" else terms.GIVEN_MALE
        family = rng.choice(terms.FAMILY_NAMES)
        given = (rng.choice(names), rng.choice(names)) if rng.random() < 0.6 else (rng.choice(names),)
        birth_date = _random_day(rng, dt.date(today.year - 90, 1, 1), dt.date(today.year - 1, 1, 1))

    age = today.year - birth_date.year
    city = rng.choice(terms.CITIES)
    address = {
        "use": "home",
        "type": "physical",
        "line": [f"{rng.randint(1, 999)} {rng.choice(terms.STREETS)}"],
        "city": city[0],
        "state": terms.STATE,
        "postalCode": city[1],
        "country": "US",
    }
    if designed in ("twin-a", "twin-b"):
        address = {
            "use": "home",
            "type": "physical",
            "line": ["42 Chapel Street"],
            "city": "New Haven",
            "state": terms.STATE,
            "postalCode": "06510",
            "country": "US",
        }

    subscriber = None
    relationship = "self"
    subscriber_id = member_id
    if designed in ("twin-a", "twin-b"):
        # Both twins are dependants on one policy: one subscriber id, two member ids.
        relationship = "child"
        subscriber_id = f"{prefix}S{1 + 1:07d}"
        subscriber = Subscriber(
            id=f"rp-{1 + 1:06d}",
            family="Rivera",
            given="Maria",
            gender="female",
            birth_date=dt.date(1981, 2, 3),
            role=("MTH", "mother"),
        )
    elif not designed and (age < 18 or rng.random() < 0.15):
        relationship = "child" if age < 18 else "spouse"
        sub_gender = rng.choice(("female", "male"))
        sub_given = rng.choice(terms.GIVEN_FEMALE if sub_gender == "female" else terms.GIVEN_MALE)
        if relationship == "child":
            role = ("MTH", "mother") if sub_gender == "female" else ("FTH", "father")
            sub_birth = add_years(birth_date, -rng.randint(22, 40))
        else:
            role = ("SPS", "spouse")
            sub_birth = add_years(birth_date, rng.randint(-5, 5))
        subscriber_id = f"{prefix}S{index + 1:07d}"
        subscriber = Subscriber(
            id=f"rp-{index + 1:06d}", family=family, given=sub_given, gender=sub_gender, birth_date=sub_birth, role=role
        )

    plan = payer.plans[0] if age >= 65 else payer.plans[1]
    earliest = max(
        add_years(birth_date, 65) if plan.id == "plan-ma" else birth_date, today - dt.timedelta(days=9 * 365)
    )
    coverage_start = _random_day(rng, earliest, max(earliest, today - dt.timedelta(days=180)))
    coverage_end = None
    if not designed and rng.random() < 0.12 and (today - coverage_start).days > 500:
        coverage_end = _random_day(rng, coverage_start + dt.timedelta(days=365), today - dt.timedelta(days=30))
    if designed:
        coverage_start = dt.date(today.year - 3, 1, 1)

    prior_payer = prior_member_id = prior_start = None
    five_years_ago = today - dt.timedelta(days=5 * 365)
    if designed in ("unique", "sensitive") or (
        not designed
        and coverage_start > five_years_ago
        and coverage_start > birth_date + dt.timedelta(days=800)
        and rng.random() < 0.4
    ):
        prior_payer = payer.prior_payers[index % len(payer.prior_payers)]
        prior_member_id = f"{prior_payer.slug[:2].upper()}{rng.randrange(10**7, 10**8)}"
        prior_start = max(birth_date, coverage_start - dt.timedelta(days=rng.randint(700, 2200)))

    history_start = max(birth_date, today - dt.timedelta(days=6 * 365))
    if prior_start is None:
        history_start = max(history_start, coverage_start)
    else:
        history_start = max(history_start, prior_start)
    history_end = coverage_end or today

    orgs = ctx.pool.orgs
    org = orgs[(index + ctx.attribution_offset) % len(orgs)]
    pcp = org.practitioners[0]
    area = rng.choice(terms.AREA_CODES)
    return Member(
        index=index,
        designed=designed,
        patient_id=patient_id(index),
        coverage_id=coverage_id(index),
        member_id=member_id,
        subscriber_id=subscriber_id,
        relationship=relationship,
        subscriber=subscriber,
        family=family,
        given=tuple(given),
        gender=gender,
        birth_date=birth_date,
        address=address,
        phone=f"({area}) 555-{rng.randrange(10000):04d}",
        email=f"{given[0].lower()}.{family.lower()}.{index + 1}@example.com",
        race=_weighted(rng, terms.RACES),
        ethnicity=_weighted(rng, terms.ETHNICITIES),
        plan=plan,
        coverage_start=coverage_start,
        coverage_end=coverage_end,
        org=org,
        pcp=pcp,
        prior_payer=prior_payer,
        prior_member_id=prior_member_id,
        prior_start=prior_start,
        history_start=history_start,
        history_end=history_end,
    )


def member_identifier(system: str, value: str, assigner: dict | None = None) -> dict:
    result = {
        "use": "usual",
        "type": concept(IDENTIFIER_TYPE_SYSTEM, "MB", "Member Number"),
        "system": system,
        "value": value,
    }
    if assigner:
        result["assigner"] = assigner
    return result


def patient_resource(ctx: PayerContext, member: Member) -> dict:
    """The member's Patient (US Core Patient, CARIN BB Patient) with the MB member identifier."""
    payer = ctx.payer
    return {
        "resourceType": "Patient",
        "id": member.patient_id,
        "meta": meta([US_CORE + "us-core-patient", CARIN_BB + "C4BB-Patient"], ctx.last_updated),
        "extension": [
            {
                "url": RACE_URL,
                "extension": [
                    {
                        "url": "ombCategory",
                        "valueCoding": {"system": terms.OMB, "code": member.race[0], "display": member.race[1]},
                    },
                    {"url": "text", "valueString": member.race[1]},
                ],
            },
            {
                "url": ETHNICITY_URL,
                "extension": [
                    {
                        "url": "ombCategory",
                        "valueCoding": {
                            "system": terms.OMB,
                            "code": member.ethnicity[0],
                            "display": member.ethnicity[1],
                        },
                    },
                    {"url": "text", "valueString": member.ethnicity[1]},
                ],
            },
            {"url": BIRTHSEX_URL, "valueCode": "F" if member.gender == "female" else "M"},
        ],
        "identifier": [
            member_identifier(payer.member_system, member.member_id, ref("Organization", PAYER_ORG_ID, payer.name))
        ],
        "active": True,
        "name": [{"use": "official", "family": member.family, "given": list(member.given)}],
        "telecom": [
            {"system": "phone", "value": member.phone, "use": "home"},
            {"system": "email", "value": member.email},
        ],
        "gender": member.gender,
        "birthDate": member.birth_date.isoformat(),
        "address": [member.address],
        "communication": [
            {"language": concept("urn:ietf:bcp:47", "en-US", "English (United States)"), "preferred": True}
        ],
        "generalPractitioner": [ref("Practitioner", member.pcp.id)],
        "managingOrganization": ref("Organization", PAYER_ORG_ID, payer.name),
    }


def related_person_resource(ctx: PayerContext, member: Member) -> dict:
    """The subscriber of a dependant's policy (US Core RelatedPerson)."""
    subscriber = member.subscriber
    return {
        "resourceType": "RelatedPerson",
        "id": subscriber.id,
        "meta": meta([US_CORE + "us-core-relatedperson"], ctx.last_updated),
        "active": True,
        "patient": ref("Patient", member.patient_id),
        "relationship": [concept(ROLE_CODE_CS, subscriber.role[0], subscriber.role[1])],
        "name": [{"use": "official", "family": subscriber.family, "given": [subscriber.given]}],
        "telecom": [{"system": "phone", "value": member.phone, "use": "home"}],
        "gender": subscriber.gender,
        "birthDate": subscriber.birth_date.isoformat(),
        "address": [member.address],
    }


def _relationship_display(code: str) -> str:
    return {"self": "Self", "spouse": "Spouse", "child": "Child"}[code]


def coverage_resource(ctx: PayerContext, member: Member) -> dict:
    """The member's current Coverage at this payer (US Core Coverage, CARIN BB Coverage, HRex Coverage)."""
    payer = ctx.payer
    plan = member.plan
    holder = ref("RelatedPerson", member.subscriber.id) if member.subscriber else ref("Patient", member.patient_id)
    return {
        "resourceType": "Coverage",
        "id": member.coverage_id,
        "meta": meta(
            [
                US_CORE + "us-core-coverage",
                CARIN_BB + "C4BB-Coverage",
                "http://hl7.org/fhir/us/davinci-hrex/StructureDefinition/hrex-coverage",
            ],
            ctx.last_updated,
        ),
        "extension": [{"url": INSURANCE_PLAN_EXT, "valueReference": ref("InsurancePlan", plan.id, plan.name)}],
        "identifier": [member_identifier(payer.member_system, member.member_id)],
        "status": "active" if member.coverage_end is None else "cancelled",
        "type": concept("http://terminology.hl7.org/CodeSystem/v3-ActCode", "HIP", "health insurance plan policy"),
        "policyHolder": holder,
        "subscriber": holder,
        "subscriberId": member.subscriber_id,
        "beneficiary": ref("Patient", member.patient_id),
        "dependent": "00" if member.relationship == "self" else ("01" if member.relationship == "spouse" else "02"),
        "relationship": concept(RELATIONSHIP_CS, member.relationship, _relationship_display(member.relationship)),
        "period": period(member.coverage_start, member.coverage_end),
        "payor": [ref("Organization", PAYER_ORG_ID, payer.name)],
        "class": [
            {
                "type": concept("http://terminology.hl7.org/CodeSystem/coverage-class", "group", "Group"),
                "value": plan.group_number,
                "name": plan.group_name,
            },
            {
                "type": concept("http://terminology.hl7.org/CodeSystem/coverage-class", "plan", "Plan"),
                "value": plan.identifier,
                "name": plan.name,
            },
        ],
        "network": "Connecticut HMO network" if plan.id == "plan-com" else "Medicare Advantage network",
    }


def prior_coverage_resource(ctx: PayerContext, member: Member) -> dict:
    """The member's earlier Coverage at another payer, as received through payer-to-payer exchange."""
    other = member.prior_payer
    end = member.coverage_start - dt.timedelta(days=1)
    holder = ref("Patient", member.patient_id)
    return {
        "resourceType": "Coverage",
        "id": f"{member.coverage_id}-prior",
        "meta": meta(
            [US_CORE + "us-core-coverage", "http://hl7.org/fhir/us/davinci-hrex/StructureDefinition/hrex-coverage"],
            ctx.last_updated,
        ),
        "identifier": [member_identifier(other.member_system(ctx.payer.identifier_base), member.prior_member_id)],
        "status": "cancelled",
        "type": concept("http://terminology.hl7.org/CodeSystem/v3-ActCode", "HIP", "health insurance plan policy"),
        "policyHolder": holder,
        "subscriber": holder,
        "subscriberId": member.prior_member_id,
        "beneficiary": ref("Patient", member.patient_id),
        "relationship": concept(RELATIONSHIP_CS, "self", "Self"),
        "period": period(member.prior_start, end),
        "payor": [ref("Organization", other.id, other.name)],
        "class": [
            {
                "type": concept("http://terminology.hl7.org/CodeSystem/coverage-class", "plan", "Plan"),
                "value": f"{other.slug.upper()}-PPO",
                "name": f"{other.name} PPO",
            }
        ],
    }
