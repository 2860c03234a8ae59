"""
Provider directory of a synthetic payer: provider Organizations, Practitioners, PractitionerRoles and
Locations (US Core 3.1.1 profiles), plus the retail pharmacies that fill members' prescriptions.

The pool is small and fixed for a given member count, so every member resource can reference it and
memory does not grow with the members.
"""

from dataclasses import dataclass

from . import terminology as terms
from .builders import US_CORE, concept, meta, ref, seeded_random
from .identifiers import IDENTIFIER_TYPE_SYSTEM, NPI_SYSTEM, TIN_SYSTEM, make_npi, make_tin

NUCC = "http://nucc.org/provider-taxonomy"
ORG_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"

_ORG_NAMES = (
    "Riverside Family Practice",
    "Harbor Internal Medicine",
    "Elm City Primary Care",
    "Valley Health Partners",
    "Northgate Medical Group",
    "Shoreline Pediatrics",
    "Capitol Cardiology Associates",
    "Greenfield Orthopedics",
    "Lakeside Behavioral Health",
    "Summit Infectious Disease Clinic",
    "Oakwood Women's Health",
    "Bayview Medical Center",
)
_PHARMACY_NAMES = ("Main Street Pharmacy", "Elm City Drug", "Harbor Mail Order Pharmacy")


@dataclass(frozen=True)
class Practitioner:
    id: str
    role_id: str
    npi: str
    family: str
    given: str
    gender: str
    specialty: tuple[str, str]


@dataclass(frozen=True)
class ProviderOrg:
    id: str
    name: str
    npi: str
    tin: str
    location_id: str
    city: tuple[str, str]
    street: str
    practitioners: tuple[Practitioner, ...]
    # The bed-holding facility in the pool: inpatient and emergency claims go there.
    hospital: bool = False


@dataclass(frozen=True)
class Pharmacy:
    id: str
    name: str
    npi: str
    tin: str
    location_id: str


@dataclass(frozen=True)
class ProviderPool:
    orgs: tuple[ProviderOrg, ...]
    pharmacies: tuple[Pharmacy, ...]

    @property
    def hospital(self) -> ProviderOrg:
        return self.orgs[0]


