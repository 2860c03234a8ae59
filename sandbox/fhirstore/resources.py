"""
The one place that imports fhir.resources, and only its R4B package (tech-notes §4).

R4B is identical to R4 for every payer resource type; the default package is R5 and rejects
R4 Coverage, Group and MedicationKnowledge, so nothing else may import fhir.resources.
"""

from functools import cache

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

__all__ = ["fhir_model", "structural_problems", "summary_elements"]


@cache
def fhir_model(resource_type):
    """The R4B model class for a resource type, or None when R4B has no such type."""
    try:
        return get_fhir_model_class(resource_type)
    except (KeyError, ValueError, AttributeError):
        return None


def _expression(resource_type, loc):
    parts = [resource_type]
    for step in loc:
        if isinstance(step, int):
            parts[-1] = f"{parts[-1]}[{step}]"
        else:
            parts.append(str(step))
    return ".".join(parts)


def structural_problems(resource_type, raw_json):
    """
    Validate a resource's JSON text structurally against R4B; returns every problem found.

    Each problem is (expression, message). An empty list means the resource is structurally
    valid. Profiles, terminology and invariants are not checked (tech-notes §4).
    """
    model = fhir_model(resource_type)
    if model is None:
        return [(resource_type, f"'{resource_type}' is not a FHIR R4 resource type.")]
    try:
        model.model_validate_json(raw_json)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = [step for step in error.get("loc", ()) if step != "__root__"]
            message = error.get("msg", "invalid")
            if error.get("type") == "extra_forbidden":
                message = "Unknown element (not part of the FHIR R4 definition of this type)."
            problems.append((_expression(resource_type, loc), message))
        return problems or [(resource_type, str(exc))]
    except ValueError as exc:
        return [(resource_type, str(exc))]
    return []


@cache
def summary_elements(resource_type):
    """Top-level element names marked isSummary in the R4B definition (for _summary=true)."""
    model = fhir_model(resource_type)
    if model is None:
        return frozenset()
    names = set()
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra or {}
        if extra.get("summary_element_property"):
            names.add(info.alias or name)
    return frozenset(names)
