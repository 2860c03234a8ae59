"""
The FHIR resource store: the service every other app calls to read and write resources.

All functions work on the active tenant (run them inside `tenants.context.tenant_scope`),
validate writes structurally with fhir.resources R4B, keep `meta.versionId` and
`meta.lastUpdated` right, record every version, and rebuild the resource's search-index rows
in the same transaction as the write (FHIR R4 http.html: create, update, delete, read, vread,
history).
"""

import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from sandbox.fhirstore import indexing, loading
from sandbox.fhirstore.errors import Conflict, Gone, InvalidResource, NotFound, PreconditionFailed, UnknownType
from sandbox.fhirstore.loading import instant, render  # noqa: F401 (store.instant is part of the store's API)
from sandbox.fhirstore.models import INDEX_MODELS, Resource, ResourceVersion
from sandbox.fhirstore.resources import structural_problems
from sandbox.fhirstore.search_parameters import is_served
from tenants import row_lookup
from tenants.context import require_tenant

ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


@dataclass
class StoredResource:
    """One version of a resource as stored: `content` is the exact JSON text served."""

    resource_type: str
    fhir_id: str
    version_id: int
    last_updated: datetime
    deleted: bool
    content: str

    @property
    def etag(self):
        return f'W/"{self.version_id}"'

    @property
    def reference(self):
        return f"{self.resource_type}/{self.fhir_id}"

    def as_dict(self):
        return json.loads(self.content)

    @classmethod
    def from_row(cls, row):
        return cls(row.resource_type, row.fhir_id, row.version_id, row.last_updated, row.deleted, row.content)


def local_bases(tenant=None):
    """This tenant's FHIR base URLs on both listeners; references to them count as local."""
    tenant = tenant or require_tenant()
    return (
        f"{settings.SANDBOX_PUBLIC_URL}/t/{tenant.slug}/fhir",
        f"{settings.SANDBOX_TLS_PUBLIC_URL}/t/{tenant.slug}/fhir",
    )


def check_type(resource_type):
    """Raise UnknownType (404) unless this server serves `resource_type`."""
    if not is_served(resource_type):
        raise UnknownType(f"This server does not serve the resource type '{resource_type}'.")


def parse_body(resource_type, body, *, fhir_id=None):
    """
    Parse and structurally validate a request body for `resource_type`.

    `body` is bytes, text or an already-parsed dict. With `fhir_id` (update), the body's id
    must be absent or equal to it. Raises InvalidResource listing every problem found.
    """
    if isinstance(body, bytes | str):
        try:
            resource = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidResource(f"The body is not valid JSON: {exc}") from None
    else:
        resource = body
    if not isinstance(resource, dict):
        raise InvalidResource("The body must be a JSON object holding one FHIR resource.")
    if resource.get("resourceType") != resource_type:
        raise InvalidResource(
            f"The body's resourceType is {resource.get('resourceType')!r}, but this URL is for {resource_type}.",
            expression="resourceType",
        )
    body_id = resource.get("id")
    if fhir_id is not None and body_id is not None and body_id != fhir_id:
        raise InvalidResource(
            f"The body's id '{body_id}' differs from the id in the URL '{fhir_id}'.", expression=f"{resource_type}.id"
        )
    if body_id is not None and (not isinstance(body_id, str) or not ID_RE.match(body_id)):
        raise InvalidResource("The id must be 1-64 letters, digits, '-' or '.'.", expression=f"{resource_type}.id")
    text = json.dumps(resource)
    if "\\u0000" in text:
        raise InvalidResource("Strings must not contain NUL (U+0000) characters.", expression=resource_type)
    problems = structural_problems(resource_type, text)
    if problems:
        raise InvalidResource(
            f"The {resource_type} is not valid FHIR R4 ({len(problems)} problem(s)).",
            issues=[("error", "structure", message, expression) for expression, message in problems],
        )
    return resource


def _reindex(row, resource):
    tenant = require_tenant()
    for model in INDEX_MODELS.values():
        model.objects.filter(resource=row).delete()
    if resource is None:
        return ""
    rows, patient_id = indexing.extract(resource, local_bases(tenant))
    for kind, values in rows.items():
        if values:
            model = INDEX_MODELS[kind]
            model.objects.bulk_create(
                [model(tenant=tenant, resource=row, resource_type=row.resource_type, **v) for v in values]
            )
    return patient_id


