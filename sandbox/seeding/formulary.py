"""
The payer's drug formulary per Da Vinci US Drug Formulary STU2 (2.0.1): PayerInsurancePlans with
complete cost grids, Formularies (one retired), FormularyItems (Basic) and FormularyDrugs
(MedicationKnowledge, RxNorm), and the InsurancePlanLocations of the plans' coverage area.

Tier codes stay within the 2.0.1 DrugTierCS, which the Inferno formulary kit validates against.
"""

import base64
import datetime as dt
import json
import random

from . import terminology as terms
from .builders import US_CORE, USDF, coding, concept, meta, period, ref, seeded_random
from .payer import PLAN_NET_PRODUCT_TYPE, Payer

USDF_CS = "http://hl7.org/fhir/us/davinci-drug-formulary/CodeSystem/"
TIER_CS = USDF_CS + "usdf-DrugTierCS-TEMPORARY-TRIAL-USE"
BENEFIT_TYPE_CS = USDF_CS + "usdf-PharmacyBenefitTypeCS-TEMPORARY-TRIAL-USE"
COST_TYPE_CS = USDF_CS + "usdf-BenefitCostTypeCS-TEMPORARY-TRIAL-USE"
COST_SHARE_CS = USDF_CS + "usdf-CostShareOptionCS-TEMPORARY-TRIAL-USE"
CONTACT_TYPE_CS = USDF_CS + "usdf-PlanContactTypeCS-TEMPORARY-TRIAL-USE"
ITEM_TYPE_CS = USDF_CS + "usdf-InsuranceItemTypeCS"
PLAN_TYPE_CS = "http://terminology.hl7.org/CodeSystem/insurance-plan-type"

TIERS = {
    "generic": "Generic",
    "preferred-generic": "Preferred Generic",
    "non-preferred-generic": "Non-Preferred Generic",
    "brand": "Brand",
    "preferred-brand": "Preferred Brand",
    "non-preferred-brand": "Non-Preferred Brand",
    "specialty": "Specialty",
    "zero-cost-share-preventative": "Zero Cost-Share Preventative",
    "medical-service": "Medical Service",
}
BENEFIT_TYPES = {
    "1-month-in-retail": "1 month in network retail",
    "1-month-in-mail": "1 month in network mail order",
    "3-month-in-retail": "3 month in network retail",
    "3-month-in-mail": "3 month in network mail order",
}
# tier: (copay USD, copay qualifier, coinsurance %, coinsurance qualifier), for a 1-month fill.
COST_GRID = {
    "generic": (10, "charge", 0, "coinsurance-not-applicable"),
    "preferred-generic": (5, "charge", 0, "coinsurance-not-applicable"),
    "non-preferred-generic": (20, "after-deductible", 0, "coinsurance-not-applicable"),
    "brand": (0, "copay-not-applicable", 25, "after-deductible"),
    "preferred-brand": (40, "charge", 0, "coinsurance-not-applicable"),
    "non-preferred-brand": (0, "copay-not-applicable", 40, "after-deductible"),
    "specialty": (0, "copay-not-applicable", 30, "no-charge-after-deductible"),
    "zero-cost-share-preventative": (0, "no-charge", 0, "no-charge"),
    "medical-service": (0, "copay-not-applicable", 20, "after-deductible"),
}
COST_SHARE_DISPLAY = {
    "charge": "Charge",
    "after-deductible": "After Deductible",
    "no-charge": "No Charge",
    "no-charge-after-deductible": "No Charge After Deductible",
    "copay-not-applicable": "Copay Not Applicable",
    "coinsurance-not-applicable": "Coinsurance Not Applicable",
}

# Drugs members are prescribed: always on the current formularies so claims and formulary agree.
_PRESCRIBED = tuple(sorted({rxcui for drugs in terms.TREATMENTS.values() for rxcui in drugs}))
_SPECIALTY_CLASSES = {"oncology-oral", "biologic", "hiv", "specialty"}
_MEDICAL_CLASSES = {"hospital", "oncology"}
# A preventive, a clinic-administered and two brand drugs, so every tier has a natural member.
_ALWAYS_LISTED = ("243670", "1114085", "1049640", "209459")
# The one FormularyDrug published as inactive: meperidine, which formularies have largely dropped.
_INACTIVE_DRUG = "861467"


def formulary_ids(reference_date: dt.date) -> dict[str, str]:
    year = reference_date.year
    return {"ma": f"formulary-ma-{year}", "com": f"formulary-com-{year}", "com-prev": f"formulary-com-{year - 1}"}


def _plan_formularies(plan_id: str, ids: dict[str, str]) -> tuple[str, ...]:
    # The commercial plan lists two formularies and shares the Medicare one (formulary.md §8).
    return (ids["ma"],) if plan_id == "plan-ma" else (ids["com"], ids["ma"])


