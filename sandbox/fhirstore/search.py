"""
FHIR R4 search over the index tables (http://hl7.org/fhir/R4/search.html).

`search(resource_type, query)` is the entry point for views and for other apps (bulk
`_typeFilter`, member match, attribution). It parses the query, turns every parameter into
a sub-select on an index table, pages, sorts and resolves `_include` / `_revinclude`. No
JSON-path lookups: the stored JSON is only ever read out, never searched.

Paging: an unsorted search pages by keyset on the resource row id (`_cursor` / `_before`),
which neither skips nor repeats results when data changes, because updates keep the row id
and new rows get higher ids. A sorted search stores a snapshot of its ordered ids once and
pages through that (`_snapshot` / `_offset`).
"""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qsl

from django.conf import settings
from django.db.models import Max, Min, OuterRef, Q, Subquery

from sandbox.fhirstore import indexing
from sandbox.fhirstore.errors import InvalidSearch, NotSupported
from sandbox.fhirstore.models import (
    INDEX_MODELS,
    Resource,
    SearchReference,
    SearchSnapshot,
    SearchToken,
)
from sandbox.fhirstore.search_parameters import (
    COMPOSITE,
    DATE,
    QUANTITY,
    REFERENCE,
    STRING,
    TOKEN,
    URI,
    canonical_system,
    get_param,
    is_served,
    params_for,
)
from sandbox.fhirstore.store import check_type, local_bases

RESULT_PARAMS = {
    "_count",
    "_sort",
    "_total",
    "_summary",
    "_elements",
    "_include",
    "_revinclude",
    "_contained",
    "_containedType",
    "_format",
    "_pretty",
    "_cursor",
    "_before",
    "_snapshot",
    "_offset",
}
PAGING_PARAMS = {"_cursor", "_before", "_snapshot", "_offset"}
PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
MODIFIERS = {
    TOKEN: {"", "not", "text", "missing"},
    STRING: {"", "exact", "contains", "missing"},
    REFERENCE: {"", "identifier", "missing"},
    DATE: {"", "missing"},
    QUANTITY: {"", "missing"},
    URI: {"", "below", "missing"},
    COMPOSITE: {"", "missing"},
}
MAX_INCLUDE_ROUNDS = 3


@dataclass
class SearchResult:
    """One page of a search: matches, includes, total and what the paging links need."""

    resource_type: str
    matches: list = field(default_factory=list)
    includes: list = field(default_factory=list)
    total: int | None = None
    query: list = field(default_factory=list)
    next_params: list | None = None
    previous_params: list | None = None
    unknown: list = field(default_factory=list)
    summary: str = ""
    elements: tuple = ()
    count: int = 0


def _split_or(value):
    """Comma-separated OR values; `\\,` is a literal comma."""
    parts, current, escaped = [], [], False
    for ch in value:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _split_token(value):
    """(system or None, code or None) for `system|code`, `|code`, `system|` and `code`."""
    if "|" in value:
        system, code = value.split("|", 1)
        return system, code
    return None, value


def _prefix(value, param_code):
    if len(value) > 2 and value[:2].isalpha():
        if value[:2] not in PREFIXES:
            raise InvalidSearch(
                f"'{value[:2]}' is not a search prefix (use one of {', '.join(PREFIXES)}).", expression=param_code
            )
        return value[:2], value[2:]
    return "eq", value


def _date_q(prefix, value, low_field, high_field, param_code):
    # An unencoded "+hh:mm" offset arrives as " hh:mm" after form decoding; many clients send it so.
    value = value.replace(" ", "+")
    try:
        low, high = indexing.date_range(value)
    except ValueError:
        raise InvalidSearch(f"'{value}' is not a valid date for {param_code}.", expression=param_code) from None
    lo, hi = low_field, high_field
    if prefix == "eq":
        return Q(**{f"{lo}__gte": low, f"{hi}__lte": high})
    if prefix == "ne":
        return ~Q(**{f"{lo}__gte": low, f"{hi}__lte": high})
    if prefix == "gt":
        return Q(**{f"{hi}__gt": high})
    if prefix == "lt":
        return Q(**{f"{lo}__lt": low})
    if prefix == "ge":
        return Q(**{f"{hi}__gte": low})
    if prefix == "le":
        return Q(**{f"{lo}__lte": high})
    if prefix == "sa":
        return Q(**{f"{lo}__gt": high})
    if prefix == "eb":
        return Q(**{f"{hi}__lt": low})
    # ap: within 10% of the distance to now, at least a day (FHIR leaves the amount open).
    now = datetime.now(UTC)
    slack = max(abs(now - low) / 10, timedelta(days=1))
    return Q(**{f"{lo}__lte": high + slack, f"{hi}__gte": low - slack})


