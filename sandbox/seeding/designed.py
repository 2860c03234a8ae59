"""
Designed test members and ready-made HRex $member-match requests (HRex 1.0.0
hrex-parameters-member-match-in) for the payer's page: one member the match finds uniquely, two
dependants who collide (an ambiguous match), a member whose record carries sensitive data, and a
request that matches nobody.

member_match_keys() states the matching rule these designs are built against: coverage identifiers
(member id, subscriber id) plus normalised family name, first given name, birth date and gender.
"""

import datetime as dt
import unicodedata

from .builders import ref, seeded_random
from .identifiers import DEFAULT_IDENTIFIER_BASE, NPI_SYSTEM, make_npi, member_id_prefix
from .members import DESIGNED_COUNT, Member, build_member, member_identifier

HREX_CONSENT_POLICY = "http://hl7.org/fhir/us/davinci-hrex/StructureDefinition-hrex-consent.html#"
NEW_PAYER_NAME = "New Horizon Health"


def _normalise(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(ch for ch in decomposed if ch.isalnum()).casefold()


def member_match_keys(patient: dict, coverage: dict | None = None) -> tuple[tuple, frozenset]:
    """
    The $member-match keys of a Patient (and optionally its Coverage): (demographics, identifiers).

    Two records match when their demographics are equal and their identifier sets intersect.
    Demographics are the normalised family name, first given name, birth date and gender; identifiers
    are the MB identifiers of the Patient and the Coverage and the Coverage's subscriber id.
    """
    name = (patient.get("name") or [{}])[0]
    demographics = (
        _normalise(name.get("family", "")),
        _normalise((name.get("given") or [""])[0]),
        patient.get("birthDate", ""),
        patient.get("gender", ""),
    )
    identifiers = set()
    for resource in (patient, coverage or {}):
        for identifier in resource.get("identifier", []):
            if identifier.get("value"):
                identifiers.add(identifier["value"].strip().upper())
    if coverage and coverage.get("subscriberId"):
        identifiers.add(coverage["subscriberId"].strip().upper())
    return demographics, frozenset(identifiers)


def request_match_keys(parameters: dict) -> tuple[tuple, frozenset]:
    """The $member-match keys of a member-match-in Parameters (MemberPatient + CoverageToMatch)."""
    parts = {part["name"]: part.get("resource") for part in parameters["parameter"]}
    return member_match_keys(parts["MemberPatient"], parts.get("CoverageToMatch"))


def _new_payer_npi(seed) -> str:
    return make_npi(seeded_random(seed, "new-payer"))


def member_match_request(ctx, *, family, given, birth_date, gender, member_id, subscriber_id, request_id) -> dict:
    """An HRex member-match-in Parameters asking this payer (the old payer) to find a member."""
    payer = ctx.payer
    new_payer_npi = _new_payer_npi(ctx.seed)
    today = ctx.reference_date
    patient = {
        "resourceType": "Patient",
        "id": "1",
        "name": [{"use": "official", "family": family, "given": list(given)}],
        "gender": gender,
        "birthDate": birth_date.isoformat(),
    }
    if member_id:
        patient["identifier"] = [member_identifier(payer.member_system, member_id, {"display": payer.name})]
    coverage_to_match = {
        "resourceType": "Coverage",
        "id": "9876B1",
        "status": "active",
        "subscriberId": subscriber_id,
        "beneficiary": {"reference": "Patient/1"},
        "payor": [{"identifier": {"system": NPI_SYSTEM, "value": payer.npi}, "display": payer.name}],
    }
    if member_id:
        coverage_to_match = {
            "resourceType": "Coverage",
            "id": "9876B1",
            "identifier": [{"system": payer.member_system, "value": member_id}],
            **{k: v for k, v in coverage_to_match.items() if k not in ("resourceType", "id")},
        }
    coverage_to_link = {
        "resourceType": "Coverage",
        "id": "AA87654",
        "identifier": [{"system": f"{DEFAULT_IDENTIFIER_BASE}/new-horizon/member-id", "value": f"NH{request_id}"}],
        "status": "active",
        "beneficiary": {"reference": "Patient/1"},
        "payor": [{"identifier": {"system": NPI_SYSTEM, "value": new_payer_npi}, "display": NEW_PAYER_NAME}],
    }
    consent = {
        "resourceType": "Consent",
        "id": "consent-1",
        "status": "active",
        "scope": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]
        },
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IDSCL"}]}],
        "patient": {"reference": "Patient/1"},
        "performer": [{"reference": "Patient/1"}],
        "sourceReference": {"reference": f"{DEFAULT_IDENTIFIER_BASE}/new-horizon/consents/{request_id}.pdf"},
        "policy": [{"uri": HREX_CONSENT_POLICY + "regular"}],
        "provision": {
            "type": "permit",
            "period": {
                "start": (today - dt.timedelta(days=30)).isoformat(),
                "end": (today + dt.timedelta(days=365)).isoformat(),
            },
            "actor": [
                {
                    "role": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                                "code": "performer",
                            }
                        ]
                    },
                    "reference": {"identifier": {"system": NPI_SYSTEM, "value": payer.npi}, "display": payer.name},
                },
                {
                    "role": {
                        "coding": [
                            {"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP"}
                        ]
                    },
                    "reference": {
                        "identifier": {"system": NPI_SYSTEM, "value": new_payer_npi},
                        "display": NEW_PAYER_NAME,
                    },
                },
            ],
            "action": [
                {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentaction", "code": "disclose"}]}
            ],
        },
    }
    return {
        "resourceType": "Parameters",
        "id": f"member-match-in-{request_id}",
        "parameter": [
            {"name": "MemberPatient", "resource": patient},
            {"name": "CoverageToMatch", "resource": coverage_to_match},
            {"name": "CoverageToLink", "resource": coverage_to_link},
            {"name": "Consent", "resource": consent},
        ],
    }