def _tier_for(drug: dict, rng: random.Random) -> str:
    if drug["class"] == "preventive":
        return "zero-cost-share-preventative"
    if drug["class"] in _SPECIALTY_CLASSES:
        return "specialty"
    if drug["class"] in _MEDICAL_CLASSES:
        return "medical-service"
    if drug["tty"] in ("SBD", "BPCK"):
        return rng.choice(("brand", "preferred-brand", "non-preferred-brand"))
    return rng.choice(("generic", "generic", "preferred-generic", "non-preferred-generic"))


def _cost(cost_type: str, amount: float, qualifier: str) -> dict:
    value = (
        {"value": amount, "system": "urn:iso:std:iso:4217", "code": "USD"}
        if cost_type == "copay"
        else {"value": amount, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}
    )
    return {
        "type": concept(COST_TYPE_CS, cost_type, cost_type.capitalize()),
        "qualifiers": [concept(COST_SHARE_CS, qualifier, COST_SHARE_DISPLAY[qualifier])],
        "value": value,
    }


def _specific_costs() -> list[dict]:
    costs = []
    for benefit_code, benefit_display in BENEFIT_TYPES.items():
        months = 3 if benefit_code.startswith("3-") else 1
        mail = benefit_code.endswith("mail")
        benefits = []
        for tier, (copay, copay_q, coins, coins_q) in COST_GRID.items():
            # Three months by mail cost two months' copay: the usual mail-order incentive.
            copay_amount = copay * (2 if mail and months == 3 else months)
            benefits.append(
                {
                    "type": concept(TIER_CS, tier, TIERS[tier]),
                    "cost": [_cost("copay", copay_amount, copay_q), _cost("coinsurance", coins, coins_q)],
                }
            )
        costs.append({"category": concept(BENEFIT_TYPE_CS, benefit_code, benefit_display), "benefit": benefits})
    return costs


def _geojson_box(name: str, west: float, south: float, east: float, north: float) -> dict:
    feature = {
        "type": "Feature",
        "properties": {"name": name},
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[west, south], [east, south], [east, north], [west, north], [west, south]]],
        },
    }
    data = base64.b64encode(json.dumps(feature, separators=(",", ":")).encode()).decode()
    return {
        "url": "http://hl7.org/fhir/StructureDefinition/location-boundary-geojson",
        "valueAttachment": {
            "contentType": "application/geo+json",
            "data": data,
            "title": f"GeoJSON bounding box of {name}",
        },
    }


def coverage_area_resources(last_updated: str):
    """Yield the plans' coverage areas: the state of Connecticut and the United States (usdf-InsurancePlanLocation)."""
    profiles = [USDF + "usdf-InsurancePlanLocation", US_CORE + "us-core-location"]
    yield {
        "resourceType": "Location",
        "id": "area-ct",
        "meta": meta(profiles, last_updated),
        # A bounding box, not the state outline: enough for an Inferno region check, small enough to seed.
        "extension": [_geojson_box("State of Connecticut", -73.73, 40.98, -71.78, 42.05)],
        "status": "active",
        "name": "State of Connecticut",
        "address": {"city": "Hartford", "state": "CT", "postalCode": "06103", "country": "US"},
    }
    yield {
        "resourceType": "Location",
        "id": "area-us",
        "meta": meta(profiles, last_updated),
        "status": "active",
        "name": "United States",
        "address": {"country": "US"},
    }


