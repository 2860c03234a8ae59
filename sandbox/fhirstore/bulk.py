"""
Fast insertion of many new resources (seeding, benchmarks): PostgreSQL COPY FROM STDIN,
SQLite executemany. Called through `store.load_prepared`.
"""

from django.db import connection

from sandbox.fhirstore.models import INDEX_MODELS, Resource, ResourceVersion
from tenants import row_lookup

_INDEX_COLUMNS = {
    "token": ("system", "code", "text"),
    "string": ("normalized", "exact"),
    "reference": ("target_type", "target_id", "url"),
    "date": ("low", "high"),
    "quantity": ("value", "system", "code"),
    "uri": ("uri",),
}
_RESOURCE_COLUMNS = (
    "tenant_id",
    "resource_type",
    "fhir_id",
    "version_id",
    "last_updated",
    "deleted",
    "content",
    "patient_id",
)
_VERSION_COLUMNS = (
    "tenant_id",
    "resource_id",
    "resource_type",
    "fhir_id",
    "version_id",
    "last_updated",
    "deleted",
    "method",
    "content",
)


def _copy_rows(cur, table, columns, rows):
    """
    COPY rows into `table` through a temporary table: PostgreSQL refuses COPY FROM into a
    table under row-level security, but INSERT ... SELECT is checked by the policy and stays
    set-based.
    """
    # Table and column names come from model metadata, never from input.
    staging = f"_load_{table}"
    column_sql = ", ".join(columns)
    cur.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {staging} ON COMMIT DROP AS SELECT {column_sql} FROM {table} WITH NO DATA"  # noqa: S608
    )
    with cur.copy(f"COPY {staging} ({column_sql}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    cur.execute(f"INSERT INTO {table} ({column_sql}) SELECT {column_sql} FROM {staging}")  # noqa: S608
    cur.execute(f"TRUNCATE {staging}")


def copy_load(tenant, prepared, when):
    """Write prepared rows with COPY; resource ids come from the table's sequence up front."""
    table = Resource._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, len(prepared)]
        )
        ids = [row[0] for row in cursor.fetchall()]
    items = list(zip(ids, prepared, strict=True))
    # The raw psycopg cursor bypasses Django: a request's transaction begins first (naming its
    # tenant), and its errors are translated (IntegrityError, ...).
    row_lookup.begin()
    with connection.wrap_database_errors, connection.connection.cursor() as cur:
        _copy_rows(
            cur,
            table,
            ("id", *_RESOURCE_COLUMNS),
            (
                (pk, tenant.pk, rt, fid, 1, when, False, content, patient_id)
                for pk, (rt, fid, content, patient_id, _rows) in items
            ),
        )
        _copy_rows(
            cur,
            ResourceVersion._meta.db_table,
            _VERSION_COLUMNS,
            ((tenant.pk, pk, rt, fid, 1, when, False, "POST", content) for pk, (rt, fid, content, _p, _r) in items),
        )
        for kind, columns in _INDEX_COLUMNS.items():
            rows = [
                (tenant.pk, pk, rt, values["param"], *(values[c] for c in columns))
                for pk, (rt, _fid, _content, _patient_id, index_rows) in items
                for values in index_rows[kind]
            ]
            if rows:
                _copy_rows(
                    cur,
                    INDEX_MODELS[kind]._meta.db_table,
                    ("tenant_id", "resource_id", "resource_type", "param", *columns),
                    rows,
                )


def _insert_sql(table, columns):
    # Table and column names come from model metadata, never from input.
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"  # noqa: S608


def sqlite_load(tenant, prepared, when):
    """
    The SQLite path: executemany of plain tuples. Building a model instance per row (bulk_create)
    cost several times what SQLite spends inserting it. Values are converted as the ORM would
    store them, so queries compare them alike.
    """
    ops = connection.ops
    stamp = ops.adapt_datetimefield_value(when)
    table = Resource._meta.db_table
    with connection.cursor() as cursor:
        rows = [(tenant.pk, rt, fid, 1, stamp, False, content, pid) for rt, fid, content, pid, _r in prepared]
        cursor.execute(_insert_sql(table, _RESOURCE_COLUMNS), rows[0])
        # The first insert holds SQLite's write lock until this transaction ends, so nobody else
        # can take the ids that follow it.
        first = cursor.lastrowid
        ids = range(first, first + len(prepared))
        cursor.executemany(
            _insert_sql(table, ("id", *_RESOURCE_COLUMNS)),
            [(pk, *row) for pk, row in zip(ids[1:], rows[1:], strict=True)],
        )
        cursor.executemany(
            _insert_sql(ResourceVersion._meta.db_table, _VERSION_COLUMNS),
            [
                (tenant.pk, pk, rt, fid, 1, stamp, False, "POST", content)
                for pk, (rt, fid, content, _p, _r) in zip(ids, prepared, strict=True)
            ],
        )
        for kind, columns in _INDEX_COLUMNS.items():
            model = INDEX_MODELS[kind]
            fields = [model._meta.get_field(column) for column in columns]
            # Dates and decimals are stored as text on SQLite, in the ORM's format.
            converted = [
                (index, field) for index, field in enumerate(fields) if field.get_internal_type() != "CharField"
            ]
            rows = []
            for pk, (rt, _fid, _content, _patient_id, index_rows) in zip(ids, prepared, strict=True):
                for values in index_rows[kind]:
                    row = [tenant.pk, pk, rt, values["param"], *(values[c] for c in columns)]
                    for index, field in converted:
                        row[4 + index] = field.get_db_prep_save(row[4 + index], connection)
                    rows.append(row)
            if rows:
                cursor.executemany(
                    _insert_sql(model._meta.db_table, ("tenant_id", "resource_id", "resource_type", "param", *columns)),
                    rows,
                )