def _request_for(ctx, member: Member, request_id: str, with_member_id: bool) -> dict:
    return member_match_request(
        ctx,
        family=member.family,
        given=member.given,
        birth_date=member.birth_date,
        gender=member.gender,
        member_id=member.member_id if with_member_id else None,
        subscriber_id=member.subscriber_id,
        request_id=request_id,
    )


def designed_members_for(ctx) -> list[dict]:
    """The designed members of a payer context, each with a description and a ready-made request."""
    unique, twin_a, twin_b, sensitive = (build_member(ctx, index) for index in range(DESIGNED_COUNT))
    prefix = member_id_prefix(ctx.payer.slug)

    def summary(member: Member) -> dict:
        return {
            "patient": ref("Patient", member.patient_id)["reference"],
            "name": member.display_name,
            "birth_date": member.birth_date.isoformat(),
            "gender": member.gender,
            "member_id": member.member_id,
            "subscriber_id": member.subscriber_id,
            "coverage": f"Coverage/{member.coverage_id}",
        }

    return [
        {
            "key": "unique",
            "title": "Unique match",
            "description": (
                f"{unique.display_name} ({unique.birth_date}) is found by $member-match on name, birth date, "
                f"gender and member id {unique.member_id}. Has an earlier coverage at {unique.prior_payer.name}, "
                "data received from it with Provenance, and prior authorizations in every state."
            ),
            "expected": "match",
            "expected_patients": [f"Patient/{unique.patient_id}"],
            "members": [summary(unique)],
            "request": _request_for(ctx, unique, "unique", with_member_id=True),
        },
        {
            "key": "ambiguous",
            "title": "Ambiguous match (twins)",
            "description": (
                f"Twins {twin_a.display_name} and {twin_b.display_name}, born {twin_a.birth_date}, are "
                f"dependants on one policy (subscriber id {twin_a.subscriber_id}). A request with the shared "
                "subscriber id and no member id matches both: $member-match must answer 422."
            ),
            "expected": "multiple-matches",
            "expected_patients": [f"Patient/{twin_a.patient_id}", f"Patient/{twin_b.patient_id}"],
            "members": [summary(twin_a), summary(twin_b)],
            "request": _request_for(ctx, twin_a, "ambiguous", with_member_id=False),
        },
        {
            "key": "sensitive",
            "title": "Unique match with sensitive data",
            "description": (
                f"{sensitive.display_name} ({sensitive.birth_date}) matches uniquely; the record holds "
                "behavioural health, HIV and substance-use data labelled PSY, HIV and ETH with "
                "confidentiality R, for consent rules (#regular vs #sensitive) to act on."
            ),
            "expected": "match",
            "expected_patients": [f"Patient/{sensitive.patient_id}"],
            "members": [summary(sensitive)],
            "request": _request_for(ctx, sensitive, "sensitive", with_member_id=True),
        },
        {
            "key": "no-match",
            "title": "No match",
            "description": "A request for a person this payer has never covered: $member-match must answer 422.",
            "expected": "no-match",
            "expected_patients": [],
            "members": [],
            "request": member_match_request(
                ctx,
                family="Nomatch",
                given=("Casey",),
                birth_date=dt.date(1990, 1, 1),
                gender="female",
                member_id=f"{prefix}99999999",
                subscriber_id=f"{prefix}99999999",
                request_id="no-match",
            ),
        },
    ]
