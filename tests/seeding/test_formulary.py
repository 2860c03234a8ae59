import re

from sandbox.seeding.formulary import BENEFIT_TYPES, TIERS
from sandbox.seeding.terminology import TREATMENTS, drug_catalog

USDF = "http://hl7.org/fhir/us/davinci-drug-formulary/StructureDefinition/"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def _extensions(resource, name):
    return [e for e in resource.get("extension", []) if e["url"] == USDF + name]


def _value(resource, name):
    found = _extensions(resource, name)
    if not found:
        return None
    extension = found[0]
    return next(v for k, v in extension.items() if k.startswith("value"))


def _formularies(resources):
    return [
        r for r in resources if r["resourceType"] == "InsurancePlan" and r["type"][0]["coding"][0]["code"] == "DRUGPOL"
    ]


def _items(resources, formulary_id):
    return [
        r
        for r in resources
        if r["resourceType"] == "Basic"
        and _value(r, "usdf-FormularyReference-extension")["reference"] == f"InsurancePlan/{formulary_id}"
    ]


def test_it_publishes_two_current_formularies_and_a_retired_one(resources):
    """Three formularies: two active for the reference year, one retired for the year before."""
    statuses = sorted((f["status"], f["period"]["start"][:4]) for f in _formularies(resources))
    assert statuses == [("active", "2026"), ("active", "2026"), ("retired", "2025")]


def test_it_lists_every_tier_on_every_formulary(resources):
    """Each formulary's items use every US Drug Formulary 2.0.1 tier."""
    for formulary in _formularies(resources):
        tiers = {
            _value(item, "usdf-DrugTierID-extension")["coding"][0]["code"]
            for item in _items(resources, formulary["id"])
        }
        assert tiers == set(TIERS), formulary["id"]


def test_it_uses_every_restriction(resources):
    """Prior authorization, step therapy and quantity limits (with detail) all occur, as do retired and future items."""
    items = [r for r in resources if r["resourceType"] == "Basic"]
    assert any(_value(i, "usdf-PriorAuthorization-extension") for i in items)
    assert any(_value(i, "usdf-PriorAuthorizationNewStartsOnly-extension") for i in items)
    assert any(_value(i, "usdf-StepTherapyLimit-extension") for i in items)
    assert any(_value(i, "usdf-StepTherapyLimitNewStartsOnly-extension") for i in items)
    assert any(
        _value(i, "usdf-QuantityLimit-extension") and _extensions(i, "usdf-QuantityLimitDetail-extension")
        for i in items
    )
    assert any(_value(i, "usdf-AvailabilityStatus-extension") == "retired" for i in items)
    assert any(_value(i, "usdf-AvailabilityPeriod-extension")["start"] > "2026-01-01" for i in items)


def test_it_prices_every_tier_and_benefit_type_an_item_uses(resources):
    """Each item's tier x pharmacy benefit type has a copay and a coinsurance cell in every plan using its formulary."""
    plans = [r for r in resources if r["resourceType"] == "InsurancePlan" and r["id"].startswith("plan-")]
    for plan in plans:
        grid = {
            (cost["category"]["coding"][0]["code"], benefit["type"]["coding"][0]["code"]): {
                c["type"]["coding"][0]["code"] for c in benefit["cost"]
            }
            for cost in plan["plan"][0]["specificCost"]
            for benefit in cost["benefit"]
        }
        for reference in plan["coverage"][0]["extension"]:
            for item in _items(resources, reference["valueReference"]["reference"].removeprefix("InsurancePlan/")):
                tier = _value(item, "usdf-DrugTierID-extension")["coding"][0]["code"]
                for benefit_type in _extensions(item, "usdf-PharmacyBenefitType-extension"):
                    code = benefit_type["valueCodeableConcept"]["coding"][0]["code"]
                    assert code in BENEFIT_TYPES
                    assert grid[(code, tier)] == {"copay", "coinsurance"}


