"""
Kick-off parameters of the Bulk Data export operations (Bulk Data v2.0.0 "Query Parameters",
STU3 additions; spec/bulk-data-and-attribution.md §1.3 and §1.4).

`read_pairs` gets (name, value) pairs from a GET query or a POST Parameters body; `parse`
checks them and returns the normalised parameters plus the OperationOutcome issues of what
was ignored. Syntax errors in `_outputFormat`, `_since` and `_until` are always an error (as
the reference server does); everything the server cannot honour is an error by default and
ignored-and-reported under `Prefer: handling=lenient` (§1.4).
"""

import re
from datetime import UTC, datetime

from django.utils import timezone

from sandbox.fhirstore.errors import FhirError
from sandbox.fhirstore.search_parameters import is_served

OUTPUT_FORMATS = ("application/fhir+ndjson", "application/ndjson", "ndjson")
SUPPORTED = {
    "_outputFormat",
    "_since",
    "_until",
    "_type",
    "_elements",
    "_typeFilter",
    "patient",
    "includeAssociatedData",
    "organizeOutputBy",
    "allowPartialManifests",
}
# Parameters every FHIR request may carry; they do not change an export.
IGNORED_ALWAYS = {"_format", "_pretty"}
INSTANT_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$")
ELEMENT_RE = re.compile(r"^(?:(?P<type>[A-Z][A-Za-z]+)\.)?(?P<element>[a-z][A-Za-z0-9]*(?:\[x\])?)$")
# v2 joins several _typeFilter queries with commas; commas inside a query cannot be told apart
# once the query string is decoded, so split only where the next query starts (§1.3 notes).
TYPEFILTER_SPLIT = re.compile(r",(?=[A-Z][A-Za-z]+\?)")
RESULT_PARAMS = {"_include", "_revinclude", "_sort", "_count", "_elements", "_summary", "_total", "_contained"}


class KickoffError(FhirError):
    status, code = 400, "invalid"


class Unsupported(FhirError):
    status, code = 400, "not-supported"


def is_lenient(request):
    """Prefer: handling=lenient (RFC 7240 / FHIR http); absent or strict means strict (§1.4)."""
    for part in request.META.get("HTTP_PREFER", "").split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "handling" and value.strip().strip('"').lower() == "lenient":
            return True
    return False


def _value(parameter):
    for key, value in parameter.items():
        if not key.startswith("value"):
            continue
        if key == "valueReference":
            return str((value or {}).get("reference", ""))
        if key == "valueCoding":
            return str((value or {}).get("code", ""))
        if key == "valueBoolean":
            return "true" if value else "false"
        return str(value)
    return ""


def read_pairs(request, body=None):
    """
    (name, value) pairs of a kick-off: the query string, plus for POST the `parameter`
    entries of a FHIR Parameters body (value[x] of any type; references as `Type/id`).
    """
    # `patient` is a POST-only parameter (Bulk Data v2 §1.3); parse() reports it from the flag.
    pairs = [(k, v) for k, values in request.GET.lists() for v in values if k != "patient"]
    if body is None:
        return pairs
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise KickoffError("A POST kick-off carries a FHIR Parameters resource.")
    for parameter in body.get("parameter") or []:
        if not isinstance(parameter, dict) or not parameter.get("name"):
            raise KickoffError("Every Parameters.parameter needs a name and a value[x].")
        pairs.append((str(parameter["name"]), _value(parameter)))
    return pairs


def parse_instant(name, value, *, now=None):
    """A FHIR instant (time zone required); in the future is an error too (§1.3 notes)."""
    text = value.strip().replace(" ", "+")
    if not INSTANT_RE.match(text):
        raise KickoffError(f"{name}={value} is not a FHIR instant such as 2024-01-01T00:00:00Z.", expression=name)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        raise KickoffError(f"{name}={value} is not a valid date and time.", expression=name) from None
    if when > (now or timezone.now()):
        raise KickoffError(f"{name}={value} is in the future.", expression=name)
    return when


def _split_list(values):
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


class Issues:
    """Collects what lenient handling ignored; raises at once when strict."""

    def __init__(self, lenient):
        self.lenient = lenient
        self.items = []

    def unsupported(self, message, expression, *, error=Unsupported, status=None):
        if not self.lenient:
            raise error(
                message + " Send Prefer: handling=lenient to have it ignored.", expression=expression, status=status
            )
        self.items.append(["warning", "not-supported", f"Ignored: {message}", expression])


