"""
The payer's drug formularies as the dashboard edits them (US Drug Formulary STU2 2.0.1):
PayerInsurancePlans, Formularies (InsurancePlan usdf-Formulary), FormularyDrugs
(MedicationKnowledge) from the embedded RxNorm catalog, and FormularyItems (Basic) with tier
and restrictions. Retiring a formulary retires its items too.

Run inside tenant_scope; writes go through sandbox.fhirstore.store.
"""

import datetime as dt
import json

from django.utils.text import slugify

from sandbox.fhirstore import store
from sandbox.fhirstore.errors import NotFound
from sandbox.fhirstore.models import Resource
from sandbox.fhirstore.search import filter_queryset
from sandbox.seeding import terminology as terms
from sandbox.seeding.builders import USDF, concept, ref
from sandbox.seeding.formulary import (
    BENEFIT_TYPE_CS,
    BENEFIT_TYPES,
    ITEM_TYPE_CS,
    PLAN_TYPE_CS,
    TIER_CS,
    TIERS,
    _specific_costs,
    formulary_drug,
)
from sandbox.seeding.identifiers import DEFAULT_IDENTIFIER_BASE
from sandbox.seeding.payer import PAYER_ORG_ID, PLAN_NET_PRODUCT_TYPE

PRODUCT_TYPES = {
    "mediadv": "Medicare Advantage",
    "hmo": "HMO",
    "ppo": "PPO",
    "pos": "POS",
    "epo": "EPO",
    "mcd": "Medicaid",
}
FORMULARY_REF_URL = USDF + "usdf-FormularyReference-extension"


class FormularyError(ValueError):
    """A change the formulary cannot take (explained in the message)."""


def _with_profile(resource_type, suffix):
    found = []
    for content in Resource.objects.filter(resource_type=resource_type, deleted=False).values_list(
        "content", flat=True
    ):
        resource = json.loads(content)
        if any(p.endswith(suffix) for p in resource.get("meta", {}).get("profile", [])):
            found.append(resource)
    return sorted(found, key=lambda r: r.get("name", r["id"]))


def formularies():
    return _with_profile("InsurancePlan", "usdf-Formulary")


def payer_plans():
    return _with_profile("InsurancePlan", "usdf-PayerInsurancePlan")


def read_formulary(formulary_id):
    formulary = store.read("InsurancePlan", formulary_id).as_dict()
    if not any(p.endswith("usdf-Formulary") for p in formulary.get("meta", {}).get("profile", [])):
        raise NotFound(f"InsurancePlan/{formulary_id} is not a formulary.")
    return formulary


def _free_id(resource_type, base):
    candidate, suffix = base[:60], 1
    while Resource.objects.filter(resource_type=resource_type, fhir_id=candidate).exists():
        suffix += 1
        candidate = f"{base[:56]}-{suffix}"
    return candidate


def _system(tenant, what):
    return f"{DEFAULT_IDENTIFIER_BASE}/{tenant.slug}/{what}"


def create_formulary(tenant, *, name, identifier, start, end):
    """Create an active Formulary (usdf-Formulary) with every tier under every pharmacy benefit type."""
    formulary_id = _free_id("InsurancePlan", "formulary-" + slugify(identifier or name))
    store.update(
        "InsurancePlan",
        formulary_id,
        {
            "resourceType": "InsurancePlan",
            "id": formulary_id,
            "meta": {"profile": [USDF + "usdf-Formulary"]},
            "identifier": [{"system": _system(tenant, "formulary-id"), "value": identifier or formulary_id.upper()}],
            "status": "active",
            "type": [concept("http://terminology.hl7.org/CodeSystem/v3-ActCode", "DRUGPOL", "drug policy")],
            "name": name,
            "period": {"start": start.isoformat(), "end": end.isoformat()},
            "plan": [
                {
                    "type": concept(PLAN_TYPE_CS, "drug", "Drug"),
                    "specificCost": [
                        {
                            "category": concept(BENEFIT_TYPE_CS, code, display),
                            "benefit": [{"type": concept(TIER_CS, tier, label)} for tier, label in TIERS.items()],
                        }
                        for code, display in BENEFIT_TYPES.items()
                    ],
                }
            ],
        },
    )
    return formulary_id


