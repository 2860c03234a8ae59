"""
Which resources a formulary export contains (US Drug Formulary STU2 "Formulary Bulk Export";
spec/formulary.md §5.1 and the IG's GraphDefinitions).

- A PayerInsurancePlan: the plan, its coverage-area Locations, the Formularies its drug
  coverage references, their FormularyItems, and the FormularyDrugs those items name.
- A Formulary (InsurancePlan typed DRUGPOL): the formulary, its items and their drugs.
- Every plan (`InsurancePlan/$export`): the union over every InsurancePlan.

Exactly what the graph links, and nothing else: a provider Location, a drug no item of these
formularies names, or another plan's items never appear.
"""

import json

from sandbox.fhirstore.models import Resource

FORMULARY_REFERENCE = (
    "http://hl7.org/fhir/us/davinci-drug-formulary/StructureDefinition/usdf-FormularyReference-extension"
)
DRUGPOL = "DRUGPOL"
EXPORTED_TYPES = ("InsurancePlan", "Basic", "MedicationKnowledge", "Location")


def _rows(resource_type, ids=None):
    qs = Resource.objects.filter(resource_type=resource_type, deleted=False)
    if ids is not None:
        qs = qs.filter(fhir_id__in=list(ids))
    return qs.values_list("fhir_id", "content")


def _ref_id(reference, resource_type):
    """`InsurancePlan/x` or an absolute URL ending in it -> "x"; references to other types -> None."""
    value = (reference or {}).get("reference", "")
    parts = value.rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] == resource_type:
        return parts[-1]
    return None


def is_formulary(plan):
    return any(
        coding.get("code") == DRUGPOL for concept in plan.get("type", []) for coding in concept.get("coding", [])
    )


def graph(plan_ids=None):
    """{type: set of ids} for the given InsurancePlan ids (None: every InsurancePlan)."""
    plans = {fhir_id: json.loads(content) for fhir_id, content in _rows("InsurancePlan", plan_ids)}
    formularies = {pid for pid, plan in plans.items() if is_formulary(plan)}
    locations = set()
    for plan in plans.values():
        if is_formulary(plan):
            continue
        locations |= {i for i in (_ref_id(r, "Location") for r in plan.get("coverageArea", [])) if i}
        for coverage in plan.get("coverage", []):
            for extension in coverage.get("extension", []):
                if extension.get("url") == FORMULARY_REFERENCE:
                    target = _ref_id(extension.get("valueReference"), "InsurancePlan")
                    if target:
                        formularies.add(target)

    items, drugs = set(), set()
    for fhir_id, content in _rows("Basic"):
        item = json.loads(content)
        linked = {
            _ref_id(e.get("valueReference"), "InsurancePlan")
            for e in item.get("extension", [])
            if e.get("url") == FORMULARY_REFERENCE
        }
        if linked & formularies:
            items.add(fhir_id)
            drug = _ref_id(item.get("subject"), "MedicationKnowledge")
            if drug:
                drugs.add(drug)

    def existing(resource_type, ids):
        return {fhir_id for fhir_id, _ in _rows(resource_type, ids)} if ids else set()

    return {
        "InsurancePlan": set(plans) | existing("InsurancePlan", formularies),
        "Basic": items,
        "MedicationKnowledge": existing("MedicationKnowledge", drugs),
        "Location": existing("Location", locations),
    }


def changed_plans(plan_ids, since):
    """The InsurancePlans (of `plan_ids`, or all) whose graph holds a resource changed after `since`."""
    from datetime import datetime

    since = datetime.fromisoformat(since)
    candidates = [fhir_id for fhir_id, _ in _rows("InsurancePlan", plan_ids)]
    changed = []
    for plan in candidates:
        linked = graph([plan])
        for resource_type, ids in linked.items():
            if (
                ids
                and Resource.objects.filter(
                    resource_type=resource_type, fhir_id__in=list(ids), last_updated__gt=since
                ).exists()
            ):
                changed.append(plan)
                break
    return changed