def _save_version(row, method):
    ResourceVersion.objects.create(
        resource=row,
        resource_type=row.resource_type,
        fhir_id=row.fhir_id,
        version_id=row.version_id,
        last_updated=row.last_updated,
        deleted=row.deleted,
        method=method,
        content="" if row.deleted else row.content,
    )


def _write(resource_type, fhir_id, resource, row):
    when = loading.now()
    version = 1 if row is None else row.version_id + 1
    if row is not None and when <= row.last_updated:
        when = row.last_updated + timedelta(milliseconds=1)
    content = render(resource, fhir_id, version, when)
    resource = json.loads(content)
    created = row is None or row.deleted
    try:
        with transaction.atomic():
            if row is None:
                row = Resource.objects.create(
                    resource_type=resource_type, fhir_id=fhir_id, version_id=version, last_updated=when, content=content
                )
            else:
                row.version_id, row.last_updated, row.content, row.deleted = version, when, content, False
            row.patient_id = _reindex(row, resource)
            row.save()
            _save_version(row, ResourceVersion.Method.CREATE if version == 1 else ResourceVersion.Method.UPDATE)
    except IntegrityError:
        raise Conflict(f"{resource_type}/{fhir_id} was written concurrently; retry the request.") from None
    return StoredResource.from_row(row), created


def _locked(resource_type, fhir_id):
    return Resource.objects.select_for_update().filter(resource_type=resource_type, fhir_id=fhir_id).first()


# The fields of a StoredResource, in its order.
READ_FIELDS = ("resource_type", "fhir_id", "version_id", "last_updated", "deleted", "content")
_READ_SQL = (
    f"SELECT {', '.join(READ_FIELDS)} FROM {Resource._meta.db_table} "  # noqa: S608
    "WHERE tenant_id = %s AND resource_type = %s AND fhir_id = %s"
)


def read(resource_type, fhir_id):
    """Current version of a resource; NotFound (404) or Gone (410, deleted)."""
    check_type(resource_type)
    # The hottest query of the API: SQL written once (tenants.row_lookup), not compiled per call.
    row = row_lookup.fetch_one(_READ_SQL, [require_tenant().pk, resource_type, fhir_id])
    return stored_from_row(resource_type, fhir_id, row)


def stored_from_row(resource_type, fhir_id, row):
    """The StoredResource of a row of READ_FIELDS (None: none found), or NotFound / Gone, as read() gives."""
    if row is None:
        raise NotFound(f"{resource_type}/{fhir_id} does not exist.")
    stored = StoredResource(*row_lookup.converted(Resource, READ_FIELDS, row))
    if stored.deleted:
        raise Gone(f"{resource_type}/{fhir_id} was deleted.", headers={"ETag": stored.etag})
    return stored


def vread(resource_type, fhir_id, version_id):
    """One version of a resource; NotFound (404) or Gone (410 for a deletion version)."""
    check_type(resource_type)
    try:
        version_number = int(version_id)
    except (TypeError, ValueError):
        raise NotFound(f"{resource_type}/{fhir_id} has no version '{version_id}'.") from None
    row = ResourceVersion.objects.filter(
        resource_type=resource_type, fhir_id=fhir_id, version_id=version_number
    ).first()
    if row is None:
        raise NotFound(f"{resource_type}/{fhir_id} has no version '{version_id}'.")
    if row.deleted:
        raise Gone(f"Version {version_id} of {resource_type}/{fhir_id} is a deletion.")
    return StoredResource.from_row(row)


def create(resource_type, body, *, if_none_exist=None, fhir_id=None):
    """
    Create a resource with a server-assigned id (FHIR create); returns (stored, created).

    `if_none_exist` is a search query string (conditional create): one match returns it with
    created=False, several raise PreconditionFailed (412). `fhir_id` forces an id (used by
    transactions and loaders); the body's own id is ignored, as FHIR create requires.
    """
    check_type(resource_type)
    resource = parse_body(resource_type, body)
    with transaction.atomic():
        if if_none_exist:
            from sandbox.fhirstore import search

            matches = search.match_ids(resource_type, if_none_exist, limit=2)
            if len(matches) > 1:
                raise PreconditionFailed(f"If-None-Exist '{if_none_exist}' matches more than one {resource_type}.")
            if matches:
                return read(resource_type, matches[0]), False
        return _write(resource_type, fhir_id or str(uuid.uuid4()), resource, None)