def create_plan(tenant, *, name, identifier, product_type, formulary_ids, start, end):
    """Create a PayerInsurancePlan (usdf-PayerInsurancePlan) with the cost grid and its formularies."""
    if not formulary_ids:
        raise FormularyError("A plan lists at least one formulary.")
    for formulary_id in formulary_ids:
        read_formulary(formulary_id)
    plan_id = _free_id("InsurancePlan", "plan-" + slugify(identifier or name))
    plan_identifier = identifier or plan_id.upper()
    areas = [ref("Location", area) for area in ("area-ct",) if _exists("Location", area)]
    plan = {
        "resourceType": "InsurancePlan",
        "id": plan_id,
        "meta": {"profile": [USDF + "usdf-PayerInsurancePlan"]},
        "identifier": [{"system": _system(tenant, "plan-id"), "value": plan_identifier}],
        "status": "active",
        "type": [concept(PLAN_NET_PRODUCT_TYPE, product_type, PRODUCT_TYPES[product_type])],
        "name": name,
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "ownedBy": ref("Organization", PAYER_ORG_ID, tenant.name) if _exists("Organization", PAYER_ORG_ID) else None,
        "coverageArea": areas or None,
        "coverage": [
            {
                "extension": [
                    {"url": FORMULARY_REF_URL, "valueReference": ref("InsurancePlan", formulary_id)}
                    for formulary_id in formulary_ids
                ],
                "type": concept("http://terminology.hl7.org/CodeSystem/v3-ActCode", "DRUGPOL", "drug policy"),
                "benefit": [{"type": concept(PLAN_TYPE_CS, "drug", "Drug")}],
            }
        ],
        "plan": [
            {
                "identifier": [{"system": _system(tenant, "plan-id"), "value": plan_identifier}],
                "type": concept(PLAN_TYPE_CS, "drug", "Drug"),
                "specificCost": _specific_costs(),
            }
        ],
    }
    store.update("InsurancePlan", plan_id, {k: v for k, v in plan.items() if v is not None})
    return plan_id


def _exists(resource_type, fhir_id):
    return Resource.objects.filter(resource_type=resource_type, fhir_id=fhir_id, deleted=False).exists()


def find_drug(text):
    """
    The catalog drug for an RxNorm code or a name (exact, else the only one containing the text).

    Raises FormularyError explaining what matched instead.
    """
    text = (text or "").strip()
    if not text:
        raise FormularyError("Give an RxNorm code (RXCUI) or a drug name from the catalog.")
    by_rxcui = terms.drugs_by_rxcui()
    if text in by_rxcui:
        return by_rxcui[text]
    if text.isdigit():
        raise FormularyError(f"RxNorm code {text} is not in the sandbox's drug catalog.")
    folded = text.casefold()
    catalog = terms.drug_catalog()
    exact = [drug for drug in catalog if drug["name"].casefold() == folded]
    if exact:
        return exact[0]
    partial = [drug for drug in catalog if folded in drug["name"].casefold()]
    if len(partial) == 1:
        return partial[0]
    if not partial:
        raise FormularyError(f"No drug in the catalog is named like '{text}'.")
    names = "; ".join(f"{d['name']} ({d['rxcui']})" for d in partial[:5])
    more = f" and {len(partial) - 5} more" if len(partial) > 5 else ""
    raise FormularyError(f"'{text}' matches {len(partial)} drugs: {names}{more}. Be more specific or give the code.")


def formulary_items(formulary_id):
    """The FormularyItems (Basic) of a formulary, each as (item, drug name, tier code, restrictions)."""
    matches, _u, _r = filter_queryset("Basic", [("formulary", f"InsurancePlan/{formulary_id}")])
    rows = []
    for content in matches.values_list("content", flat=True):
        item = json.loads(content)
        extensions = {e["url"].removeprefix(USDF): e for e in item.get("extension", [])}
        rxcui = item.get("subject", {}).get("reference", "").removeprefix("MedicationKnowledge/drug-")
        drug = terms.drugs_by_rxcui().get(rxcui)
        tier = (
            extensions.get("usdf-DrugTierID-extension", {}).get("valueCodeableConcept", {}).get("coding", [{}])[0]
        ).get("code", "")
        restrictions = [
            label
            for key, label in (
                ("usdf-PriorAuthorization-extension", "prior authorization"),
                ("usdf-StepTherapyLimit-extension", "step therapy"),
                ("usdf-QuantityLimit-extension", "quantity limit"),
            )
            if extensions.get(key, {}).get("valueBoolean")
        ]
        status = extensions.get("usdf-AvailabilityStatus-extension", {}).get("valueCode", "")
        rows.append(
            {
                "id": item["id"],
                "rxcui": rxcui,
                "drug": drug["name"] if drug else item.get("subject", {}).get("reference", ""),
                "tier": TIERS.get(tier, tier),
                "restrictions": restrictions,
                "status": status,
            }
        )
    return sorted(rows, key=lambda row: row["drug"].casefold())