def formulary_resources(payer: Payer, reference_date: dt.date, seed, last_updated: str):
    """
    Yield the formulary graph (US Drug Formulary 2.0.1) in reference order: coverage-area Locations,
    Formularies, PayerInsurancePlans, FormularyDrugs (MedicationKnowledge), FormularyItems (Basic).
    """
    rng = seeded_random(seed, "formulary")
    year = reference_date.year
    this_year = period(dt.date(year, 1, 1), dt.date(year, 12, 31))
    last_year = period(dt.date(year - 1, 1, 1), dt.date(year - 1, 12, 31))
    ids = formulary_ids(reference_date)
    yield from coverage_area_resources(last_updated)

    formularies = (
        (ids["ma"], f"{payer.name} Medicare Part D Formulary {year}", "active", this_year),
        (ids["com"], f"{payer.name} Commercial Formulary {year}", "active", this_year),
        (ids["com-prev"], f"{payer.name} Commercial Formulary {year - 1}", "retired", last_year),
    )
    for formulary_id, title, status, term in formularies:
        yield {
            "resourceType": "InsurancePlan",
            "id": formulary_id,
            "meta": meta([USDF + "usdf-Formulary"], last_updated),
            "identifier": [{"system": payer.formulary_system, "value": formulary_id.upper()}],
            "status": status,
            "type": [concept("http://terminology.hl7.org/CodeSystem/v3-ActCode", "DRUGPOL", "drug policy")],
            "name": title,
            "period": term,
            "plan": [
                {
                    "type": concept(PLAN_TYPE_CS, "drug", "Drug"),
                    "specificCost": [
                        {
                            "category": concept(BENEFIT_TYPE_CS, code, display),
                            "benefit": [
                                {"type": concept(TIER_CS, tier, tier_display)} for tier, tier_display in TIERS.items()
                            ],
                        }
                        for code, display in BENEFIT_TYPES.items()
                    ],
                }
            ],
        }

    contact_url = f"{payer.identifier_base}/{payer.slug}"
    for plan in payer.plans:
        yield {
            "resourceType": "InsurancePlan",
            "id": plan.id,
            "meta": meta([USDF + "usdf-PayerInsurancePlan"], last_updated),
            "identifier": [{"system": payer.plan_system, "value": plan.identifier}],
            "status": "active",
            "type": [concept(PLAN_NET_PRODUCT_TYPE, plan.product_code, plan.product_display)],
            "name": plan.name,
            "period": this_year,
            "ownedBy": ref("Organization", "payer", payer.name),
            "coverageArea": [ref("Location", "area-ct")]
            + ([ref("Location", "area-us")] if plan.id == "plan-com" else []),
            "contact": [
                {
                    "purpose": concept("http://terminology.hl7.org/CodeSystem/contactentity-type", "PATINF", "Patient"),
                    "name": {"text": f"{plan.name} Member Services"},
                    "telecom": [{"system": "phone", "value": "(860) 555-0100"}],
                },
                {
                    "purpose": concept(CONTACT_TYPE_CS, "MARKETING", "Plan Marketing Information"),
                    "name": {"text": f"{plan.name} Marketing"},
                    "telecom": [{"system": "url", "value": f"{contact_url}/plans/{plan.id}"}],
                },
                {
                    "purpose": concept(CONTACT_TYPE_CS, "SUMMARY", "Plan Summary Information"),
                    "name": {"text": f"{plan.name} Summary of Benefits"},
                    "telecom": [{"system": "url", "value": f"{contact_url}/plans/{plan.id}/summary"}],
                },
                {
                    "purpose": concept(CONTACT_TYPE_CS, "FORMULARY", "Plan Formulary Information"),
                    "name": {"text": f"{plan.name} Formulary"},
                    "telecom": [{"system": "url", "value": f"{contact_url}/plans/{plan.id}/formulary"}],
                },
            ],
            "coverage": [
                {
                    "extension": [
                        {
                            "url": USDF + "usdf-FormularyReference-extension",
                            "valueReference": ref("InsurancePlan", formulary_id),
                        }
                        for formulary_id in _plan_formularies(plan.id, ids)
                    ],
                    "type": concept("http://terminology.hl7.org/CodeSystem/v3-ActCode", "DRUGPOL", "drug policy"),
                    "benefit": [{"type": concept(PLAN_TYPE_CS, "drug", "Drug")}],
                }
            ],
            "plan": [
                {
                    "identifier": [{"system": payer.plan_system, "value": plan.identifier}],
                    "type": concept(PLAN_TYPE_CS, "drug", "Drug"),
                    "network": [{"display": "Connecticut retail and mail-order pharmacy network"}],
                    "specificCost": _specific_costs(),
                }
            ],
        }

    catalog = terms.drug_catalog()
    for drug in catalog:
        yield formulary_drug(drug, last_updated)

    for formulary_id, _title, status, term in formularies:
        yield from _formulary_items(formulary_id, status, term, catalog, rng, last_updated, reference_date)


def formulary_drug(drug: dict, last_updated: str) -> dict:
    """A FormularyDrug (usdf-FormularyDrug MedicationKnowledge) for one catalog entry."""
    codings = [coding(terms.RXNORM, drug["rxcui"], drug["name"])]
    if "group" in drug:
        # SCD/SBD first, SCDG/SBDG second: invariant scd-sbd-requires-scdg-sbdg tests that order.
        codings.append(coding(terms.RXNORM, drug["group"]["rxcui"], drug["group"]["name"]))
    return {
        "resourceType": "MedicationKnowledge",
        "id": f"drug-{drug['rxcui']}",
        "meta": meta([USDF + "usdf-FormularyDrug"], last_updated),
        "code": {"coding": codings, "text": drug["name"]},
        "status": "inactive" if drug["rxcui"] == _INACTIVE_DRUG else "active",
        "doseForm": concept(terms.SNOMED, drug["dose_form"], drug["dose_form_display"]),
    }


