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


def copy_load(tenant, prepared, when):
    """Write prepared rows with COPY; resource ids come from the table's sequence up front."""
    table = Resource._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, len(prepared)]
        )
        ids = [row[0] for row in cursor.fetchall()]
    raw = connection.connection
    with raw.cursor() as cur:
        with cur.copy(
            f"COPY {table} (id, tenant_id, resource_type, fhir_id, version_id, last_updated, deleted, content, "
            "patient_id) FROM STDIN"
        ) as copy:
            for pk, (resource_type, fhir_id, content, patient_id, _rows) in zip(ids, prepared, strict=True):
                copy.write_row((pk, tenant.pk, resource_type, fhir_id, 1, when, False, content, patient_id))
        with cur.copy(
            f"COPY {ResourceVersion._meta.db_table} (tenant_id, resource_id, resource_type, fhir_id, version_id, "
            "last_updated, deleted, method, content) FROM STDIN"
        ) as copy:
            for pk, (resource_type, fhir_id, content, _patient_id, _rows) in zip(ids, prepared, strict=True):
                copy.write_row((tenant.pk, pk, resource_type, fhir_id, 1, when, False, "POST", content))
        for kind, columns in _INDEX_COLUMNS.items():
            model = INDEX_MODELS[kind]
            column_sql = ", ".join(("tenant_id", "resource_id", "resource_type", "param", *columns))
            with cur.copy(f"COPY {model._meta.db_table} ({column_sql}) FROM STDIN") as copy:
                for pk, (resource_type, _fhir_id, _content, _patient_id, rows) in zip(ids, prepared, strict=True):
                    for values in rows[kind]:
                        copy.write_row((tenant.pk, pk, resource_type, values["param"], *(values[c] for c in columns)))


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