def add_drug(formulary_id, *, drug_text, tier, prior_authorization, step_therapy, quantity_limit, quantity_note=""):
    """Put a catalog drug on a formulary: its FormularyDrug (if new) and a FormularyItem; returns the item id."""
    formulary = read_formulary(formulary_id)
    if formulary.get("status") != "active":
        raise FormularyError("This formulary is retired; drugs can only be added to an active formulary.")
    if tier not in TIERS:
        raise FormularyError(f"Unknown tier '{tier}'.")
    drug = find_drug(drug_text)
    item_id = f"item-{formulary_id}-{drug['rxcui']}"[:64]
    if _exists("Basic", item_id):
        raise FormularyError(f"{drug['name']} is already on this formulary.")
    drug_id = f"drug-{drug['rxcui']}"
    if not _exists("MedicationKnowledge", drug_id):
        resource = formulary_drug(drug, "")
        resource["meta"].pop("lastUpdated", None)
        store.update("MedicationKnowledge", drug_id, resource)
    period = formulary.get("period", {"start": dt.date.today().isoformat()})
    extensions = [
        {"url": FORMULARY_REF_URL, "valueReference": ref("InsurancePlan", formulary_id)},
        {"url": USDF + "usdf-AvailabilityStatus-extension", "valueCode": "active"},
        {"url": USDF + "usdf-AvailabilityPeriod-extension", "valuePeriod": period},
        {
            "url": USDF + "usdf-PharmacyBenefitType-extension",
            "valueCodeableConcept": concept(BENEFIT_TYPE_CS, "1-month-in-retail", BENEFIT_TYPES["1-month-in-retail"]),
        },
        {"url": USDF + "usdf-DrugTierID-extension", "valueCodeableConcept": concept(TIER_CS, tier, TIERS[tier])},
        {"url": USDF + "usdf-PriorAuthorization-extension", "valueBoolean": prior_authorization},
        {"url": USDF + "usdf-StepTherapyLimit-extension", "valueBoolean": step_therapy},
        {"url": USDF + "usdf-QuantityLimit-extension", "valueBoolean": quantity_limit},
    ]
    notes = []
    if quantity_limit and quantity_note:
        extensions.append(
            {
                "url": USDF + "usdf-QuantityLimitDetail-extension",
                "extension": [{"url": "Description", "valueString": quantity_note}],
            }
        )
        notes.append(f"Quantity limit: {quantity_note}")
    if prior_authorization:
        notes.append("Prior authorization required.")
    if step_therapy:
        notes.append("Step therapy required.")
    if notes:
        extensions.append(
            {"url": USDF + "usdf-AdditionalCoverageInformation-extension", "valueMarkdown": "\n".join(notes)}
        )
    store.update(
        "Basic",
        item_id,
        {
            "resourceType": "Basic",
            "id": item_id,
            "meta": {"profile": [USDF + "usdf-FormularyItem"]},
            "extension": extensions,
            "code": concept(ITEM_TYPE_CS, "formulary-item", "Formulary Item"),
            "subject": ref("MedicationKnowledge", drug_id),
        },
    )
    return item_id


def remove_item(formulary_id, item_id):
    """Take a drug off a formulary (its FormularyItem is deleted; the FormularyDrug stays)."""
    if not any(row["id"] == item_id for row in formulary_items(formulary_id)):
        raise FormularyError(f"Basic/{item_id} is not an item of this formulary.")
    store.delete("Basic", item_id)


def retire_formulary(formulary_id):
    """Retire a formulary and every item on it (status and AvailabilityStatus retired)."""
    formulary = read_formulary(formulary_id)
    if formulary.get("status") == "retired":
        raise FormularyError("This formulary is already retired.")
    formulary["status"] = "retired"
    store.update("InsurancePlan", formulary_id, formulary)
    matches, _u, _r = filter_queryset("Basic", [("formulary", f"InsurancePlan/{formulary_id}")])
    for content in matches.values_list("content", flat=True):
        item = json.loads(content)
        for extension in item.get("extension", []):
            if extension.get("url") == USDF + "usdf-AvailabilityStatus-extension":
                extension["valueCode"] = "retired"
        store.update("Basic", item["id"], item)