def _quantity_q(prefix, value, param_code):
    number_text, _, rest = value.partition("|")
    try:
        number = Decimal(number_text)
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise InvalidSearch(f"'{number_text}' is not a number for {param_code}.", expression=param_code)
    if abs(number) >= indexing.QUANTITY_LIMIT:
        raise InvalidSearch(f"{number_text} is out of the searchable range for {param_code}.", expression=param_code)
    half = Decimal(1).scaleb(number.as_tuple().exponent) / 2
    q = {
        "eq": Q(value__gte=number - half, value__lt=number + half),
        "ap": Q(value__gte=number * Decimal("0.9"), value__lte=number * Decimal("1.1")),
        "ne": ~Q(value__gte=number - half, value__lt=number + half),
        "gt": Q(value__gt=number),
        "lt": Q(value__lt=number),
        "ge": Q(value__gte=number),
        "le": Q(value__lte=number),
        "sa": Q(value__gt=number),
        "eb": Q(value__lt=number),
    }[prefix]
    if rest:
        system, _, unit = rest.partition("|")
        if system:
            q &= Q(system=system)
        if unit:
            q &= Q(code=unit)
    return q


class _Parser:
    def __init__(self, resource_type, bases, allowed_types=None):
        self.resource_type = resource_type
        self.bases = bases
        self.allowed_types = allowed_types

    def _check_allowed(self, resource_type, name):
        if self.allowed_types is not None and resource_type not in self.allowed_types:
            from sandbox.fhirstore.access import Unauthorized

            raise Unauthorized(
                f"'{name}' reaches {resource_type} resources, which need a bearer token.",
                expression=name,
                headers={"WWW-Authenticate": 'Bearer realm="FHIR"'},
            )

    def _reference_q(self, param, modifier_type, value):
        target_type, target_id, url = indexing.parse_reference(value, self.bases) or ("", "", "")
        if target_type:
            return Q(target_type=target_type, target_id=target_id)
        if url and ("/" in url or ":" in url):
            return Q(url=url)
        q = Q(target_id=value)
        if modifier_type:
            q &= Q(target_type=modifier_type)
        return q

    def index_clause(self, resource_type, param, modifier, values):
        """Q on Resource for one parameter occurrence (its comma-separated values OR-ed)."""
        code = param.code
        if param.column == "fhir_id":
            if modifier not in ("", "not"):
                raise InvalidSearch(f"Modifier ':{modifier}' is not supported on _id.", expression=code)
            q = Q(fhir_id__in=values)
            return ~q if modifier == "not" else q
        if param.column == "last_updated":
            if modifier:
                raise InvalidSearch(f"Modifier ':{modifier}' is not supported on _lastUpdated.", expression=code)
            q = Q()
            for v in values:
                prefix, rest = _prefix(v, code)
                q |= _date_q(prefix, rest, "last_updated", "last_updated", code)
            return q
        modifier_type = ""
        if param.type == REFERENCE and modifier and modifier[0].isupper():
            if not is_served(modifier):
                raise InvalidSearch(f"'{modifier}' is not a resource type served here.", expression=code)
            modifier_type, modifier = modifier, ""
        if modifier not in MODIFIERS.get(param.type, {""}):
            raise InvalidSearch(f"Modifier ':{modifier}' is not supported on {code} ({param.type}).", expression=code)
        model = SearchToken if param.type == COMPOSITE else INDEX_MODELS[param.type]
        base = model.objects.filter(resource_type=resource_type, param=code)
        if modifier == "missing":
            if values[0] not in ("true", "false"):
                raise InvalidSearch(f"{code}:missing takes true or false.", expression=code)
            present = Q(pk__in=base.values("resource_id"))
            return ~present if values[0] == "true" else present
        if param.type == REFERENCE and modifier == "identifier":
            base = SearchToken.objects.filter(resource_type=resource_type, param=f"{code}:identifier")
            q = Q()
            for v in values:
                q |= self._token_value_q(v)
            return Q(pk__in=base.filter(q).values("resource_id"))
        q = Q()
        for v in values:
            if param.type == TOKEN:
                q |= Q(text__contains=indexing.normalize(v)) if modifier == "text" else self._token_value_q(v)
            elif param.type == COMPOSITE:
                first, sep, second = v.partition("$")
                if not sep or not first or not second:
                    raise InvalidSearch(f"{code} takes code$value, e.g. attributed-to$1234.", expression=code)
                # Systems are not indexed for composites; system|code parts match on the code.
                q |= Q(code=f"{first.rpartition('|')[2]}${second.rpartition('|')[2]}")
            elif param.type == STRING:
                if modifier == "exact":
                    q |= Q(exact=v)
                elif modifier == "contains":
                    q |= Q(normalized__contains=indexing.normalize(v))
                else:
                    q |= Q(normalized__startswith=indexing.normalize(v))
            elif param.type == REFERENCE:
                q |= self._reference_q(param, modifier_type, v)
            elif param.type == DATE:
                prefix, rest = _prefix(v, code)
                if prefix == "ne":
                    # ne must hold for the whole resource, not for one of its values.
                    inner = _date_q("eq", rest, "low", "high", code)
                    return ~Q(pk__in=base.filter(inner).values("resource_id"))
                q |= _date_q(prefix, rest, "low", "high", code)
            elif param.type == QUANTITY:
                prefix, rest = _prefix(v, code)
                q |= _quantity_q(prefix, rest, code)
            elif param.type == URI:
                q |= Q(uri__startswith=v) if modifier == "below" else Q(uri=v)
        matched = Q(pk__in=base.filter(q).values("resource_id"))
        return ~matched if modifier == "not" else matched

    @staticmethod
    def _token_value_q(value):
        system, code = _split_token(value)
        if system is None:
            return Q(code=code)
        if system == "":
            return Q(code=code, system="")
        if code == "":
            return Q(system=canonical_system(system))
        return Q(code=code, system=canonical_system(system))

    def chain_clause(self, resource_type, name, values):
        """`ref[:Type].param=value`: one level of chaining."""
        head, tail = name.split(".", 1)
        if "." in tail:
            raise NotSupported(f"'{name}': only one level of chaining is supported.", expression=name)
        ref_code, _, ref_type = head.partition(":")
        param = get_param(resource_type, ref_code)
        if param is None or param.type != REFERENCE:
            raise InvalidSearch(f"'{ref_code}' is not a reference parameter of {resource_type}.", expression=name)
        if not ref_type:
            if len(param.targets) != 1:
                raise InvalidSearch(
                    f"Chaining through '{ref_code}' needs a type: write {ref_code}:<Type>.{tail}.", expression=name
                )
            ref_type = param.targets[0]
        check_type(ref_type)
        self._check_allowed(ref_type, name)
        inner_code, _, inner_modifier = tail.partition(":")
        inner = get_param(ref_type, inner_code)
        if inner is None:
            raise InvalidSearch(f"'{inner_code}' is not a search parameter of {ref_type}.", expression=name)
        inner_q = self.index_clause(ref_type, inner, inner_modifier, values)
        targets = Resource.objects.filter(resource_type=ref_type, deleted=False).filter(inner_q).values("fhir_id")
        refs = SearchReference.objects.filter(
            resource_type=resource_type, param=ref_code, target_type=ref_type, target_id__in=targets
        )
        return Q(pk__in=refs.values("resource_id"))

    def has_clause(self, resource_type, name, values):
        """`_has:Type:refparam:param=value`: resources referenced by matching Type resources."""
        parts = name.split(":")
        if len(parts) < 4:
            raise InvalidSearch(f"'{name}' must look like _has:Type:reference:parameter.", expression=name)
        other_type, ref_code, inner_code = parts[1], parts[2], parts[3]
        inner_modifier = parts[4] if len(parts) > 4 else ""
        check_type(other_type)
        self._check_allowed(other_type, name)
        ref_param = get_param(other_type, ref_code)
        inner = get_param(other_type, inner_code)
        if ref_param is None or ref_param.type != REFERENCE or inner is None:
            raise InvalidSearch(f"'{name}' names parameters {other_type} does not have.", expression=name)
        inner_q = self.index_clause(other_type, inner, inner_modifier, values)
        sources = Resource.objects.filter(resource_type=other_type, deleted=False).filter(inner_q).values("pk")
        refs = SearchReference.objects.filter(
            resource_type=other_type, param=ref_code, target_type=resource_type, resource_id__in=sources
        )
        return Q(fhir_id__in=refs.values("target_id"))


