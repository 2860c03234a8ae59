"""
The one place that imports fhir.resources, and only its R4B package (tech-notes §4).

R4B is identical to R4 for every payer resource type; the default package is R5 and rejects
R4 Coverage, Group and MedicationKnowledge, so nothing else may import fhir.resources.
"""

import json
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


def _is_primitive_extension(document, loc):
    """
    True for `_name` next to a present `name`: FHIR JSON's extension of a primitive, which
    R4B models lack for Extension.value[x] (e.g. `_valueCode` in published IG artifacts).
    """
    parent = document
    for step in loc[:-1]:
        try:
            parent = parent[step]
        except (KeyError, IndexError, TypeError):
            return False
    return isinstance(parent, dict) and str(loc[-1])[1:] in parent


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
        document = None
        for error in exc.errors():
            loc = [step for step in error.get("loc", ()) if step != "__root__"]
            if error.get("type") == "extra_forbidden" and loc and str(loc[-1]).startswith("_"):
                if document is None:
                    document = json.loads(raw_json)
                if _is_primitive_extension(document, loc):
                    continue
            message = error.get("msg", "invalid")
            if error.get("type") == "extra_forbidden":
                message = "Unknown element (not part of the FHIR R4 definition of this type)."
            problems.append((_expression(resource_type, loc), message))
        return problems
    except Exception as exc:
        # The library raises assorted errors (KeyError for an unknown contained type, ...).
        return [(resource_type, f"Not a valid {resource_type}: {exc!r}")]
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