def _formulary_items(formulary_id, status, term, catalog, rng, last_updated, reference_date):
    by_rxcui = terms.drugs_by_rxcui()
    others = [drug["rxcui"] for drug in catalog if drug["rxcui"] not in _PRESCRIBED + _ALWAYS_LISTED]
    chosen = list(_PRESCRIBED) + list(_ALWAYS_LISTED) + sorted(rng.sample(others, 10))
    tiers = {rxcui: _tier_for(by_rxcui[rxcui], rng) for rxcui in chosen}
    # Every tier appears on every formulary: give any missing tier to a drug whose tier is repeated.
    for tier in TIERS:
        if tier not in tiers.values():
            counts = {t: sum(1 for v in tiers.values() if v == t) for t in tiers.values()}
            donor = next(r for r in sorted(chosen) if counts[tiers[r]] > 1 and tiers[r] not in ("specialty",))
            tiers[donor] = tier
    benefit_codes = list(BENEFIT_TYPES)
    for position, rxcui in enumerate(chosen):
        tier = tiers[rxcui]
        availability = status
        availability_period = term
        if status == "active" and position == 3:
            availability = "retired"
        if status == "active" and position == 4:
            # Available from next quarter: a future AvailabilityPeriod (formulary.md §8).
            start = reference_date + dt.timedelta(days=90)
            availability_period = period(start, dt.date(start.year, 12, 31))
        extensions = [
            {"url": USDF + "usdf-FormularyReference-extension", "valueReference": ref("InsurancePlan", formulary_id)},
            {"url": USDF + "usdf-AvailabilityStatus-extension", "valueCode": availability},
            {"url": USDF + "usdf-AvailabilityPeriod-extension", "valuePeriod": availability_period},
        ]
        for code in benefit_codes[: 2 + position % 3]:
            extensions.append(
                {
                    "url": USDF + "usdf-PharmacyBenefitType-extension",
                    "valueCodeableConcept": concept(BENEFIT_TYPE_CS, code, BENEFIT_TYPES[code]),
                }
            )
        extensions.append(
            {"url": USDF + "usdf-DrugTierID-extension", "valueCodeableConcept": concept(TIER_CS, tier, TIERS[tier])}
        )
        prior_auth = tier in ("specialty", "non-preferred-brand") or position % 7 == 1
        step_therapy = tier in ("non-preferred-generic", "non-preferred-brand") or position % 7 == 2
        quantity_limit = by_rxcui[rxcui]["class"] in ("opioid", "adhd", "anxiolytic") or position % 5 == 0
        extensions.append({"url": USDF + "usdf-PriorAuthorization-extension", "valueBoolean": prior_auth})
        if prior_auth:
            extensions.append(
                {"url": USDF + "usdf-PriorAuthorizationNewStartsOnly-extension", "valueBoolean": position % 2 == 0}
            )
        extensions.append({"url": USDF + "usdf-StepTherapyLimit-extension", "valueBoolean": step_therapy})
        if step_therapy:
            extensions.append(
                {"url": USDF + "usdf-StepTherapyLimitNewStartsOnly-extension", "valueBoolean": position % 2 == 1}
            )
        extensions.append({"url": USDF + "usdf-QuantityLimit-extension", "valueBoolean": quantity_limit})
        notes = []
        if quantity_limit:
            per_day = 1 + position % 3
            extensions.append(
                {
                    "url": USDF + "usdf-QuantityLimitDetail-extension",
                    "extension": [
                        {"url": "Description", "valueString": f"Up to {per_day * 30} units per 30 days"},
                        {
                            "url": "Rolling",
                            "valueTiming": {"repeat": {"count": per_day * 30, "period": 30, "periodUnit": "d"}},
                        },
                        {"url": "MaximumDaily", "valueQuantity": {"value": per_day}},
                        {
                            "url": "DaysSupply",
                            "valueTiming": {
                                "repeat": {
                                    "boundsDuration": {
                                        "value": 365,
                                        "system": "http://unitsofmeasure.org",
                                        "code": "d",
                                    },
                                    "count": 1,
                                    "period": 90,
                                    "periodUnit": "d",
                                }
                            },
                        },
                    ],
                }
            )
            notes.append(f"Quantity limit: {per_day} per day.")
        if prior_auth:
            notes.append("Prior authorization required" + (" for new starts only." if position % 2 == 0 else "."))
        if step_therapy:
            notes.append("Step therapy: try a preferred generic first.")
        if notes:
            extensions.append(
                {"url": USDF + "usdf-AdditionalCoverageInformation-extension", "valueMarkdown": "\n".join(notes)}
            )
        yield {
            "resourceType": "Basic",
            "id": f"item-{formulary_id}-{rxcui}",
            "meta": meta([USDF + "usdf-FormularyItem"], last_updated),
            "extension": extensions,
            "code": concept(ITEM_TYPE_CS, "formulary-item", "Formulary Item"),
            "subject": ref("MedicationKnowledge", f"drug-{rxcui}"),
        }