def parse_query(query):
    """A list of (name, value) pairs from a query string, dict or list of pairs."""
    if isinstance(query, str):
        return parse_qsl(query.lstrip("?"), keep_blank_values=True)
    if isinstance(query, dict):
        return [(k, v) for k, vs in query.items() for v in (vs if isinstance(vs, list | tuple) else [vs])]
    return list(query)


def filter_queryset(resource_type, query, *, strict=False, allowed_types=None):
    """
    (queryset of matching Resource rows, unknown parameter names, result parameters).

    The queryset is unordered; raises InvalidSearch / NotSupported for bad input, and for
    unknown parameters when `strict` (Prefer: handling=strict).
    """
    check_type(resource_type)
    parser = _Parser(resource_type, local_bases(), allowed_types)
    qs = Resource.objects.filter(resource_type=resource_type, deleted=False)
    unknown, result_params = [], []
    for name, value in parse_query(query):
        if "\x00" in name or "\x00" in value:
            raise InvalidSearch("Search parameters must not contain NUL characters.", expression=name.strip("\x00"))
        if name in RESULT_PARAMS or name.split(":")[0] in ("_include", "_revinclude"):
            result_params.append((name, value))
            continue
        if name.startswith("_has:"):
            qs = qs.filter(parser.has_clause(resource_type, name, _split_or(value)))
            continue
        if "." in name:
            qs = qs.filter(parser.chain_clause(resource_type, name, _split_or(value)))
            continue
        code, _, modifier = name.partition(":")
        param = get_param(resource_type, code)
        if param is None:
            if strict:
                raise InvalidSearch(f"Unknown search parameter '{name}' for {resource_type}.", expression=name)
            unknown.append(name)
            continue
        if value == "" and modifier != "missing":
            continue
        qs = qs.filter(parser.index_clause(resource_type, param, modifier, _split_or(value)))
    return qs, unknown, result_params