def parse(pairs, *, level, lenient, patient_in_query=False):
    """
    Check kick-off parameters; returns (params, issues).

    `params` is a JSON-able dict: _outputFormat, _since and _until (ISO instants or None),
    _type (list, or None for every type), _elements (list), _typeFilter ({type: [query]}),
    patient (list of ids or None), allowPartialManifests, organizeOutputBy ("Patient" or
    absent). `issues` are OperationOutcome
    issue lists [severity, code, diagnostics, expression] for the manifest's error file.
    """
    from sandbox.fhirstore import search

    issues = Issues(lenient)
    grouped = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)

    for name in grouped:
        if name not in SUPPORTED and name not in IGNORED_ALWAYS:
            issues.unsupported(f"The parameter '{name}' is not a Bulk Data kick-off parameter.", name)

    params = {
        "_outputFormat": "application/fhir+ndjson",
        "_since": None,
        "_until": None,
        "_type": None,
        "_elements": [],
        "_typeFilter": {},
        "patient": None,
        "allowPartialManifests": False,
    }

    for value in grouped.get("_outputFormat", []):
        # An unencoded "+" in a query string arrives as a space.
        fmt = value.strip().replace(" ", "+")
        if fmt not in OUTPUT_FORMATS:
            raise Unsupported(
                f"_outputFormat={value} is not supported; use application/fhir+ndjson, application/ndjson or ndjson.",
                expression="_outputFormat",
            )
        params["_outputFormat"] = fmt

    now = timezone.now()
    for name in ("_since", "_until"):
        values = grouped.get(name, [])
        if len(values) > 1:
            raise KickoffError(f"{name} may appear only once.", expression=name)
        if values and values[0].strip():
            params[name] = parse_instant(name, values[0], now=now).isoformat()
    if params["_since"] and params["_until"] and params["_until"] <= params["_since"]:
        raise KickoffError("_until must be later than _since.", expression="_until")

    if "_type" in grouped:
        types = []
        for name in _split_list(grouped["_type"]):
            if not is_served(name):
                issues.unsupported(f"_type names '{name}', which this server does not serve.", "_type")
            elif name not in types:
                types.append(name)
        params["_type"] = types

    for item in _split_list(grouped.get("_elements", [])):
        match = ELEMENT_RE.match(item)
        if not match:
            issues.unsupported(f"_elements entry '{item}' is not 'element' or 'Type.element'.", "_elements")
        elif match["type"] and not is_served(match["type"]):
            issues.unsupported(f"_elements names '{match['type']}', which this server does not serve.", "_elements")
        else:
            params["_elements"].append(item)

    for value in grouped.get("_typeFilter", []):
        for query in TYPEFILTER_SPLIT.split(value):
            resource_type, sep, search_query = query.strip().partition("?")
            if not sep or not is_served(resource_type):
                issues.unsupported(
                    f"_typeFilter '{query}' is not 'Type?search' for a type this server serves.", "_typeFilter"
                )
                continue
            try:
                _qs, _unknown, result_params = search.filter_queryset(resource_type, search_query, strict=True)
            except FhirError as exc:
                issues.unsupported(f"_typeFilter '{query}': {exc}", "_typeFilter")
                continue
            used = sorted({name for name, _v in result_params if name.split(":")[0] in RESULT_PARAMS})
            if used:
                issues.unsupported(f"_typeFilter '{query}' uses result parameters ({', '.join(used)}).", "_typeFilter")
                continue
            params["_typeFilter"].setdefault(resource_type, []).append(search_query)

    if patient_in_query:
        issues.unsupported("The patient parameter is accepted only in a POST Parameters body.", "patient")
    if "patient" in grouped:
        if level == "system":
            issues.unsupported("The patient parameter is not available at the system level.", "patient")
        else:
            ids = []
            for value in grouped["patient"]:
                reference = value.strip()
                kind, _, pid = reference.rpartition("/")
                if not reference or (kind and not kind.endswith("Patient")):
                    issues.unsupported(f"patient '{reference}' is not a reference to a Patient.", "patient")
                elif pid not in ids:
                    ids.append(pid)
            params["patient"] = ids

    for value in grouped.get("includeAssociatedData", []):
        issues.unsupported(
            f"includeAssociatedData={value} is not supported (Provenance in the exported compartments is "
            "exported as any other type).",
            "includeAssociatedData",
        )
    for value in grouped.get("organizeOutputBy", []):
        if value.strip() == "Patient" and level != "system":
            params["organizeOutputBy"] = "Patient"
        else:
            issues.unsupported(
                f"organizeOutputBy={value} is not supported here; only Patient, at the Patient and Group levels.",
                "organizeOutputBy",
            )

    for value in grouped.get("allowPartialManifests", []):
        if value.strip().lower() not in ("true", "false"):
            raise KickoffError("allowPartialManifests is true or false.", expression="allowPartialManifests")
        params["allowPartialManifests"] = value.strip().lower() == "true"
    return params, issues.items
