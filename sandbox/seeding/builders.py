"""
Small builders for FHIR R4 datatypes, shared by the generator modules.

Resources are plain dicts built in a fixed key order, so that the same inputs always serialise to the
same bytes.
"""

import datetime as dt
import random

US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
CARIN_BB = "http://hl7.org/fhir/us/carin-bb/StructureDefinition/"
PDEX = "http://hl7.org/fhir/us/davinci-pdex/StructureDefinition/"
ATR = "http://hl7.org/fhir/us/davinci-atr/StructureDefinition/"
USDF = "http://hl7.org/fhir/us/davinci-drug-formulary/StructureDefinition/"
CORE = "http://hl7.org/fhir/StructureDefinition/"

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"


def instant(day: dt.date, hour: int = 12, minute: int = 0) -> str:
    """A FHIR instant (UTC) on day at hour:minute."""
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}:00Z"


def meta(profiles, last_updated: str, security=None) -> dict:
    """Resource meta with declared profiles, lastUpdated and optional security labels."""
    result = {"lastUpdated": last_updated, "profile": list(profiles)}
    if security:
        result["security"] = list(security)
    return result


def coding(system: str, code: str, display: str | None = None) -> dict:
    result = {"system": system, "code": code}
    if display:
        result["display"] = display
    return result


def concept(system: str, code: str, display: str | None = None, text: str | None = None) -> dict:
    result = {"coding": [coding(system, code, display)]}
    if text:
        result["text"] = text
    return result


def ref(resource_type: str, resource_id: str, display: str | None = None) -> dict:
    result = {"reference": f"{resource_type}/{resource_id}"}
    if display:
        result["display"] = display
    return result


def money(value: float) -> dict:
    return {"value": round(value, 2), "currency": "USD"}


def period(start: dt.date, end: dt.date | None = None) -> dict:
    result = {"start": start.isoformat()}
    if end is not None:
        result["end"] = end.isoformat()
    return result


def add_years(day: dt.date, years: int) -> dt.date:
    """day moved by whole years; 29 February becomes 28 February in a non-leap year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def seeded_random(seed, *scope) -> random.Random:
    """
    A random generator for one scope of one payer (e.g. seeded_random(seed, "member", 7)).

    String seeds are hashed with SHA-512 by random.Random, so streams are stable across runs and
    PYTHONHASHSEED values; each scope gets its own stream so that members are independent of each other.
    """
    # Reproducible synthetic data, never secrets: a cryptographic generator would defeat the seed.
    return random.Random("/".join(str(part) for part in (seed, *scope)))  # noqa: S311
