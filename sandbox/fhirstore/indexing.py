"""
Turning a resource into search-index rows (FHIR R4 search, "Search parameter types").

Pure functions over the resource dict: the store writes the rows in the same transaction
as the resource, and the bulk loader writes them with COPY. The value rules shared with the
query side (string folding, date precision ranges, reference parsing) live here too, so
that what is indexed and what is searched can never drift apart.
"""

import re
import unicodedata
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from sandbox.fhirstore.search_parameters import (
    COMPARTMENT,
    COMPOSITE,
    DATE,
    QUANTITY,
    REFERENCE,
    STRING,
    TOKEN,
    URI,
    canonical_system,
    evaluate,
    params_for,
)

MAX_CHARS = 255
QUANTITY_LIMIT = Decimal("1e20")
MIN_DATE = datetime(1, 1, 1, tzinfo=UTC)
MAX_DATE = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)

_DATE_RE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?P<f>\.\d+)?)?(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
_REF_RE = re.compile(r"^(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


def normalize(text):
    """Case- and accent-folded form used for string search (FHIR: case and accent insensitive)."""
    decomposed = unicodedata.normalize("NFKD", str(text))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())[:MAX_CHARS]


@lru_cache(maxsize=4096)
def date_range(text):
    """
    The instant range [low, high] that a FHIR date, dateTime or instant covers at its precision.

    Raises ValueError for text that is not a FHIR date. Values without a time zone are taken
    as UTC (FHIR leaves that to the server).
    """
    match = _DATE_RE.match(text or "")
    if not match:
        raise ValueError(f"'{text}' is not a FHIR date, dateTime or instant.")
    parts = match.groupdict()
    year = int(parts["y"])
    tz = UTC
    if parts["tz"] and parts["tz"] != "Z":
        sign = 1 if parts["tz"][0] == "+" else -1
        hours, minutes = int(parts["tz"][1:3]), int(parts["tz"][4:6])
        from datetime import timezone as dt_timezone

        tz = dt_timezone(sign * timedelta(hours=hours, minutes=minutes))
    if parts["m"] is None:
        low = datetime(year, 1, 1, tzinfo=tz)
        high = datetime(year + 1, 1, 1, tzinfo=tz) if year < 9999 else MAX_DATE
    elif parts["d"] is None:
        month = int(parts["m"])
        low = datetime(year, month, 1, tzinfo=tz)
        high = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=tz) if year < 9999 or month < 12 else MAX_DATE
    elif parts["H"] is None:
        low = datetime(year, int(parts["m"]), int(parts["d"]), tzinfo=tz)
        high = low + timedelta(days=1)
    else:
        second = int(parts["S"] or 0)
        low = datetime(year, int(parts["m"]), int(parts["d"]), int(parts["H"]), int(parts["M"]), second, tzinfo=tz)
        if parts["f"]:
            micro = int((parts["f"][1:] + "000000")[:6])
            low = low.replace(microsecond=micro)
            return low.astimezone(UTC), low.astimezone(UTC)
        high = low + (timedelta(seconds=1) if parts["S"] else timedelta(minutes=1))
    if high is not MAX_DATE:
        high = high - timedelta(microseconds=1)
    return low.astimezone(UTC), high.astimezone(UTC)


def parse_reference(value, local_bases=()):
    """
    (target_type, target_id, url) for a reference string.

    Relative `Type/id` (and this server's absolute form) resolve to type and id; other
    absolute URLs, urn:uuid and canonicals are kept as `url` only. Contained (`#x`) gives None.
    """
    if not isinstance(value, str) or not value or value.startswith("#"):
        return None
    for base in local_bases:
        if value.startswith(base + "/"):
            value = value[len(base) + 1 :]
            break
    match = _REF_RE.match(value)
    if match:
        return match["type"], match["id"], ""
    return "", "", value[:500]


def _token_rows(value):
    if isinstance(value, bool):
        return [("", "true" if value else "false", "")]
    if isinstance(value, str | int):
        return [("", str(value)[:MAX_CHARS], "")]
    if not isinstance(value, dict):
        return []
    if "coding" in value or ("text" in value and "system" not in value and "value" not in value):
        text = normalize(value.get("text", ""))
        rows = [
            (
                canonical_system(c.get("system", "")),
                str(c.get("code", ""))[:MAX_CHARS],
                text or normalize(c.get("display", "")),
            )
            for c in value.get("coding") or ()
            if isinstance(c, dict)
        ]
        if text and not rows:
            rows.append(("", "", text))
        return rows
    if "code" in value and "value" not in value:
        return [
            (
                canonical_system(value.get("system", "")),
                str(value["code"])[:MAX_CHARS],
                normalize(value.get("display", "")),
            )
        ]
    if "value" in value:
        type_text = normalize((value.get("type") or {}).get("text", "")) if isinstance(value.get("type"), dict) else ""
        return [(canonical_system(value.get("system", "")), str(value["value"])[:MAX_CHARS], type_text)]
    return []


