"""
FHIR R4 search over the index tables (http://hl7.org/fhir/R4/search.html).

`search(resource_type, query)` is the entry point for views and for other apps (bulk
`_typeFilter`, member match, attribution). It parses the query, turns every parameter into
a sub-select on an index table, pages, sorts and resolves `_include` / `_revinclude`. No
JSON-path lookups: the stored JSON is only ever read out, never searched.

The conditions are SQL written here, not ORM lookups: building and compiling the ORM query
cost a search about 1 ms of CPU, several times what PostgreSQL takes to run it
(bench/fhir_api.py). Statements run through tenants.row_lookup, prepared per connection on
PostgreSQL. Every table a statement reads carries the tenant condition (these statements
bypass the tenant managers); row-level security still applies underneath on PostgreSQL.
Apps that want a queryset get one from `filter_queryset`, built on the same conditions.

Paging: an unsorted search pages by keyset on the resource row id (`_cursor` / `_before`),
which neither skips nor repeats results when data changes, because updates keep the row id
and new rows get higher ids. A sorted search stores a snapshot of its ordered ids once and
pages through that (`_snapshot` / `_offset`).
"""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import NamedTuple
from urllib.parse import parse_qsl

from django.conf import settings
from django.db import connection
from django.db.models.expressions import RawSQL