def match_ids(resource_type, query, limit=None):
    """Ids of the resources a query matches (conditional create/update, other apps)."""
    # Strict: an ignored parameter would widen the match (If-None-Exist would match everything).
    qs, _unknown, _result = filter_queryset(resource_type, query, strict=True)
    ids = qs.order_by("pk").values_list("fhir_id", flat=True)
    return list(ids[:limit] if limit else ids)


def _int_param(result_params, name, default, maximum=None):
    for key, value in result_params:
        if key == name:
            try:
                number = int(value)
            except ValueError:
                raise InvalidSearch(f"{name} must be a whole number.", expression=name) from None
            if number < 0:
                raise InvalidSearch(f"{name} must not be negative.", expression=name)
            return min(number, maximum) if maximum else number
    return default


def _last(result_params, name, default=""):
    value = default
    for key, v in result_params:
        if key == name:
            value = v
    return value


def _sort_annotations(resource_type, sort_spec):
    annotations, ordering = {}, []
    for i, item in enumerate(s for s in sort_spec.split(",") if s):
        descending = item.startswith("-")
        code = item.lstrip("-")
        if code == "_lastUpdated":
            ordering.append("-last_updated" if descending else "last_updated")
            continue
        if code == "_id":
            ordering.append("-fhir_id" if descending else "fhir_id")
            continue
        param = get_param(resource_type, code)
        if param is None or param.type not in (STRING, DATE, TOKEN, QUANTITY, URI) or param.column:
            raise InvalidSearch(f"Cannot sort {resource_type} by '{code}'.", expression="_sort")
        column = {STRING: "normalized", DATE: "low", TOKEN: "code", QUANTITY: "value", URI: "uri"}[param.type]
        model = INDEX_MODELS[param.type]
        aggregate = Max if descending else Min
        sub = (
            model.objects.filter(resource_id=OuterRef("pk"), param=code)
            .values("resource_id")
            .annotate(v=aggregate(column))
            .values("v")
        )
        name = f"sort_{i}"
        annotations[name] = Subquery(sub[:1])
        ordering.append(f"-{name}" if descending else name)
    return annotations, ordering


