"""
Model rows fetched with SQL written once per process, for the few lookups every API request
makes before it does any work (tenant, access token, client links, the resource itself).

Compiling an ORM query costs Django 0.3-1.5 ms on this machine's class of CPU, several times
what PostgreSQL takes to run it (bench/fhir_api.py measures both); a FHIR read used to spend
most of its time there. The SELECT is built from the model's own metadata, so it stays right
when fields change, and values go through the same database converters the ORM applies
(SQLite returns naive datetimes and integers for booleans otherwise).

On PostgreSQL the statements are also prepared, once per connection: planning the token
lookup (three tables, each with its row-level-security policy) cost PostgreSQL 0.22 ms per
request, executing the prepared statement 0.05 ms (measured, bench/fhir_api.py's data).

These lookups bypass the tenant-filtering managers: every caller puts the tenant condition in
its WHERE clause itself. On PostgreSQL, row-level security still applies underneath.
"""

from functools import cache

from django.db import connection


@cache
def _fields(model):
    return tuple(model._meta.concrete_fields)


@cache
def _converters(model, vendor):
    """Per field, the backend's and the field's from-db converters (what SQLCompiler applies)."""
    out = []
    for field in _fields(model):
        column = field.get_col(model._meta.db_table)
        converters = connection.ops.get_db_converters(column) + field.get_db_converters(connection)
        out.append((column, tuple(converters)))
    return tuple(out)


@cache
def _select_list(model, alias, vendor):
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(field.column)}" for field in _fields(model))


def columns(model, alias):
    """The SELECT list of every concrete column of `model`, qualified by `alias`."""
    return _select_list(model, alias, connection.vendor)


def table(model):
    return connection.ops.quote_name(model._meta.db_table)


def width(model):
    """How many values `columns(model, ...)` selects."""
    return len(_fields(model))


def instance(model, values):
    """A model instance from values selected by `columns()`; None for an outer join's empty side."""
    if values[0] is None:
        return None
    converted = []
    for value, (column, converters) in zip(values, _converters(model, connection.vendor), strict=True):
        for converter in converters:
            value = converter(value, column, connection)
        converted.append(value)
    return model.from_db(connection.alias, [field.attname for field in _fields(model)], converted)


@cache
def _prepared_cursor_class():
    from django.db.backends.postgresql.base import ServerBindingCursor

    class PreparedCursor(ServerBindingCursor):
        """Binds parameters server-side and prepares every statement on its first execution."""

        def execute(self, query, params=None, *, prepare=True, binary=None):
            return super().execute(query, params, prepare=prepare, binary=binary)

    return PreparedCursor


def _cursor():
    """
    A cursor for these lookups: prepared statements on PostgreSQL, unless the deployment
    turned them off (DB_PREPARED_STATEMENTS=false, for poolers that cannot keep them). The
    ORM's own cursors bind client-side and are never prepared. Where queries are logged
    (DEBUG, assertNumQueries) the plain cursor is used, because the log of a prepared
    statement would have no SQL text.
    """
    if (
        connection.vendor != "postgresql"
        or connection.settings_dict["OPTIONS"].get("prepare_threshold") is None
        or connection.queries_logged
    ):
        return connection.cursor()
    # What connection.cursor() does, with our cursor class.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    with connection.wrap_database_errors:
        return connection.make_cursor(_prepared_cursor_class()(connection.connection))


def fetch_one(sql, params):
    """The first row of a query, or None."""
    with _cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


@cache
def _get_sql(model, where, vendor):
    return f"SELECT {columns(model, table(model))} FROM {table(model)} WHERE {where}"  # noqa: S608


def get(model, where, params):
    """The first `model` row matching the SQL condition `where` (a constant string), or None."""
    row = fetch_one(_get_sql(model, where, connection.vendor), params)
    return None if row is None else instance(model, row)


@cache
def _tenant_sql(vendor):
    from tenants.models import Tenant
    from tenants.rls import TENANT_SETTING

    select = f"SELECT {columns(Tenant, 't')}"
    if vendor == "postgresql":
        # Names the tenant for row-level security in the same round trip (transaction-local).
        select += f", set_config('{TENANT_SETTING}', t.id::text, true)"
    return f"{select} FROM {table(Tenant)} t WHERE t.slug = %s"  # noqa: S608


def tenant_for_request(slug):
    """
    The Tenant with this slug, or None; on PostgreSQL it is also made the transaction's
    row-level-security tenant. Call inside the request's transaction (context.request_tenant_scope).
    """
    from tenants.models import Tenant

    row = fetch_one(_tenant_sql(connection.vendor), [slug])
    if row is None:
        return None
    return instance(Tenant, row[: width(Tenant)])
