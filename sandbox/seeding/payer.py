"""
The simulated payer itself: its Organization (US Core / CARIN BB, with NAIC, TIN and NPI), its plans,
its member-id namespace, and the other payers its members were covered by before (the counterparties
that payer-to-payer exchange needs).
"""

import datetime as dt
from dataclasses import dataclass

from .builders import CARIN_BB, US_CORE, concept, meta, seeded_random
from .identifiers import (
    DEFAULT_IDENTIFIER_BASE,
    IDENTIFIER_TYPE_SYSTEM,
    NAIC_SYSTEM,
    NPI_SYSTEM,
    TIN_SYSTEM,
    make_npi,
    make_tin,
)
from .providers import ProviderPool

PAYER_ORG_ID = "payer"
ORG_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"
PLAN_NET_PRODUCT_TYPE = "http://hl7.org/fhir/us/davinci-pdex-plan-net/CodeSystem/InsuranceProductTypeCS"


@dataclass(frozen=True)
class Plan:
    id: str
    identifier: str
    name: str
    product_code: str
    product_display: str
    group_number: str
    group_name: str


@dataclass(frozen=True)
class OtherPayer:
    id: str
    slug: str
    name: str
    naic: str
    npi: str

    def member_system(self, base: str = DEFAULT_IDENTIFIER_BASE) -> str:
        return f"{base}/{self.slug}/member-id"


@dataclass(frozen=True)
class Payer:
    slug: str
    name: str
    naic: str
    tin: str
    npi: str
    identifier_base: str
    plans: tuple[Plan, ...]
    prior_payers: tuple[OtherPayer, ...]

    @property
    def member_system(self) -> str:
        return f"{self.identifier_base}/{self.slug}/member-id"

    @property
    def claim_system(self) -> str:
        return f"{self.identifier_base}/{self.slug}/claim-id"

    @property
    def prior_auth_system(self) -> str:
        return f"{self.identifier_base}/{self.slug}/prior-authorization"

    @property
    def plan_system(self) -> str:
        return f"{self.identifier_base}/{self.slug}/plan-id"

    @property
    def formulary_system(self) -> str:
        return f"{self.identifier_base}/{self.slug}/formulary-id"

    @property
    def contract_system(self) -> str:
        return f"{self.identifier_base}/{self.slug}/attribution-contract"


def build_payer(*, slug: str, name: str, seed, identifier_base: str = DEFAULT_IDENTIFIER_BASE) -> Payer:
    """The payer's identity, plans and prior payers: deterministic in (slug, name, seed)."""
    rng = seeded_random(seed, "payer", slug)
    prefix = "".join(ch for ch in slug.upper() if ch.isalnum())[:4] or "PLAN"
    plans = (
        Plan(
            id="plan-ma",
            identifier=f"{prefix}-MA-001",
            name=f"{name} Medicare Advantage",
            product_code="mediadv",
            product_display="Medicare Advantage",
            group_number=f"G{rng.randrange(10000, 99999)}",
            group_name="Individual Medicare Advantage",
        ),
        Plan(
            id="plan-com",
            identifier=f"{prefix}-HMO-002",
            name=f"{name} Commercial HMO",
            product_code="commhmo",
            product_display="Commercial HMO",
            group_number=f"G{rng.randrange(10000, 99999)}",
            group_name="Nutmeg Manufacturing Co. Employees",
        ),
    )
    prior_payers = (
        OtherPayer(
            id="prior-payer-1",
            slug="nutmeg-mutual",
            name="Nutmeg Mutual Health",
            naic=f"{rng.randrange(10000, 99999)}",
            npi=make_npi(rng),
        ),
        OtherPayer(
            id="prior-payer-2",
            slug="charter-oak",
            name="Charter Oak Health Plan",
            naic=f"{rng.randrange(10000, 99999)}",
            npi=make_npi(rng),
        ),
    )
    return Payer(
        slug=slug,
        name=name,
        naic=f"{rng.randrange(10000, 99999)}",
        tin=make_tin(rng),
        npi=make_npi(rng),
        identifier_base=identifier_base,
        plans=plans,
        prior_payers=prior_payers,
    )


def _identifiers(naic: str, tin: str | None, npi: str) -> list[dict]:
    result = [
        {
            "use": "official",
            "type": concept(IDENTIFIER_TYPE_SYSTEM, "NIIP", "National Insurance Payor Identifier (Payor)"),
            "system": NAIC_SYSTEM,
            "value": naic,
        },
        {
            "use": "official",
            "type": concept(IDENTIFIER_TYPE_SYSTEM, "NPI", "National provider identifier"),
            "system": NPI_SYSTEM,
            "value": npi,
        },
    ]
    if tin:
        result.append(
            {
                "use": "official",
                "type": concept(IDENTIFIER_TYPE_SYSTEM, "TAX", "Tax ID number"),
                "system": TIN_SYSTEM,
                "value": tin,
            }
        )
    return result


def payer_resources(payer: Payer, last_updated: str):
    """Yield the payer Organization and the prior payers' Organizations (US Core, CARIN BB, PDex)."""
    yield {
        "resourceType": "Organization",
        "id": PAYER_ORG_ID,
        "meta": meta([US_CORE + "us-core-organization", CARIN_BB + "C4BB-Organization"], last_updated),
        "identifier": _identifiers(payer.naic, payer.tin, payer.npi),
        "active": True,
        "type": [concept(ORG_TYPE, "pay", "Payer")],
        "name": payer.name,
        "telecom": [
            {"system": "phone", "value": "(860) 555-0100", "use": "work"},
            {"system": "url", "value": f"{payer.identifier_base}/{payer.slug}/member-support", "use": "work"},
        ],
        "address": [
            {
                "use": "work",
                "line": ["1 Financial Plaza"],
                "city": "Hartford",
                "state": "CT",
                "postalCode": "06103",
                "country": "US",
            }
        ],
    }
    for other in payer.prior_payers:
        yield {
            "resourceType": "Organization",
            "id": other.id,
            "meta": meta([US_CORE + "us-core-organization"], last_updated),
            "identifier": _identifiers(other.naic, None, other.npi),
            "active": True,
            "type": [concept(ORG_TYPE, "pay", "Payer")],
            "name": other.name,
            "telecom": [{"system": "phone", "value": "(203) 555-0199", "use": "work"}],
            "address": [
                {
                    "use": "work",
                    "line": ["200 Orange Street"],
                    "city": "New Haven",
                    "state": "CT",
                    "postalCode": "06510",
                    "country": "US",
                }
            ],
        }


@dataclass(frozen=True)
class PayerContext:
    """Everything about a payer that member generation reads; fixed in size whatever the member count."""

    payer: Payer
    pool: ProviderPool
    seed: object
    reference_date: dt.date
    members_total: int
    attribution_offset: int

    @property
    def last_updated(self) -> str:
        return f"{self.reference_date.isoformat()}T00:00:00Z"