def search(resource_type, query, *, strict=False, default_count=None, allowed_types=None, visible=None):
    """
    Run a FHIR search on the active tenant; returns a SearchResult (one page).

    `query` is a query string, dict or list of pairs, including result parameters (_count,
    _sort, _total, _summary, _elements, _include, _revinclude) and the paging parameters
    this module emits in next/previous links. `allowed_types` (from access.Caller) limits
    which types chains, _has and includes may reach; `visible` (access.Caller.visible, for
    restricted callers) narrows the matches and includes to the rows the caller may see.
    """
    qs, unknown, result_params = filter_queryset(resource_type, query, strict=strict, allowed_types=allowed_types)
    if visible is not None:
        qs = visible(qs)
    pairs = parse_query(query)
    count = _int_param(
        result_params, "_count", default_count or settings.FHIR_DEFAULT_PAGE_SIZE, settings.FHIR_MAX_PAGE_SIZE
    )
    summary = _last(result_params, "_summary")
    if summary not in ("", "true", "false", "count", "text", "data"):
        raise InvalidSearch(f"_summary={summary} is not supported.", expression="_summary")
    total_mode = _last(result_params, "_total", "accurate")
    if total_mode not in ("none", "estimate", "accurate"):
        raise InvalidSearch("_total must be none, estimate or accurate.", expression="_total")
    elements = tuple(e for e in _last(result_params, "_elements").split(",") if e)
    result = SearchResult(resource_type=resource_type, unknown=unknown, summary=summary, elements=elements, count=count)
    result.query = [(k, v) for k, v in pairs if k not in PAGING_PARAMS and k != "_format"]

    if summary == "count" or count == 0:
        result.total = qs.count()
        return result
    sort_spec = _last(result_params, "_sort")
    if sort_spec:
        rows = _sorted_page(result, qs, sort_spec, result_params, count)
    else:
        rows = _keyset_page(result, qs, result_params, count)
    if total_mode == "none":
        result.total = None
    elif result.total is None:
        # Only when the page does not already show everything: counting is the costly part.
        result.total = qs.count()
    result.matches = rows
    result.includes = _includes(resource_type, rows, result_params)
    if allowed_types is not None:
        result.includes = [r for r in result.includes if r.resource_type in allowed_types]
    if visible is not None and result.includes:
        included = Resource.objects.filter(pk__in=[r.pk for r in result.includes])
        seen = set(visible(included).values_list("pk", flat=True))
        result.includes = [r for r in result.includes if r.pk in seen]
    return result


def _keyset_page(result, qs, result_params, count):
    cursor = _int_param(result_params, "_cursor", None)
    before = _int_param(result_params, "_before", None)
    if before is not None:
        rows = list(qs.filter(pk__lt=before).order_by("-pk")[: count + 1])
        has_previous = len(rows) > count
        rows = list(reversed(rows[:count]))
        has_next = True
    else:
        page = qs.filter(pk__gt=cursor) if cursor is not None else qs
        rows = list(page.order_by("pk")[: count + 1])
        has_next = len(rows) > count
        rows = rows[:count]
        has_previous = cursor is not None
    if cursor is None and before is None and not has_next:
        result.total = len(rows)
    if rows and has_next:
        result.next_params = [*result.query, ("_cursor", str(rows[-1].pk))]
    if rows and has_previous:
        result.previous_params = [*result.query, ("_before", str(rows[0].pk))]
    return rows


def _sorted_page(result, qs, sort_spec, result_params, count):
    snapshot_id = _int_param(result_params, "_snapshot", None)
    offset = _int_param(result_params, "_offset", 0)
    if snapshot_id is None:
        annotations, ordering = _sort_annotations(result.resource_type, sort_spec)
        limit = settings.FHIR_SEARCH_SNAPSHOT_LIMIT
        ids = list(qs.annotate(**annotations).order_by(*ordering, "pk").values_list("pk", flat=True)[: limit + 1])
        if len(ids) <= limit:
            result.total = len(ids)
        if len(ids) <= count:
            return _rows_in_order(ids)
        snapshot = SearchSnapshot.objects.create(
            resource_type=result.resource_type,
            query=json.dumps(result.query),
            ids=",".join(map(str, ids[:limit])),
            total=len(ids[:limit]),
        )
    else:
        oldest = datetime.now(UTC) - timedelta(seconds=settings.FHIR_SEARCH_SNAPSHOT_TTL)
        snapshot = SearchSnapshot.objects.filter(
            pk=snapshot_id, resource_type=result.resource_type, created_at__gte=oldest
        ).first()
        if snapshot is None:
            raise InvalidSearch("This page link has expired; run the search again.", expression="_snapshot")
        ids = [int(i) for i in snapshot.ids.split(",") if i]
        result.total = snapshot.total
    page_ids = ids[offset : offset + count]
    if offset + count < len(ids):
        result.next_params = [*result.query, ("_snapshot", str(snapshot.pk)), ("_offset", str(offset + count))]
    if offset > 0:
        result.previous_params = [
            *result.query,
            ("_snapshot", str(snapshot.pk)),
            ("_offset", str(max(0, offset - count))),
        ]
    return _rows_in_order(page_ids)