from sandbox.fhirstore import indexing
from sandbox.fhirstore.errors import FhirError, InvalidSearch, NotSupported
from sandbox.fhirstore.models import (
    INDEX_MODELS,
    Resource,
    SearchDate,
    SearchQuantity,
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
from tenants import row_lookup
from tenants.context import require_tenant

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

RESOURCE_TABLE = Resource._meta.db_table


class Match(NamedTuple):
    """A resource found by a search: what bundles and includes need of its row."""

    pk: int
    resource_type: str
    fhir_id: str
    content: str


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


# --- SQL conditions -----------------------------------------------------------------------------
# A condition is (sql, params): a boolean SQL expression with %s placeholders and its values in
# the order of the text. Conditions on a resource row name it by an alias ("r" at the top).


def _any(column, values):
    """`column` equals one of `values`: one array parameter on PostgreSQL (one statement text)."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [list(values)]
    return f"{column} IN ({', '.join(['%s'] * len(values))})", list(values)


def _or(conditions):
    if len(conditions) == 1:
        return conditions[0]
    return "(" + " OR ".join(sql for sql, _ in conditions) + ")", [p for _, params in conditions for p in params]


def _and(conditions):
    if len(conditions) == 1:
        return conditions[0]
    return " AND ".join(sql for sql, _ in conditions), [p for _, params in conditions for p in params]


def _not(condition):
    return f"NOT ({condition[0]})", condition[1]


def _like(column, value, *, contains=False):
    """`column` starts with (or contains) `value`, taken literally."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%" if contains else f"{escaped}%"
    return f"{column} LIKE %s ESCAPE '\\'", [pattern]


def _db_value(model, field_name, value):
    """`value` as the ORM would send it for this field (SQLite keeps datetimes as text)."""
    return model._meta.get_field(field_name).get_db_prep_value(value, connection)


def _in_index(alias, model, resource_type, code, condition=None):
    """Resource rows `alias` with an index row of `model` for this parameter (matching `condition`)."""
    sql = (
        f"{alias}.id IN (SELECT i.resource_id FROM {model._meta.db_table} i "  # noqa: S608
        "WHERE i.tenant_id = %s AND i.resource_type = %s AND i.param = %s"
    )
    params = [require_tenant().pk, resource_type, code]
    if condition is not None:
        sql += f" AND {condition[0]}"
        params += condition[1]
    return sql + ")", params


def _resources(alias, resource_type, condition):
    """Ids of the live resources of a type (as `alias`) matching `condition`, for sub-selects."""
    return (
        f"SELECT {alias}.fhir_id FROM {RESOURCE_TABLE} {alias} WHERE {alias}.tenant_id = %s "  # noqa: S608
        f"AND {alias}.resource_type = %s AND NOT {alias}.deleted AND {condition[0]}",
        [require_tenant().pk, resource_type, *condition[1]],
    )


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


def _date_condition(prefix, value, low_column, high_column, param_code, model, low_field, high_field):
    """A date prefix and value as a condition on a [low, high] range (FHIR R4 search.html#prefix)."""
    # An unencoded "+hh:mm" offset arrives as " hh:mm" after form decoding; many clients send it so.
    value = value.replace(" ", "+")
    try:
        low, high = indexing.date_range(value)
    except ValueError:
        raise InvalidSearch(f"'{value}' is not a valid date for {param_code}.", expression=param_code) from None

    def at(field_name, instant):
        return _db_value(model, field_name, instant)

    lo, hi = low_column, high_column
    if prefix == "eq":
        return f"({lo} >= %s AND {hi} <= %s)", [at(low_field, low), at(high_field, high)]
    if prefix == "ne":
        return f"NOT ({lo} >= %s AND {hi} <= %s)", [at(low_field, low), at(high_field, high)]
    if prefix == "gt":
        return f"{hi} > %s", [at(high_field, high)]
    if prefix == "lt":
        return f"{lo} < %s", [at(low_field, low)]
    if prefix == "ge":
        return f"{hi} >= %s", [at(high_field, low)]
    if prefix == "le":
        return f"{lo} <= %s", [at(low_field, high)]
    if prefix == "sa":
        return f"{lo} > %s", [at(low_field, high)]
    if prefix == "eb":
        return f"{hi} < %s", [at(high_field, low)]
    # ap: within 10% of the distance to now, at least a day (FHIR leaves the amount open).
    now = datetime.now(UTC)
    slack = max(abs(now - low) / 10, timedelta(days=1))
    return f"({lo} <= %s AND {hi} >= %s)", [at(low_field, high + slack), at(high_field, low - slack)]


def _quantity_condition(prefix, value, param_code):
    number_text, _, rest = value.partition("|")
    try:
        number = Decimal(number_text)
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise InvalidSearch(f"'{number_text}' is not a number for {param_code}.", expression=param_code)
    if abs(number) >= indexing.QUANTITY_LIMIT:
        raise InvalidSearch(f"{number_text} is out of the searchable range for {param_code}.", expression=param_code)

    def num(n):
        return _db_value(SearchQuantity, "value", n)

    half = Decimal(1).scaleb(number.as_tuple().exponent) / 2
    if prefix in ("eq", "ne"):
        condition = "(i.value >= %s AND i.value < %s)", [num(number - half), num(number + half)]
        if prefix == "ne":
            condition = _not(condition)
    elif prefix == "ap":
        condition = "(i.value >= %s AND i.value <= %s)", [num(number * Decimal("0.9")), num(number * Decimal("1.1"))]
    else:
        operator = {"gt": ">", "lt": "<", "ge": ">=", "le": "<=", "sa": ">", "eb": "<"}[prefix]
        condition = f"i.value {operator} %s", [num(number)]
    parts = [condition]
    if rest:
        system, _, unit = rest.partition("|")
        if system:
            parts.append(("i.system = %s", [system]))
        if unit:
            parts.append(("i.code = %s", [unit]))
    return _and(parts)


def _token_value(value):
    """A token search value (`system|code`, `|code`, `system|` or `code`) as a condition on a token row."""
    system, code = _split_token(value)
    if system is None:
        return "i.code = %s", [code]
    if system == "":
        return "(i.code = %s AND i.system = '')", [code]
    if code == "":
        return "i.system = %s", [canonical_system(system)]
    return "(i.code = %s AND i.system = %s)", [code, canonical_system(system)]


class _Parser:
    def __init__(self, resource_type, bases, allowed_types=None):
        self.resource_type = resource_type
        self.bases = bases
        self.allowed_types = allowed_types
        # Whether every condition so far is an index lookup by equality, which one plan serves
        # whatever the values (tenants.row_lookup.fetch_all's generic_plan). Prefix matches,
        # ranges, negations and nested searches want a plan made for their values.
        self.equality_only = True

    def _check_allowed(self, resource_type, name):
        if self.allowed_types is not None and resource_type not in self.allowed_types:
            from sandbox.fhirstore.access import Unauthorized

            raise Unauthorized(
                f"'{name}' reaches {resource_type} resources, which need a bearer token.",
                expression=name,
                headers={"WWW-Authenticate": 'Bearer realm="FHIR"'},
            )

    def _reference_value(self, modifier_type, value):
        target_type, target_id, url = indexing.parse_reference(value, self.bases) or ("", "", "")
        if target_type:
            return "(i.target_type = %s AND i.target_id = %s)", [target_type, target_id]
        if url and ("/" in url or ":" in url):
            return "i.url = %s", [url]
        if modifier_type:
            return "(i.target_id = %s AND i.target_type = %s)", [value, modifier_type]
        return "i.target_id = %s", [value]

    def index_clause(self, resource_type, param, modifier, values, alias="r"):
        """Condition on resource rows `alias` for one parameter occurrence (its values OR-ed)."""
        code = param.code
        if param.column == "fhir_id":
            if modifier not in ("", "not"):
                raise InvalidSearch(f"Modifier ':{modifier}' is not supported on _id.", expression=code)
            condition = _any(f"{alias}.fhir_id", values)
            if modifier == "not":
                self.equality_only = False
                return _not(condition)
            return condition
        if param.column == "last_updated":
            self.equality_only = False
            if modifier:
                raise InvalidSearch(f"Modifier ':{modifier}' is not supported on _lastUpdated.", expression=code)
            column = f"{alias}.last_updated"
            return _or(
                [
                    _date_condition(*_prefix(v, code), column, column, code, Resource, "last_updated", "last_updated")
                    for v in values
                ]
            )
        modifier_type = ""
        if param.type == REFERENCE and modifier and modifier[0].isupper():
            if not is_served(modifier):
                raise InvalidSearch(f"'{modifier}' is not a resource type served here.", expression=code)
            modifier_type, modifier = modifier, ""
        if modifier not in MODIFIERS.get(param.type, {""}):
            raise InvalidSearch(f"Modifier ':{modifier}' is not supported on {code} ({param.type}).", expression=code)
        model = SearchToken if param.type == COMPOSITE else INDEX_MODELS[param.type]
        equality = param.type in (TOKEN, COMPOSITE, REFERENCE) or (param.type == STRING and modifier == "exact")
        equality = equality or (param.type == URI and modifier != "below")
        if not equality or modifier in ("missing", "not", "text"):
            self.equality_only = False
        if modifier == "missing":
            if values[0] not in ("true", "false"):
                raise InvalidSearch(f"{code}:missing takes true or false.", expression=code)
            present = _in_index(alias, model, resource_type, code)
            return _not(present) if values[0] == "true" else present
        if param.type == REFERENCE and modifier == "identifier":
            values_condition = _or([_token_value(v) for v in values])
            return _in_index(alias, SearchToken, resource_type, f"{code}:identifier", values_condition)
        conditions = []
        for v in values:
            if param.type == TOKEN:
                if modifier == "text":
                    conditions.append(_like("i.text", indexing.normalize(v), contains=True))
                else:
                    conditions.append(_token_value(v))
            elif param.type == COMPOSITE:
                first, sep, second = v.partition("$")
                if not sep or not first or not second:
                    raise InvalidSearch(f"{code} takes code$value, e.g. attributed-to$1234.", expression=code)
                # Systems are not indexed for composites; system|code parts match on the code.
                conditions.append(("i.code = %s", [f"{first.rpartition('|')[2]}${second.rpartition('|')[2]}"]))
            elif param.type == STRING:
                if modifier == "exact":
                    conditions.append(("i.exact = %s", [v]))
                else:
                    conditions.append(_like("i.normalized", indexing.normalize(v), contains=modifier == "contains"))
            elif param.type == REFERENCE:
                conditions.append(self._reference_value(modifier_type, v))
            elif param.type == DATE:
                prefix, rest = _prefix(v, code)
                if prefix == "ne":
                    # ne must hold for the whole resource, not for one of its values.
                    inner = _date_condition("eq", rest, "i.low", "i.high", code, SearchDate, "low", "high")
                    return _not(_in_index(alias, model, resource_type, code, inner))
                conditions.append(_date_condition(prefix, rest, "i.low", "i.high", code, SearchDate, "low", "high"))
            elif param.type == QUANTITY:
                prefix, rest = _prefix(v, code)
                conditions.append(_quantity_condition(prefix, rest, code))
            elif param.type == URI:
                conditions.append(_like("i.uri", v) if modifier == "below" else ("i.uri = %s", [v]))
        matched = _in_index(alias, model, resource_type, code, _or(conditions))
        return _not(matched) if modifier == "not" else matched

    def chain_clause(self, resource_type, name, values):
        """`ref[:Type].param=value`: one level of chaining."""
        self.equality_only = False
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
        targets_sql, targets_params = _resources(
            "t", ref_type, self.index_clause(ref_type, inner, inner_modifier, values, alias="t")
        )
        return _in_index(
            "r",
            SearchReference,
            resource_type,
            ref_code,
            (f"i.target_type = %s AND i.target_id IN ({targets_sql})", [ref_type, *targets_params]),
        )

    def has_clause(self, resource_type, name, values):
        """`_has:Type:refparam:param=value`: resources referenced by matching Type resources."""
        self.equality_only = False
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
        inner_condition = self.index_clause(other_type, inner, inner_modifier, values, alias="o")
        tenant_id = require_tenant().pk
        return (
            f"r.fhir_id IN (SELECT h.target_id FROM {SearchReference._meta.db_table} h "  # noqa: S608
            "WHERE h.tenant_id = %s AND h.resource_type = %s AND h.param = %s AND h.target_type = %s "
            f"AND h.resource_id IN (SELECT o.id FROM {RESOURCE_TABLE} o WHERE o.tenant_id = %s "
            f"AND o.resource_type = %s AND NOT o.deleted AND {inner_condition[0]}))",
            [tenant_id, other_type, ref_code, resource_type, tenant_id, other_type, *inner_condition[1]],
        )


def parse_query(query):
    """A list of (name, value) pairs from a query string, dict or list of pairs."""
    if isinstance(query, str):
        return parse_qsl(query.lstrip("?"), keep_blank_values=True)
    if isinstance(query, dict):
        return [(k, v) for k, vs in query.items() for v in (vs if isinstance(vs, list | tuple) else [vs])]
    return list(query)


@dataclass
class _Criteria:
    """A parsed search: which live resources of a type it matches, as SQL on the row alias `r`."""

    resource_type: str
    conditions: list
    unknown: list
    result_params: list
    # One plan serves every value of its parameters (see _Parser.equality_only).
    generic_plan: bool = False

    def where(self, extra=()):
        """(sql, params) of the WHERE clause, with `extra` conditions added."""
        base = (
            "r.tenant_id = %s AND r.resource_type = %s AND NOT r.deleted",
            [require_tenant().pk, self.resource_type],
        )
        return _and([base, *self.conditions, *extra])


def _criteria(resource_type, query, *, strict=False, allowed_types=None):
    """
    Parse a search for `resource_type`: its conditions, unknown parameter names and result
    parameters. Raises InvalidSearch / NotSupported for bad input, and for unknown parameters
    when `strict` (Prefer: handling=strict).
    """
    check_type(resource_type)
    parser = _Parser(resource_type, local_bases(), allowed_types)
    conditions, unknown, result_params = [], [], []
    for name, value in parse_query(query):
        if "\x00" in name or "\x00" in value:
            raise InvalidSearch("Search parameters must not contain NUL characters.", expression=name.strip("\x00"))
        if name in RESULT_PARAMS or name.split(":")[0] in ("_include", "_revinclude"):
            result_params.append((name, value))
            continue
        if name.startswith("_has:"):
            conditions.append(parser.has_clause(resource_type, name, _split_or(value)))
            continue
        if "." in name:
            conditions.append(parser.chain_clause(resource_type, name, _split_or(value)))
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
        conditions.append(parser.index_clause(resource_type, param, modifier, _split_or(value)))
    return _Criteria(resource_type, conditions, unknown, result_params, parser.equality_only)


def filter_queryset(resource_type, query, *, strict=False, allowed_types=None):
    """
    (queryset of matching Resource rows, unknown parameter names, result parameters), for apps
    that go on with the ORM. The queryset is unordered; errors as for `search`.
    """
    criteria = _criteria(resource_type, query, strict=strict, allowed_types=allowed_types)
    qs = Resource.objects.filter(resource_type=resource_type, deleted=False)
    if criteria.conditions:
        where, params = criteria.where()
        # The SQL is this module's own; values travel as parameters.
        ids = RawSQL(f"SELECT r.id FROM {RESOURCE_TABLE} r WHERE {where}", params)  # noqa: S608, S611
        qs = qs.filter(pk__in=ids)
    return qs, criteria.unknown, criteria.result_params


def match_ids(resource_type, query, limit=None):
    """Ids of the resources a query matches (conditional create/update, other apps)."""
    # Strict: an ignored parameter would widen the match (If-None-Exist would match everything).
    criteria = _criteria(resource_type, query, strict=True)
    where, params = criteria.where()
    sql = f"SELECT r.fhir_id FROM {RESOURCE_TABLE} r WHERE {where} ORDER BY r.id"  # noqa: S608
    if limit:
        sql += " LIMIT %s"
        params = [*params, limit]
    return [fhir_id for (fhir_id,) in row_lookup.fetch_all(sql, params, generic_plan=criteria.generic_plan)]


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


_MATCH_COLUMNS = "r.id, r.resource_type, r.fhir_id, r.content"
_SORT_COLUMNS = {STRING: "normalized", DATE: "low", TOKEN: "code", QUANTITY: "value", URI: "uri"}


def _matches(sql, params, generic_plan):
    return [Match(*row) for row in row_lookup.fetch_all(sql, params, generic_plan=generic_plan)]


def _order_by(resource_type, sort_spec):
    """(ORDER BY expressions, their params) for `_sort`; the row id breaks ties."""
    expressions, params = [], []
    for item in (s for s in sort_spec.split(",") if s):
        descending = item.startswith("-")
        code = item.lstrip("-")
        direction = " DESC" if descending else " ASC"
        if code == "_lastUpdated":
            expressions.append("r.last_updated" + direction)
            continue
        if code == "_id":
            expressions.append("r.fhir_id" + direction)
            continue
        param = get_param(resource_type, code)
        if param is None or param.type not in _SORT_COLUMNS or param.column:
            raise InvalidSearch(f"Cannot sort {resource_type} by '{code}'.", expression="_sort")
        # Ascending sorts by a resource's lowest value, descending by its highest.
        aggregate = "MAX" if descending else "MIN"
        expressions.append(
            f"(SELECT {aggregate}(s.{_SORT_COLUMNS[param.type]}) FROM {INDEX_MODELS[param.type]._meta.db_table} s "  # noqa: S608
            f"WHERE s.tenant_id = %s AND s.resource_id = r.id AND s.param = %s){direction}"
        )
        params += [require_tenant().pk, code]
    expressions.append("r.id ASC")
    return ", ".join(expressions), params


def _restriction(visible):
    """A caller's restriction (access.Caller.visible, narrowing a queryset) as a condition on `r`."""
    sql, params = visible(Resource.objects.all()).values("pk").query.sql_with_params()
    return f"r.id IN ({sql})", list(params)


def search(resource_type, query, *, strict=False, default_count=None, allowed_types=None, visible=None, planned=None):
    """
    Run a FHIR search on the active tenant; returns a SearchResult (one page).

    `query` is a query string, dict or list of pairs, including result parameters (_count,
    _sort, _total, _summary, _elements, _include, _revinclude) and the paging parameters
    this module emits in next/previous links. `allowed_types` (from access.Caller) limits
    which types chains, _has and includes may reach; `visible` (access.Caller.visible, for
    restricted callers) narrows the matches and includes to the rows the caller may see.
    `planned`: what `plan_ahead` made of the same type, query and `strict` on this tenant, for
    a caller without `visible`; it saves compiling the search twice.
    """
    if planned is not None and visible is None and default_count is None:
        plan = planned
    else:
        plan = _plan(resource_type, query, strict, default_count, allowed_types, visible)
    result, where, generic_plan, result_params = plan.result, plan.where, plan.generic_plan, plan.result_params
    count = result.count
    if result.summary == "count" or count == 0:
        result.total = _count(where, generic_plan)
        return result
    if plan.sort_spec:
        rows = _sorted_page(result, where, plan.sort_spec, result_params, count)
    else:
        rows = _keyset_page(result, where, result_params, count, generic_plan)
    if plan.total_mode == "none":
        result.total = None
    elif result.total is None:
        # Only when the page does not already show everything: counting is the costly part.
        result.total = _count(where, generic_plan)
    result.matches = rows
    result.includes = _includes(resource_type, rows, result_params, plan.restriction)
    if allowed_types is not None:
        result.includes = [r for r in result.includes if r.resource_type in allowed_types]
    return result


class _Plan(NamedTuple):
    result: SearchResult  # with its parameters set, no rows yet
    where: tuple
    generic_plan: bool
    result_params: list
    restriction: list
    sort_spec: str
    total_mode: str


def _plan(resource_type, query, strict, default_count, allowed_types, visible):
    """What `search` will do, checked and compiled, before it runs anything."""
    criteria = _criteria(resource_type, query, strict=strict, allowed_types=allowed_types)
    result_params = criteria.result_params
    restriction = [_restriction(visible)] if visible is not None else []
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
    result = SearchResult(
        resource_type=resource_type, unknown=criteria.unknown, summary=summary, elements=elements, count=count
    )
    result.query = [(k, v) for k, v in parse_query(query) if k not in PAGING_PARAMS and k != "_format"]
    return _Plan(
        result=result,
        where=criteria.where(restriction),
        generic_plan=criteria.generic_plan and not restriction,
        result_params=result_params,
        restriction=restriction,
        sort_spec=_last(result_params, "_sort"),
        total_mode=total_mode,
    )


def plan_ahead(resource_type, query, *, strict=False):
    """
    (plan for `search(planned=...)`, the statement it runs first as (sql, params, generic_plan)
    for row_lookup.fetch_all), for a caller that may see every resource of the type; None where
    that statement is not a page of matches (a count, a sorted search), or the query is an
    error or reaches other types (chains, _has), which depends on the caller. For statements
    run ahead of the view (sandbox.fhirstore.read_ahead).
    """
    pairs = parse_query(query)
    if any("." in name or name.startswith("_has:") for name, _ in pairs):
        return None
    try:
        plan = _plan(resource_type, pairs, strict, None, None, None)
        if plan.result.summary == "count" or plan.result.count == 0 or plan.sort_spec:
            return None
        sql, params = _keyset_statement(plan.where, plan.result_params, plan.result.count)
    except FhirError:
        # The view reports it, in its turn.
        return None
    return plan, (sql, params, plan.generic_plan)


def _count(where, generic_plan):
    sql, params = where
    statement = f"SELECT COUNT(*) FROM {RESOURCE_TABLE} r WHERE {sql}"  # noqa: S608
    return row_lookup.fetch_one(statement, params, generic_plan=generic_plan)[0]


# Row ids are 64-bit: a page link beyond that finds nothing after it and everything before it.
_ROW_ID_MAX = 2**63 - 1


def _paging(result_params):
    cursor = _int_param(result_params, "_cursor", None)
    before = _int_param(result_params, "_before", None)
    cursor = None if cursor is None else min(cursor, _ROW_ID_MAX)
    before = None if before is None else min(before, _ROW_ID_MAX)
    return cursor, before


def _keyset_statement(where, result_params, count):
    """(sql, params) of a page of matches in row order: one more than `count`, to know if more follow."""
    cursor, before = _paging(result_params)
    sql, params = where
    select = f"SELECT {_MATCH_COLUMNS} FROM {RESOURCE_TABLE} r WHERE {sql}"  # noqa: S608
    if before is not None:
        return f"{select} AND r.id < %s ORDER BY r.id DESC LIMIT %s", [*params, before, count + 1]
    if cursor is not None:
        return f"{select} AND r.id > %s ORDER BY r.id LIMIT %s", [*params, cursor, count + 1]
    return f"{select} ORDER BY r.id LIMIT %s", [*params, count + 1]


def _keyset_page(result, where, result_params, count, generic_plan):
    cursor, before = _paging(result_params)
    sql, params = _keyset_statement(where, result_params, count)
    rows = _matches(sql, params, generic_plan)
    if before is not None:
        has_previous = len(rows) > count
        rows = list(reversed(rows[:count]))
        has_next = True
    else:
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


def _sorted_page(result, where, sort_spec, result_params, count):
    snapshot_id = _int_param(result_params, "_snapshot", None)
    offset = _int_param(result_params, "_offset", 0)
    if snapshot_id is None:
        order_by, order_params = _order_by(result.resource_type, sort_spec)
        limit = settings.FHIR_SEARCH_SNAPSHOT_LIMIT
        sql, params = where
        ids = [
            pk
            for (pk,) in row_lookup.fetch_all(
                f"SELECT r.id FROM {RESOURCE_TABLE} r WHERE {sql} ORDER BY {order_by} LIMIT %s",  # noqa: S608
                [*params, *order_params, limit + 1],
            )
        ]
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


def _live(condition, restriction=()):
    """Live resource rows of the active tenant matching `condition` (and the caller's restriction)."""
    sql, params = _and([("r.tenant_id = %s AND NOT r.deleted", [require_tenant().pk]), condition, *restriction])
    statement = f"SELECT {_MATCH_COLUMNS} FROM {RESOURCE_TABLE} r WHERE {sql}"  # noqa: S608
    # Lookups by row id, type and id: one plan serves them, but not a restricted caller's filter.
    return _matches(statement, params, not restriction)


def _rows_in_order(pks):
    if not pks:
        return []
    by_pk = {row.pk: row for row in _live(_any("r.id", pks))}
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


def _included(sources, code, target, restriction):
    """Resources that the reference index rows of `sources` (row ids) point at."""
    condition = [
        ("ref.tenant_id = %s AND ref.target_id <> ''", [require_tenant().pk]),
        _any("ref.resource_id", sources),
    ]
    if code != "*":
        condition.append(("ref.param = %s", [code]))
    if target:
        condition.append(("ref.target_type = %s", [target]))
    refs_sql, refs_params = _and(condition)
    return _live(
        (
            f"EXISTS (SELECT 1 FROM {SearchReference._meta.db_table} ref WHERE {refs_sql} "  # noqa: S608
            "AND ref.target_type = r.resource_type AND ref.target_id = r.fhir_id)",
            refs_params,
        ),
        restriction,
    )


def _revincluded(targets, source_type, code, restriction):
    """Resources of `source_type` whose reference index rows point at one of `targets`."""
    condition = [("ref.tenant_id = %s AND ref.resource_type = %s", [require_tenant().pk, source_type])]
    if code != "*":
        condition.append(("ref.param = %s", [code]))
    by_type = {}
    for row in targets:
        by_type.setdefault(row.resource_type, []).append(row.fhir_id)
    condition.append(
        _or([_and([("ref.target_type = %s", [typ]), _any("ref.target_id", ids)]) for typ, ids in by_type.items()])
    )
    refs_sql, refs_params = _and(condition)
    return _live(
        (
            f"r.id IN (SELECT ref.resource_id FROM {SearchReference._meta.db_table} ref WHERE {refs_sql})",  # noqa: S608
            refs_params,
        ),
        restriction,
    )


def _includes(resource_type, rows, result_params, restriction=()):
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
                found = _included(sources, code, target, restriction) if sources else []
            else:
                found = _revincluded(frontier, source_type, code, restriction)
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
