"""
The statements every API request makes before and while it does its work (the payer, its
access token, the resource read, searches), sent to the database the short way.

What one statement costs the web process in CPU, measured on the benchmark machine
(bench/fhir_api.py's data, one thread): 115 µs through a Django cursor, 66 µs through a
psycopg cursor, 28 µs straight through libpq (psycopg's `pgconn`); compiling an ORM query
costs 0.3-1.5 ms more. A FHIR read used to spend most of its time there. So on PostgreSQL
these statements are SQL written once per process, prepared once per connection and executed
with libpq's PQexecPrepared, or several in one round trip in libpq's pipeline mode; their rows
come back through psycopg's own loaders, the ones Django's cursors use (time zones included).
Elsewhere (SQLite, in-process) they go through a Django cursor. Planning is saved too: the
token lookup (three tables, each behind its row-level-security policy) cost PostgreSQL 0.22 ms
to plan and 0.05 ms to execute prepared.

The first statement of a request (`tenant_for_request`) names the payer for row-level
security and finds its row, and other apps add what they need on every request to that same
round trip (`register_request_lookup`: the bearer token, the resource a read asks for), or
statements of their own after it (`register_request_statements`: a search's page of matches).
The request's transaction then begins only if a statement needs one (`transaction_on_demand`).

These statements bypass the tenant-filtering managers: every caller puts the tenant condition
in its WHERE clause itself. On PostgreSQL, row-level security still applies underneath.
They are reads. They run inside the caller's transaction: when Django has an atomic block open
whose transaction has not begun yet, BEGIN is sent first, as psycopg would, except in a request
whose transaction begins on demand.
"""

import hashlib
import re
import time
from collections import OrderedDict
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from decimal import Decimal
from functools import cache, lru_cache
from weakref import WeakKeyDictionary

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models.base import ModelState

# Searches make statements of many shapes: a connection keeps the most recently used ones
# prepared and deallocates the rest, as psycopg does with its own.
PREPARED_PER_CONNECTION = 200
_connection_states = WeakKeyDictionary()


@cache
def _fields(model):
    """
    The fields these statements select: every concrete one but JSON fields, which stay deferred
    (Django loads a deferred field with a query of its own when it is read). The request path
    reads none of them, and parsing the token's and client's (registration metadata, JWKS) cost
    every request more than its whole SQL.
    """
    from django.db.models import JSONField

    return tuple(field for field in model._meta.concrete_fields if not isinstance(field, JSONField))


@cache
def _converters(model, vendor):
    """(position, column, converters) of the selected fields with from-db converters."""
    return _field_converters(model, tuple(field.name for field in _fields(model)), vendor)


@cache
def _attnames(model):
    return [field.attname for field in _fields(model)]


@cache
def _select_list(model, alias, vendor):
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(field.column)}" for field in _fields(model))


def columns(model, alias):
    """The SELECT list of `model`'s columns (but JSON ones), qualified by `alias`."""
    return _select_list(model, alias, connection.vendor)


def table(model):
    return connection.ops.quote_name(model._meta.db_table)


def width(model):
    """How many values `columns(model, ...)` selects."""
    return len(_fields(model))


@cache
def _plain_init(model):
    """True when building `model` needs nothing of Model.__init__ but setting its fields."""
    from django.db.models import Model, signals

    return model.__init__ is Model.__init__ and not signals.post_init.has_listeners(model)


def instance(model, values, db=None):
    """
    A model instance from values selected by `columns()` (JSON fields deferred), or None for an
    outer join's empty side.
    """
    if values[0] is None:
        return None
    db = db or connections[DEFAULT_DB_ALIAS]
    values = _convert(values, _converters(model, db.vendor), db)
    if not _plain_init(model):
        return model.from_db(DEFAULT_DB_ALIAS, _attnames(model), values)
    # What Model.from_db does, without Model.__init__'s walk over every field and its
    # descriptor: 10-15 µs a row, and a request builds four (payer, token, client, its link).
    # Fields left out of __dict__ are deferred, as from_db leaves them.
    obj = model.__new__(model)
    obj.__dict__.update(zip(_attnames(model), values, strict=True))
    obj._state = ModelState()
    obj._state.adding = False
    obj._state.db = DEFAULT_DB_ALIAS
    return obj