def _rows_in_order(pks):
    by_pk = {row.pk: row for row in Resource.objects.filter(pk__in=pks, deleted=False)}
    return [by_pk[pk] for pk in pks if pk in by_pk]


def _parse_include(value, name):
    parts = value.split(":")
    if len(parts) < 2 or len(parts) > 3:
        raise InvalidSearch(f"{name}={value} must look like Type:parameter[:TargetType].", expression=name)
    source_type, code = parts[0], parts[1]
    target = parts[2] if len(parts) == 3 else ""
    if not is_served(source_type):
        raise InvalidSearch(f"{name}: '{source_type}' is not a resource type served here.", expression=name)
    if code != "*":
        param = get_param(source_type, code)
        if param is None or param.type != REFERENCE:
            raise InvalidSearch(f"{name}: '{code}' is not a reference parameter of {source_type}.", expression=name)
    return source_type, code, target


def _includes(resource_type, rows, result_params):
    """Resources named by _include / _revinclude (with :iterate), excluding the matches."""
    specs = []
    for name, value in result_params:
        base, _, flag = name.partition(":")
        if base not in ("_include", "_revinclude"):
            continue
        if flag not in ("", "iterate", "recurse"):
            raise InvalidSearch(f"{name} is not supported.", expression=name)
        specs.append((base, flag != "", *_parse_include(value, name)))
    if not specs or not rows:
        return []
    seen = {(r.resource_type, r.fhir_id) for r in rows}
    included = []
    frontier = list(rows)
    for round_number in range(MAX_INCLUDE_ROUNDS):
        new_rows = []
        for kind, iterate, source_type, code, target in specs:
            if round_number > 0 and not iterate:
                continue
            if kind == "_include":
                sources = [r.pk for r in frontier if r.resource_type == source_type]
                if not sources:
                    continue
                refs = SearchReference.objects.filter(resource_id__in=sources).exclude(target_id="")
                if code != "*":
                    refs = refs.filter(param=code)
                if target:
                    refs = refs.filter(target_type=target)
                wanted = {(t, i) for t, i in refs.values_list("target_type", "target_id")} - seen
                found = _fetch(wanted)
            else:
                targets = [r for r in frontier]
                if not targets:
                    continue
                refs = SearchReference.objects.filter(resource_type=source_type)
                if code != "*":
                    refs = refs.filter(param=code)
                cond = Q()
                for typ in {r.resource_type for r in targets}:
                    cond |= Q(target_type=typ, target_id__in=[r.fhir_id for r in targets if r.resource_type == typ])
                refs = refs.filter(cond)
                found = [
                    r
                    for r in Resource.objects.filter(pk__in=refs.values("resource_id"), deleted=False)
                    if (r.resource_type, r.fhir_id) not in seen
                ]
            for row in found:
                key = (row.resource_type, row.fhir_id)
                if key not in seen:
                    seen.add(key)
                    new_rows.append(row)
        if not new_rows:
            break
        included.extend(new_rows)
        frontier = new_rows
    return included


def _fetch(keys):
    if not keys:
        return []
    cond = Q()
    by_type = {}
    for typ, fid in keys:
        by_type.setdefault(typ, []).append(fid)
    for typ, ids in by_type.items():
        cond |= Q(resource_type=typ, fhir_id__in=ids)
    return list(Resource.objects.filter(cond, deleted=False))


def known_params(resource_type):
    return params_for(resource_type)


def prune_snapshots(max_age=None):
    """
    Delete the paging snapshots of sorted searches older than FHIR_SEARCH_SNAPSHOT_TTL (or
    `max_age`), in every tenant; returns how many. For the prune_search_snapshots command.
    """
    from tenants import rls

    max_age = max_age or timedelta(seconds=settings.FHIR_SEARCH_SNAPSHOT_TTL)
    with rls.bypass():
        deleted, _ = SearchSnapshot.unscoped.filter(created_at__lt=datetime.now(UTC) - max_age).delete()
    return deleted