def test_it_shares_a_formulary_between_plans_and_gives_them_a_coverage_area(resources, by_key):
    """One formulary is referenced by both plans; each plan's coverageArea resolves to an InsurancePlanLocation."""
    plans = [r for r in resources if r["resourceType"] == "InsurancePlan" and r["id"].startswith("plan-")]
    referenced = [{e["valueReference"]["reference"] for e in p["coverage"][0]["extension"]} for p in plans]
    assert set.intersection(*referenced)
    for plan in plans:
        for area in plan["coverageArea"]:
            location = by_key[area["reference"]]
            assert USDF + "usdf-InsurancePlanLocation" in location["meta"]["profile"]
            assert location["address"]


def test_it_codes_formulary_drugs_with_rxnorm_in_the_invariant_order(resources):
    """FormularyDrugs carry RxNorm first, the SCDG/SBDG group second where known, and a SNOMED dose form."""
    catalog = {drug["rxcui"]: drug for drug in drug_catalog()}
    drugs = [r for r in resources if r["resourceType"] == "MedicationKnowledge"]
    assert len(drugs) == len(catalog)
    for drug in drugs:
        codings = drug["code"]["coding"]
        entry = catalog[codings[0]["code"]]
        assert codings[0] == {"system": RXNORM, "code": entry["rxcui"], "display": entry["name"]}
        if "group" in entry:
            assert codings[1]["code"] == entry["group"]["rxcui"]
        assert drug["doseForm"]["coding"][0]["system"] == "http://snomed.info/sct"


def test_it_lists_prescribed_drugs_on_the_current_formularies(resources):
    """Every drug members are prescribed is on both current formularies, so claims and formulary agree."""
    prescribed = {rxcui for drugs in TREATMENTS.values() for rxcui in drugs}
    for formulary in _formularies(resources):
        if formulary["status"] != "active":
            continue
        listed = {
            item["subject"]["reference"].removeprefix("MedicationKnowledge/drug-")
            for item in _items(resources, formulary["id"])
        }
        assert prescribed <= listed


def test_it_keeps_catalog_rxcuis_unique_and_well_formed():
    """Catalog RXCUIs are unique digit strings, term types are RxNorm semantic drug types, names are filled in."""
    catalog = drug_catalog()
    assert len(catalog) >= 150
    rxcuis = [drug["rxcui"] for drug in catalog]
    assert len(rxcuis) == len(set(rxcuis))
    for drug in catalog:
        assert re.fullmatch(r"[1-9][0-9]{3,7}", drug["rxcui"]), drug
        assert drug["tty"] in {"SCD", "SBD", "GPCK", "BPCK"}
        assert drug["name"].strip() == drug["name"] and drug["name"]
        if drug["tty"] in {"SBD", "BPCK"}:
            assert re.search(r"\[[^\]]+\]$", drug["name"]), drug
        if "group" in drug:
            assert drug["group"]["tty"] in {"SCDG", "SBDG"}
            assert re.fullmatch(r"[1-9][0-9]{3,7}", drug["group"]["rxcui"])
            assert drug["group"]["rxcui"] not in rxcuis
        assert re.fullmatch(r"[0-9]{6,9}", drug["dose_form"])


def test_it_prescribes_only_catalog_drugs(resources):
    """Every MedicationRequest, MedicationDispense and pharmacy claim names a catalog RXCUI."""
    catalog = {drug["rxcui"] for drug in drug_catalog()}
    for resource in resources:
        if resource["resourceType"] in ("MedicationRequest", "MedicationDispense"):
            assert resource["medicationCodeableConcept"]["coding"][0]["code"] in catalog
        elif resource["resourceType"] == "ExplanationOfBenefit" and resource["type"]["coding"][0]["code"] == "pharmacy":
            assert resource["item"][0]["productOrService"]["coding"][0]["code"] in catalog