@cache
def _field_converters(model, field_names, vendor):
    """(position, column, converters) of those fields with from-db converters (what SQLCompiler applies)."""
    fields = {field.name: field for field in _fields(model)}
    out = []
    for position, name in enumerate(field_names):
        field = fields[name]
        column = field.get_col(model._meta.db_table)
        converters = connection.ops.get_db_converters(column) + field.get_db_converters(connection)
        if converters:
            out.append((position, column, tuple(converters)))
    return tuple(out)


def converted(model, field_names, row):
    """
    `row`, the values of `model`'s fields `field_names` (a tuple) as selected, converted as the
    ORM would (SQLite returns datetimes as text and booleans as integers).
    """
    db = connections[DEFAULT_DB_ALIAS]
    return _convert(row, _field_converters(model, field_names, db.vendor), db)


def _convert(values, converters, db):
    if not converters:
        return values
    values = list(values)
    for position, column, functions in converters:
        value = values[position]
        for function in functions:
            value = function(value, column, db)
        values[position] = value
    return values


# --- PostgreSQL through libpq ----------------------------------------------------------------


class _ConnectionState:
    """What one psycopg connection has prepared, and how its values are adapted."""

    def __init__(self, raw):
        import psycopg
        from psycopg import pq
        from psycopg.adapt import AdaptersMap, Transformer

        # The connection's own adapters (Django's among them), except that timestamps are parsed
        # by psycopg's C loader: Django's Python subclass of it cost 3.5 µs a value, and a request
        # loads about ten. Both give datetimes in the connection's time zone, which Django sets
        # to UTC.
        adapters = AdaptersMap(raw.adapters)
        timestamptz = psycopg.postgres.types["timestamptz"].oid
        adapters.register_loader("timestamptz", psycopg.adapters.get_loader(timestamptz, pq.Format.TEXT))
        self.raw = raw
        self.transformer = Transformer(_AdaptContext(adapters, raw))
        self.prepared = OrderedDict()
        self.encoding = raw.info.encoding


class _AdaptContext:
    def __init__(self, adapters, connection):
        self.adapters = adapters
        self.connection = connection


def _direct(db):
    """True where statements go straight through libpq (PostgreSQL with psycopg 3)."""
    return db.vendor == "postgresql"


_PLACEHOLDER = re.compile(r"%s|%%")


def _numbered(sql):
    """`%s` placeholders as PostgreSQL's $1, $2, ... (and `%%` as `%`, as cursors read it)."""
    numbers = iter(range(1, sql.count("%s") + 1))
    return _PLACEHOLDER.sub(lambda m: f"${next(numbers)}" if m[0] == "%s" else "%", sql)


@lru_cache(maxsize=4096)
def _statement(sql):
    """(name, numbered SQL) of a statement; the name follows from the text, in every process."""
    digest = hashlib.blake2b(sql.encode(), digest_size=10).hexdigest()
    return f"sbx_{digest}".encode(), _numbered(sql).encode()


def _raw_connection(db):
    """The psycopg connection and its state, checked as `connection.cursor()` checks it."""
    raw = db.connection
    if raw is None or db.health_check_enabled:
        db.close_if_health_check_failed()
        db.ensure_connection()
        raw = db.connection
    db.validate_thread_sharing()
    db.validate_no_broken_transaction()
    state = _connection_states.get(raw)
    if state is None:
        state = _connection_states[raw] = _ConnectionState(raw)
    return raw, state


def _check(result, state):
    from psycopg import errors
    from psycopg.pq import ExecStatus

    if result.status not in (ExecStatus.TUPLES_OK, ExecStatus.COMMAND_OK):
        raise errors.error_from_result(result, encoding=state.encoding)
    return result


def _needs_begin(raw):
    """Django opened an atomic block whose transaction has not begun: begin it, as psycopg would."""
    from psycopg.pq import TransactionStatus

    return not raw.autocommit and raw.pgconn.transaction_status == TransactionStatus.IDLE


def _ensure_prepared(pgconn, state, sql):
    name, numbered = _statement(sql)
    prepared = state.prepared
    if name in prepared:
        prepared.move_to_end(name)
        return name
    _check(pgconn.prepare(name, numbered), state)
    prepared[name] = True
    while len(prepared) > PREPARED_PER_CONNECTION:
        oldest, _ = prepared.popitem(last=False)
        _check(pgconn.exec_(b"DEALLOCATE " + oldest), state)
    return name


def _rows(result, state):
    transformer = state.transformer
    transformer.set_pgresult(result)
    return transformer.load_rows(0, result.ntuples, tuple)