def _string_values(value):
    if isinstance(value, str):
        return [value]
    if not isinstance(value, dict):
        return []
    out = []
    for key in ("text", "family", "city", "district", "state", "postalCode", "country"):
        if isinstance(value.get(key), str):
            out.append(value[key])
    for key in ("given", "prefix", "suffix", "line"):
        out.extend(v for v in value.get(key) or () if isinstance(v, str))
    return out


def _date_rows(value):
    if isinstance(value, str):
        try:
            return [date_range(value)]
        except ValueError:
            return []
    if isinstance(value, dict) and ("start" in value or "end" in value):
        try:
            low = date_range(value["start"])[0] if value.get("start") else MIN_DATE
            high = date_range(value["end"])[1] if value.get("end") else MAX_DATE
        except ValueError:
            return []
        return [(low, high)]
    return []


def _quantity_rows(value):
    if not isinstance(value, dict) or "value" not in value:
        return []
    try:
        number = Decimal(str(value["value"]))
    except InvalidOperation:
        return []
    # The index column holds 20 integer digits; larger values are not searchable.
    if not number.is_finite() or abs(number) >= QUANTITY_LIMIT:
        return []
    if "currency" in value:
        return [(number, "urn:iso:std:iso:4217", value["currency"])]
    return [(number, value.get("system", ""), value.get("code") or value.get("unit", ""))]


def extract(resource, local_bases=()):
    """
    Index rows for one resource: a dict of index kind -> list of row dicts (without the
    tenant and resource keys), plus the patient-compartment id under "patient_id".
    """
    resource_type = resource["resourceType"]
    rows = {TOKEN: [], STRING: [], REFERENCE: [], DATE: [], QUANTITY: [], URI: []}
    refs_by_param = {}
    for code, param in params_for(resource_type).items():
        if param.column:
            continue
        seen = set()
        for value in evaluate(resource, param):
            if param.type == TOKEN:
                for system, token, text in _token_rows(value):
                    key = (system, token, text)
                    if key not in seen:
                        seen.add(key)
                        rows[TOKEN].append({"param": code, "system": system[:MAX_CHARS], "code": token, "text": text})
            elif param.type == STRING:
                for text in _string_values(value):
                    key = normalize(text)
                    if key and key not in seen:
                        seen.add(key)
                        rows[STRING].append({"param": code, "normalized": key, "exact": text[:MAX_CHARS]})
            elif param.type == REFERENCE:
                if isinstance(value, dict):
                    parsed = parse_reference(value.get("reference"), local_bases)
                    identifier = value.get("identifier")
                    if isinstance(identifier, dict):
                        for system, token, text in _token_rows(identifier):
                            rows[TOKEN].append(
                                {
                                    "param": f"{code}:identifier",
                                    "system": system[:MAX_CHARS],
                                    "code": token,
                                    "text": text,
                                }
                            )
                else:
                    parsed = parse_reference(value, local_bases)
                if parsed is None or parsed in seen:
                    continue
                if param.targets and parsed[0] and parsed[0] not in param.targets:
                    continue
                seen.add(parsed)
                rows[REFERENCE].append(
                    {"param": code, "target_type": parsed[0], "target_id": parsed[1], "url": parsed[2]}
                )
                refs_by_param.setdefault(code, []).append(parsed)
            elif param.type == DATE:
                for low, high in _date_rows(value):
                    if (low, high) not in seen:
                        seen.add((low, high))
                        rows[DATE].append({"param": code, "low": low, "high": high})
            elif param.type == QUANTITY:
                for number, system, unit in _quantity_rows(value):
                    rows[QUANTITY].append(
                        {"param": code, "value": number, "system": system[:MAX_CHARS], "code": unit[:MAX_CHARS]}
                    )
            elif param.type == COMPOSITE:
                for code_text in composite_codes(value, param.components):
                    if code_text not in seen:
                        seen.add(code_text)
                        rows[TOKEN].append({"param": code, "system": "", "code": code_text[:MAX_CHARS], "text": ""})
            elif param.type == URI:
                if isinstance(value, str) and value not in seen:
                    seen.add(value)
                    rows[URI].append({"param": code, "uri": value[:500]})
    return rows, compartment_patient(resource, refs_by_param)


def composite_codes(element, components):
    """`a$b` codes for a token$token composite: every code of part one with every code of part two."""
    if not isinstance(element, dict):
        return []
    parts = []
    for path in components:
        if path.endswith("[x]"):
            prefix = path[:-3]
            values = [
                v for k, v in element.items() if k.startswith(prefix) and k[len(prefix) : len(prefix) + 1].isupper()
            ]
        else:
            values = [element.get(path)]
        parts.append([token for value in values for _system, token, _text in _token_rows(value) if token])
    if len(parts) != 2:
        return []
    return [f"{a}${b}" for a in parts[0] for b in parts[1]]


def compartment_patient(resource, refs_by_param):
    """The Patient id whose compartment holds the resource ("" when none)."""
    if resource["resourceType"] == "Patient":
        return resource.get("id", "")
    for code in COMPARTMENT.get(resource["resourceType"], ()):
        for target_type, target_id, _url in refs_by_param.get(code, ()):
            if target_type == "Patient":
                return target_id
    return ""