def update(resource_type, fhir_id, body, *, if_match=None):
    """
    Create or replace a resource at a client-chosen id (FHIR update); returns (stored, created).

    `if_match` is an ETag (`W/"3"`) or bare version; a different current version raises
    PreconditionFailed (412).
    """
    check_type(resource_type)
    if not ID_RE.match(fhir_id or ""):
        raise InvalidResource("The id must be 1-64 letters, digits, '-' or '.'.", expression=f"{resource_type}.id")
    resource = parse_body(resource_type, body, fhir_id=fhir_id)
    with transaction.atomic():
        row = _locked(resource_type, fhir_id)
        if if_match is not None:
            wanted = if_match.strip().removeprefix("W/").strip('"')
            if row is None or row.deleted or str(row.version_id) != wanted:
                current = "none" if row is None or row.deleted else row.version_id
                raise PreconditionFailed(
                    f"If-Match names version {wanted} but the current version of "
                    f"{resource_type}/{fhir_id} is {current}."
                )
        return _write(resource_type, fhir_id, resource, row)


def delete(resource_type, fhir_id):
    """
    Delete a resource (FHIR delete): a new, deleted version; history keeps the old ones.

    Returns the deletion's StoredResource, or None when it was already deleted. NotFound
    (404) when the id never existed.
    """
    check_type(resource_type)
    with transaction.atomic():
        row = _locked(resource_type, fhir_id)
        if row is None:
            raise NotFound(f"{resource_type}/{fhir_id} does not exist.")
        if row.deleted:
            return None
        when = max(loading.now(), row.last_updated + timedelta(milliseconds=1))
        row.version_id, row.last_updated, row.deleted, row.patient_id = row.version_id + 1, when, True, ""
        _reindex(row, None)
        row.save()
        _save_version(row, ResourceVersion.Method.DELETE)
    return StoredResource.from_row(row)


def history(resource_type=None, fhir_id=None, *, since=None, before_pk=None, count=50):
    """
    Versions, newest first (FHIR history: instance, type or system level).

    Returns (versions, next_before_pk): pass `next_before_pk` back as `before_pk` for the next
    page; keyset paging on the version row id so new writes never shift a page.
    """
    if resource_type:
        check_type(resource_type)
    qs = ResourceVersion.objects.all()
    if resource_type:
        qs = qs.filter(resource_type=resource_type)
    if fhir_id:
        qs = qs.filter(fhir_id=fhir_id)
        if resource_type and not qs.exists():
            raise NotFound(f"{resource_type}/{fhir_id} does not exist.")
    if since is not None:
        qs = qs.filter(last_updated__gte=since)
    if before_pk is not None:
        qs = qs.filter(pk__lt=before_pk)
    rows = list(qs.order_by("-pk")[: count + 1])
    more = len(rows) > count
    rows = rows[:count]
    return rows, (rows[-1].pk if more and rows else None)


def bulk_load(resources, *, validate=True):
    """
    Insert many new resources at once, with their first version and all index rows.

    For seeding and benchmarks: on PostgreSQL rows go through COPY FROM STDIN, on SQLite
    through bulk_create. `resources` are dicts; missing ids are assigned. Ids must not exist
    yet (IntegrityError otherwise). Returns the number loaded. Run inside tenant_scope, in
    chunks of a few thousand so each transaction stays short.
    """
    tenant = require_tenant()
    prepared = []
    when = loading.now()
    bases = local_bases(tenant)
    for resource in resources:
        resource_type = resource.get("resourceType")
        check_type(resource_type)
        if validate:
            parse_body(resource_type, resource)
        prepared.append(loading.prepare(resource, when, bases))
    return load_prepared(prepared, when)


def load_prepared(prepared, when):
    """
    Insert rows made by loading.prepare (all stamped `when`) in one transaction, like
    bulk_load; for callers that prepare elsewhere, such as a seeding worker process.
    Returns the number loaded. Run inside tenant_scope.
    """
    from sandbox.fhirstore import bulk

    tenant = require_tenant()
    if not prepared:
        return 0
    with transaction.atomic():
        if connection.vendor == "postgresql":
            bulk.copy_load(tenant, prepared, when)
        else:
            bulk.sqlite_load(tenant, prepared, when)
    return len(prepared)