def _log(db, sql, params, started):
    """Show the statement in Django's query log (DEBUG, assertNumQueries), as a cursor would."""
    if db.queries_logged:
        text = sql % tuple(_display(p) for p in params) if params else sql
        db.queries_log.append({"sql": text, "time": f"{time.monotonic() - started:.3f}"})


def _display(value):
    """A value as SQL text, for the log only (EXPLAIN of a logged statement should still run)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return "ARRAY[" + ", ".join(_display(v) for v in value) + "]"
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text.replace("'", "''") + "'"


def _direct_fetch_all(db, sql, params, generic_plan):
    from psycopg.adapt import PyFormat

    started = time.monotonic()
    ahead = _fetched_ahead.get()
    if ahead:
        rows = ahead.pop(_ahead_key(sql, params), None)
        if rows is not None:
            _log(db, sql, params, started)
            return rows
    raw, state = _raw_connection(db)
    pgconn = raw.pgconn
    prepare = settings.DB_PREPARED_STATEMENTS
    with db.wrap_database_errors:
        tenant_id = _on_demand_tenant.get()
        if tenant_id is not None and _needs_begin(raw):
            # A request whose transaction has not begun (transaction_on_demand): one round trip,
            # run by PostgreSQL as one implicit transaction, names the tenant and runs the statement.
            setting = _rls_generic_sql() if generic_plan and prepare else _rls_id_sql()
            result = _checked(_pipeline(raw, state, [(setting, [str(tenant_id)]), (sql, params)], prepare), state)[1]
        else:
            if _needs_begin(raw):
                _check(pgconn.exec_(b"BEGIN"), state)
            values = state.transformer.dump_sequence(params, [PyFormat.TEXT] * len(params)) if params else None
            if prepare:
                result = pgconn.exec_prepared(_ensure_prepared(pgconn, state, sql), values)
            else:
                # Behind a pooler in transaction mode, which may send the next statement to another
                # server connection: unnamed statements, planned each time.
                result = pgconn.exec_params(_statement(sql)[1], values)
        rows = _rows(_check(result, state), state)
    _log(db, sql, params, started)
    return rows


def _pipeline(raw, state, statements, prepare):
    """
    Run `statements`, (sql, params) pairs, in one round trip: libpq's pipeline mode, in the
    extended protocol, where PostgreSQL parses nothing of a prepared statement and takes the
    parameters as they are. The same statements sent as one text message of EXECUTEs cost it
    more CPU (bench/fhir_inprocess.py's data: 0.42 against 0.32 ms a search by identifier, 0.29
    against 0.26 ms a read), and the web process 16 µs less a read but 16 µs more a search.
    Up to the closing Sync they are one implicit transaction, unless a transaction is open:
    a setting made local by one holds for the next, and a failure rolls back all of them.

    Returns one result per statement, in order; those skipped after a failure have the status
    PIPELINE_ABORTED. The thread gives up the GIL while PostgreSQL works.
    """
    from psycopg import waiting
    from psycopg.adapt import PyFormat

    pgconn = raw.pgconn
    dump = state.transformer.dump_sequence
    commands = []
    for sql, params in statements:
        values = dump(params, [PyFormat.TEXT] * len(params)) if params else None
        if prepare:
            commands.append((pgconn.send_query_prepared, _ensure_prepared(pgconn, state, sql), values))
        else:
            # Behind a pooler in transaction mode, which may send the next statement to another
            # server connection: unnamed statements, planned each time.
            commands.append((pgconn.send_query_params, _statement(sql)[1], values))
    pgconn.enter_pipeline_mode()
    try:
        for send, statement, values in commands:
            send(statement, values)
        pgconn.pipeline_sync()
        # psycopg's own wait, as its connections call it. Without an interval it polls without
        # sleeping: 0.35 ms of CPU.
        results = waiting.wait(_pipeline_results(pgconn, len(commands)), pgconn.socket, interval=_WAIT_INTERVAL)
        pgconn.exit_pipeline_mode()
    except BaseException:
        # Interrupted with results unread: nothing more can be sent on this connection, so it
        # is closed, and Django opens another for the next request.
        raw.close()
        raise
    return results


def _pipeline_results(pgconn, count):
    """
    A generator for psycopg's `waiting.wait`, reading the results of a pipeline of `count`
    statements and its Sync, as psycopg's own generators read results.
    """
    from psycopg.pq import ExecStatus
    from psycopg.waiting import Ready, Wait

    while pgconn.flush():
        if (yield Wait.RW) & Ready.R:
            pgconn.consume_input()
    results = []
    while True:
        while pgconn.is_busy():
            yield Wait.R
            pgconn.consume_input()
        result = pgconn.get_result()
        # Each statement's result is followed by a null one; the Sync's is not.
        if result is None:
            continue
        if result.status == ExecStatus.PIPELINE_SYNC:
            break
        results.append(result)
    if len(results) != count:
        raise RuntimeError(f"{len(results)} results for a pipeline of {count} statements")
    return results


def _checked(results, state):
    """The results of a pipeline, or the error of the statement that failed first."""
    from psycopg.pq import ExecStatus

    for result in results:
        if result.status not in (ExecStatus.TUPLES_OK, ExecStatus.COMMAND_OK):
            _check(result, state)
    return results


# --- transactions on demand ----------------------------------------------------------------------
# A request to /t/<slug>/ runs in one Django atomic block, but on PostgreSQL its transaction
# begins only when a statement needs one. Reads and searches go through this module, each
# statement in one pipeline with the tenant's row-level-security setting (PostgreSQL runs a
# pipeline's statements up to its Sync as one implicit transaction, and the setting is local to
# it), so they need no BEGIN and no COMMIT: two round trips fewer, a third of a FHIR read's.
# The first statement the ORM (or anything else through a Django cursor) sends begins the
# transaction and names the tenant in the same round trip, and from there on everything the
# request does is one transaction, committed or rolled back with the atomic block as before.

_on_demand_tenant = ContextVar("on_demand_tenant", default=None)
# Rows of statements run ahead in the request's first round trip (register_request_statements),
# by (SQL, parameters): the first fetch_all of the same statement takes them instead of asking.
_fetched_ahead = ContextVar("fetched_ahead", default=None)


@cache
def _rls_id_sql():
    from tenants.rls import TENANT_SETTING

    return f"SELECT set_config('{TENANT_SETTING}', %s, true)"


@cache
def _rls_generic_sql():
    from tenants.rls import TENANT_SETTING

    # Both settings last for this pipeline's implicit transaction only: see fetch_all.
    return f"SELECT set_config('{TENANT_SETTING}', %s, true), set_config('plan_cache_mode', 'force_generic_plan', true)"


@contextmanager
def transaction_on_demand(tenant, request=None):
    """
    Inside the request's atomic block: begin its transaction only when a statement needs one.
    Statements that ran ahead for `request` (tenant_for_request) answer from their rows.
    """
    db = connections[DEFAULT_DB_ALIAS]
    if not _direct(db):
        yield
        return
    token = _on_demand_tenant.set(tenant.pk)
    ahead_token = _fetched_ahead.set(getattr(request, "_fetched_ahead", None))
    # What db.execute_wrapper() does, without a generator of its own on every request.
    db.execute_wrappers.append(_begin_first)
    try:
        yield
    finally:
        db.execute_wrappers.pop()
        _fetched_ahead.reset(ahead_token)
        _on_demand_tenant.reset(token)


def _begin_first(execute, sql, params, many, context):
    begin(context["connection"])
    return execute(sql, params, many, context)


def begin(db=None):
    """
    Begin the request's transaction now, naming its tenant for row-level security, if it waits
    for a statement that needs it (transaction_on_demand). Code that uses psycopg's own cursors
    (COPY) calls this first; statements through Django cursors do so by themselves.
    """
    tenant_id = _on_demand_tenant.get()
    if tenant_id is None:
        return
    db = db or connections[DEFAULT_DB_ALIAS]
    if db.connection is None:
        db.ensure_connection()
    raw, state = _raw_connection(db)
    if not _needs_begin(raw):
        return
    started = time.monotonic()
    with db.wrap_database_errors:
        # BEGIN first: the transaction it opens outlasts the pipeline's Sync, and the setting with it.
        statements = [("BEGIN", []), (_rls_id_sql(), [str(tenant_id)])]
        _checked(_pipeline(raw, state, statements, settings.DB_PREPARED_STATEMENTS), state)
    _log(db, f"BEGIN; {_rls_id_sql()}", [str(tenant_id)], started)


def commit():
    """
    Commit the transaction of the outermost atomic block through libpq, just before Django's
    atomic block ends: Django then finds it committed (psycopg sends nothing for a transaction
    that is not open) and runs its on-commit hooks as usual. psycopg's own COMMIT cost 40 µs
    more CPU. A failed COMMIT raises here, inside the block, which Django then rolls back as for
    any error. Nothing to do when the transaction never began (transaction_on_demand).
    """
    from psycopg.pq import TransactionStatus

    db = connections[DEFAULT_DB_ALIAS]
    if not _direct(db) or db.connection is None:
        return
    raw, state = _raw_connection(db)
    if raw.pgconn.transaction_status != TransactionStatus.INTRANS:
        return
    with db.wrap_database_errors:
        # Not logged: Django logs the COMMIT of its atomic block, which this one takes the place of.
        _check(raw.pgconn.exec_(b"COMMIT"), state)


# --- the API ---------------------------------------------------------------------------------


def fetch_all(sql, params, *, generic_plan=False):
    """
    Every row of a query (an SQL string with %s placeholders) as tuples.

    `generic_plan`: the caller knows that one plan serves every value of the parameters (index
    lookups by equality), so PostgreSQL may skip planning each execution. Left to itself it keeps
    planning a statement whose generic plan it estimates dearer than the plans for the values at
    hand, even when both are the same plan: 0.2-0.3 ms of its CPU on every search by a token or
    reference. Where the on-demand pipeline runs the statement, its plan mode says so for that
    statement alone; elsewhere PostgreSQL chooses, as it would without the flag.
    """
    db = connections[DEFAULT_DB_ALIAS]
    if _direct(db):
        return _direct_fetch_all(db, sql, list(params), generic_plan)
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def fetch_one(sql, params, *, generic_plan=False):
    """The first row of a query, or None."""
    rows = fetch_all(sql, params, generic_plan=generic_plan)
    return rows[0] if rows else None


@cache
def _get_sql(model, where, vendor):
    return f"SELECT {columns(model, table(model))} FROM {table(model)} WHERE {where}"  # noqa: S608


def get(model, where, params):
    """The first `model` row matching the SQL condition `where` (a constant string), or None."""
    row = fetch_one(_get_sql(model, where, connection.vendor), params)
    return None if row is None else instance(model, row)


# --- the request's first statement -------------------------------------------------------------

_request_lookups = []


def register_request_lookup(lookup):
    """
    Add a lookup to the statement that finds a request's payer, so that it costs no round trip
    of its own. `lookup` has:
    - `parameters(request)`: the values its SQL needs for this request, or None to skip it;
    - `sql(tenant_alias)`: (select list, LEFT JOIN clauses) over the tenant row `tenant_alias`,
      whose %s placeholders take the parameters and whose conditions include the tenant's;
    - `width()`: how many values the select list has;
    - `found(request, parameters, values)`: takes the values (all None when nothing was found).
    """
    if lookup not in _request_lookups:
        _request_lookups.append(lookup)


_request_statements = []
# The payer each slug named when last seen by this process, for the statements run ahead.
_seen_tenants = {}
_SEEN_TENANTS_MAX = 10_000


def register_request_statements(provider):
    """
    Add statements to the request's first round trip on PostgreSQL, run ahead of the view that
    will ask for them: one round trip fewer for it. `provider.statements(request, tenant)`
    returns (sql, params, generic_plan) triples of the statements that request's view is about
    to run through fetch_all, built for `tenant` (this slug's payer when this process last saw
    it; its `pk` is all a statement may depend on). Rows are used only by a fetch_all of the
    same statement, with the same parameters, in the same request, once; and only when the
    payer found is that one: otherwise they are dropped, and the view's statements run as
    usual. They run before the view's access checks, so they must be reads whose rows nothing
    else sees; a statement that fails costs the request one more round trip, nothing else.
    """
    if provider not in _request_statements:
        _request_statements.append(provider)


def _ahead_statements(request, slug):
    tenant = _seen_tenants.get(slug)
    if tenant is None:
        return ()
    return [statement for provider in _request_statements for statement in provider.statements(request, tenant)]


@cache
def _tenant_sql(vendor, lookups):
    from tenants.models import Tenant

    select, joins = [columns(Tenant, "n")], []
    for lookup in lookups:
        lookup_select, lookup_join = lookup.sql("n")
        select.append(lookup_select)
        joins.append(lookup_join)
    return f"SELECT {', '.join(select)} FROM {table(Tenant)} n {' '.join(joins)} WHERE n.slug = %s"  # noqa: S608


@cache
def _rls_sql():
    from tenants.models import Tenant
    from tenants.rls import TENANT_SETTING

    # An unknown slug names no tenant: row-level security then shows nothing.
    return (
        f"SELECT set_config('{TENANT_SETTING}', "  # noqa: S608
        f"COALESCE((SELECT t.id::text FROM {table(Tenant)} t WHERE t.slug = %s), ''), true)"
    )


def _direct_request_row(db, sql, params, slug, ahead=()):
    """
    One round trip: the row-level-security setting, then the tenant row with its lookups.
    Separate statements, so that the setting is in force when the lookups read tables behind
    row-level security. Inside an open transaction the setting stays for the transaction;
    otherwise the two run as one implicit transaction and the request's own begins on demand.

    Returns (tenant row or None, {ahead key: rows} of the `ahead` statements that ran).
    """
    started = time.monotonic()
    raw, state = _raw_connection(db)
    prepare = settings.DB_PREPARED_STATEMENTS
    own = [(_rls_sql(), [slug]), (sql, params)]
    with db.wrap_database_errors:
        if ahead and _transaction_idle(raw):
            fetched = _request_row_with_ahead(raw, state, own, ahead, prepare)
            if fetched is not None:
                _log(db, f"{_rls_sql()}; {sql}; ...", [slug, *params], started)
                return fetched
        rows = _rows(_checked(_pipeline(raw, state, own, prepare), state)[1], state)
    _log(db, f"{_rls_sql()}; {sql}", [slug, *params], started)
    return (rows[0] if rows else None), {}


_GENERIC_PLAN_SQL = "SELECT set_config('plan_cache_mode', 'force_generic_plan', true)"


def _request_row_with_ahead(raw, state, own, ahead, prepare):
    """
    The request's own statements with the `ahead` statements after them, all their results
    read; None when any statement failed (their implicit transaction then rolled back all of
    it, and the caller sends the request's statements alone).
    """
    from psycopg.pq import ExecStatus

    # One plan mode per statement: those that want the generic plan go last, after the setting.
    ordered = sorted(ahead, key=lambda statement: bool(statement[2] and prepare))
    statements, positions = list(own), []
    switched = False
    for sql, params, generic_plan in ordered:
        if generic_plan and prepare and not switched:
            statements.append((_GENERIC_PLAN_SQL, []))
            switched = True
        positions.append(len(statements))
        statements.append((sql, params))
    results = _pipeline(raw, state, statements, prepare)
    if any(r.status != ExecStatus.TUPLES_OK for r in results):
        return None
    rows = _rows(results[1], state)
    fetched = {
        _ahead_key(sql, params): _rows(results[at], state)
        for (sql, params, _), at in zip(ordered, positions, strict=True)
    }
    return (rows[0] if rows else None), fetched


def _transaction_idle(raw):
    """No transaction open on the connection: a pipeline of several statements is one of its own."""
    from psycopg.pq import TransactionStatus

    return raw.pgconn.transaction_status == TransactionStatus.IDLE


# Seconds between checks for signals (Ctrl-C) during a wait, as psycopg's connections wait.
_WAIT_INTERVAL = 0.1


def _ahead_key(sql, params):
    return sql, tuple(tuple(p) if isinstance(p, list) else p for p in params)


def tenant_for_request(slug, request=None):
    """
    The Tenant with this slug, or None; on PostgreSQL it is also named for row-level security
    (for the open transaction, or for this statement alone). The registered request lookups
    ride along and hand their results to `request`. For context.request_tenant_scope.
    """
    from tenants.models import Tenant

    db = connections[DEFAULT_DB_ALIAS]
    applicable = []
    for lookup in _request_lookups:
        parameters = lookup.parameters(request) if request is not None else None
        if parameters is not None:
            applicable.append((lookup, parameters))
    sql = _tenant_sql(db.vendor, tuple(lookup for lookup, _ in applicable))
    # The joins' parameters come before the slug, in the order of the SQL text.
    params = [value for _, parameters in applicable for value in parameters] + [slug]
    if _direct(db):
        ahead = _ahead_statements(request, slug) if request is not None and _request_statements else ()
        row, fetched = _direct_request_row(db, sql, params, slug, ahead)
    else:
        row, fetched = fetch_one(sql, params), {}
    if row is None:
        return None
    start = width(Tenant)
    tenant = instance(Tenant, row[:start], db)
    if request is not None:
        guessed = _seen_tenants.get(slug)
        if fetched and guessed is not None and guessed.pk == tenant.pk:
            request._fetched_ahead = fetched
        if guessed is None or guessed.pk != tenant.pk:
            if len(_seen_tenants) >= _SEEN_TENANTS_MAX:
                _seen_tenants.clear()
            _seen_tenants[slug] = tenant
    for lookup, parameters in applicable:
        end = start + lookup.width()
        lookup.found(request, parameters, row[start:end])
        start = end
    return tenant
