"""
Fast insertion of many new resources (seeding, benchmarks): PostgreSQL COPY FROM STDIN,
SQLite bulk_create. Called through `store.bulk_load`, which prepares the rows.
"""

from django.db import connection

from sandbox.fhirstore.models import INDEX_MODELS, Resource, ResourceVersion

_INDEX_COLUMNS = {
    "token": ("system", "code", "text"),
    "string": ("normalized", "exact"),
    "reference": ("target_type", "target_id", "url"),
    "date": ("low", "high"),
    "quantity": ("value", "system", "code"),
    "uri": ("uri",),
}


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
    # The raw psycopg cursor bypasses Django, so translate its errors (IntegrityError, ...).
    with connection.wrap_database_errors, connection.connection.cursor() as cur:
        _copy_rows(
            cur,
            table,
            (
                "id",
                "tenant_id",
                "resource_type",
                "fhir_id",
                "version_id",
                "last_updated",
                "deleted",
                "content",
                "patient_id",
            ),
            (
                (pk, tenant.pk, rt, fid, 1, when, False, content, patient_id)
                for pk, (rt, fid, content, patient_id, _rows) in items
            ),
        )
        _copy_rows(
            cur,
            ResourceVersion._meta.db_table,
            (
                "tenant_id",
                "resource_id",
                "resource_type",
                "fhir_id",
                "version_id",
                "last_updated",
                "deleted",
                "method",
                "content",
            ),
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


def orm_load(tenant, prepared, when):
    """The portable path (SQLite): bulk_create, which returns primary keys there."""
    rows = Resource.objects.bulk_create(
        [
            Resource(
                tenant=tenant,
                resource_type=resource_type,
                fhir_id=fhir_id,
                version_id=1,
                last_updated=when,
                content=content,
                patient_id=patient_id,
            )
            for resource_type, fhir_id, content, patient_id, _rows in prepared
        ],
        batch_size=500,
    )
    ResourceVersion.objects.bulk_create(
        [
            ResourceVersion(
                tenant=tenant,
                resource=row,
                resource_type=row.resource_type,
                fhir_id=row.fhir_id,
                version_id=1,
                last_updated=when,
                method="POST",
                content=row.content,
            )
            for row in rows
        ],
        batch_size=500,
    )
    for kind, model in INDEX_MODELS.items():
        model.objects.bulk_create(
            [
                model(tenant=tenant, resource=row, resource_type=row.resource_type, **values)
                for row, item in zip(rows, prepared, strict=True)
                for values in item[4][kind]
            ],
            batch_size=500,
        )