def organization_count(members: int) -> int:
    """How many provider organizations a payer of this size contracts with (4 to 40)."""
    return max(4, min(40, members // 100))


def build_pool(seed, members: int) -> ProviderPool:
    """The provider pool for a payer: deterministic in (seed, members)."""
    rng = seeded_random(seed, "providers")
    used_npis = set()

    def unique_npi():
        while True:
            npi = make_npi(rng)
            if npi not in used_npis:
                used_npis.add(npi)
                return npi

    orgs = []
    practitioner_number = 0
    for number in range(1, organization_count(members) + 1):
        base = _ORG_NAMES[(number - 1) % len(_ORG_NAMES)]
        name = base if number <= len(_ORG_NAMES) else f"{base} {number // len(_ORG_NAMES) + 1}"
        if number == 1:
            name = "Bayview Medical Center"
        practitioners = []
        for _ in range(4):
            practitioner_number += 1
            gender = rng.choice(("female", "male"))
            given = rng.choice(terms.GIVEN_FEMALE if gender == "female" else terms.GIVEN_MALE)
            # Primary care first, so that every organization can be a member's attributed PCP practice.
            specialty = terms.PRACTITIONER_SPECIALTIES[0 if not practitioners else rng.randrange(8)]
            practitioners.append(
                Practitioner(
                    id=f"prac-{practitioner_number:04d}",
                    role_id=f"role-{practitioner_number:04d}",
                    npi=unique_npi(),
                    family=rng.choice(terms.FAMILY_NAMES),
                    given=given,
                    gender=gender,
                    specialty=specialty,
                )
            )
        orgs.append(
            ProviderOrg(
                id=f"org-{number:04d}",
                name=name,
                npi=unique_npi(),
                tin=make_tin(rng),
                location_id=f"loc-{number:04d}",
                city=rng.choice(terms.CITIES),
                street=f"{rng.randrange(10, 2000)} {rng.choice(terms.STREETS)}",
                practitioners=tuple(practitioners),
                hospital=number == 1,
            )
        )
    pharmacies = tuple(
        Pharmacy(
            id=f"pharmacy-{number:02d}",
            name=name,
            npi=unique_npi(),
            tin=make_tin(rng),
            location_id=f"loc-pharmacy-{number:02d}",
        )
        for number, name in enumerate(_PHARMACY_NAMES, start=1)
    )
    return ProviderPool(orgs=tuple(orgs), pharmacies=pharmacies)


def _npi_identifier(npi: str) -> dict:
    return {
        "use": "official",
        "type": concept(IDENTIFIER_TYPE_SYSTEM, "NPI", "National provider identifier"),
        "system": NPI_SYSTEM,
        "value": npi,
    }


def _tin_identifier(tin: str) -> dict:
    return {
        "use": "official",
        "type": concept(IDENTIFIER_TYPE_SYSTEM, "TAX", "Tax ID number"),
        "system": TIN_SYSTEM,
        "value": tin,
    }


def _phone(rng_value: int) -> str:
    return f"({terms.AREA_CODES[rng_value % 4]}) 555-{rng_value % 10000:04d}"


def provider_resources(pool: ProviderPool, last_updated: str):
    """Yield the US Core Organization, Location, Practitioner and PractitionerRole resources of the pool."""
    for position, org in enumerate(pool.orgs):
        address = {
            "use": "work",
            "line": [org.street],
            "city": org.city[0],
            "state": terms.STATE,
            "postalCode": org.city[1],
            "country": "US",
        }
        yield {
            "resourceType": "Organization",
            "id": org.id,
            "meta": meta(
                [
                    US_CORE + "us-core-organization",
                    "http://hl7.org/fhir/us/carin-bb/StructureDefinition/C4BB-Organization",
                ],
                last_updated,
            ),
            "identifier": [_npi_identifier(org.npi), _tin_identifier(org.tin)],
            "active": True,
            "type": [concept(ORG_TYPE, "prov", "Healthcare Provider")],
            "name": org.name,
            "telecom": [{"system": "phone", "value": _phone(position * 37 + 1200), "use": "work"}],
            "address": [address],
        }
        yield {
            "resourceType": "Location",
            "id": org.location_id,
            "meta": meta([US_CORE + "us-core-location"], last_updated),
            "status": "active",
            "name": org.name,
            "type": [
                concept(
                    "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                    "HOSP" if org.hospital else "OF",
                    "Hospital" if org.hospital else "Outpatient facility",
                )
            ],
            "telecom": [{"system": "phone", "value": _phone(position * 37 + 1200), "use": "work"}],
            "address": address,
            "managingOrganization": ref("Organization", org.id, org.name),
        }
        for practitioner in org.practitioners:
            display = f"{practitioner.given} {practitioner.family}, MD"
            yield {
                "resourceType": "Practitioner",
                "id": practitioner.id,
                "meta": meta(
                    [
                        US_CORE + "us-core-practitioner",
                        "http://hl7.org/fhir/us/carin-bb/StructureDefinition/C4BB-Practitioner",
                    ],
                    last_updated,
                ),
                "identifier": [_npi_identifier(practitioner.npi)],
                "active": True,
                "name": [
                    {"use": "official", "family": practitioner.family, "given": [practitioner.given], "suffix": ["MD"]}
                ],
                "telecom": [{"system": "phone", "value": _phone(int(practitioner.npi[-6:])), "use": "work"}],
                "address": [address],
                "gender": practitioner.gender,
            }
            yield {
                "resourceType": "PractitionerRole",
                "id": practitioner.role_id,
                "meta": meta([US_CORE + "us-core-practitionerrole"], last_updated),
                "active": True,
                "practitioner": ref("Practitioner", practitioner.id, display),
                "organization": ref("Organization", org.id, org.name),
                "code": [concept("http://terminology.hl7.org/CodeSystem/practitioner-role", "doctor", "Doctor")],
                "specialty": [concept(NUCC, practitioner.specialty[0], practitioner.specialty[1])],
                "location": [ref("Location", org.location_id, org.name)],
                "telecom": [{"system": "phone", "value": _phone(int(practitioner.npi[-6:])), "use": "work"}],
            }
    for position, pharmacy in enumerate(pool.pharmacies):
        city = terms.CITIES[position]
        address = {
            "use": "work",
            "line": [f"{100 + position * 11} Main Street"],
            "city": city[0],
            "state": terms.STATE,
            "postalCode": city[1],
            "country": "US",
        }
        yield {
            "resourceType": "Organization",
            "id": pharmacy.id,
            "meta": meta(
                [
                    US_CORE + "us-core-organization",
                    "http://hl7.org/fhir/us/carin-bb/StructureDefinition/C4BB-Organization",
                ],
                last_updated,
            ),
            "identifier": [_npi_identifier(pharmacy.npi), _tin_identifier(pharmacy.tin)],
            "active": True,
            "type": [concept(ORG_TYPE, "prov", "Healthcare Provider")],
            "name": pharmacy.name,
            "telecom": [{"system": "phone", "value": _phone(position * 53 + 3100), "use": "work"}],
            "address": [address],
        }
        yield {
            "resourceType": "Location",
            "id": pharmacy.location_id,
            "meta": meta([US_CORE + "us-core-location"], last_updated),
            "status": "active",
            "name": pharmacy.name,
            "type": [concept("http://terminology.hl7.org/CodeSystem/v3-RoleCode", "PHARM", "Pharmacy")],
            "address": address,
            "managingOrganization": ref("Organization", pharmacy.id, pharmacy.name),
        }
