"""
The Bulk Data export engine (Bulk Data Access v2.0.0 with the cheap STU3 additions;
spec/bulk-data-and-attribution.md §1-§4, DESIGN.md §7, tech-notes §3 and §6).

Service API, for the $export views here and for the operations built on this engine
(`Group/[id]/$davinci-data-export` for payer-to-payer and provider access, formulary
`InsurancePlan/$export`):

    params, issues = kickoff.parse(kickoff.read_pairs(request, body), level="group", lenient=...)
    job = start_export(
        tenant=request.tenant, application=token.application, level="group", params=params,
        request_url=request.build_absolute_uri(), group_id="g1", issues=issues, lenient=...,
        patient_ids=attributed_ids,          # restrict the member set (None: no restriction)
        types_allowed=caller.readable_types(tenant),   # None: every type
        member_filter="sandbox.attribution.access.drop_opted_out",  # re-applied when the job runs
        operation="davinci-data-export",
    )
    return kickoff_response(request, job)   # 202 + absolute Content-Location

- `level` is "system" (every resource of the allowed types), "patient" (the Patient
  compartment of every patient, or of `patient_ids`) or "group" (of the Group's members,
  intersected with `patient_ids`). Patient and group exports add the non-compartment
  resources the exported compartment rows reference (REFERENCED_TYPES) so the download is
  self-contained.
- `member_filter` is a dotted path to `f(tenant, job, patient_ids) -> patient_ids`, called in
  the worker when the job starts (patient_ids is None for "every patient"), for policies that
  must hold at run time, such as member opt-out.
- A formulary export is a system-level job with `types_allowed` set to the formulary types
  and a `_typeFilter` per plan (`InsurancePlan?_id=...`).

`run_export(job_id)` does the work in a Celery worker (tasks.run_export_task); status,
manifest, cancel and pruning are the other functions here. Output rows are streamed as the
stored JSON text: PostgreSQL `COPY (SELECT ...) TO STDOUT` in CSV mode with \\x01 as quote and
\\x02 as delimiter (bytes that never occur in stored JSON, so each row comes out byte for byte),
SQLite through a server-side iterator. Rows are read in primary-key ranges, one short tenant
transaction each; no ORDER BY. Only `_elements` parses JSON.

Semantics worth knowing (Bulk Data §1.7 "what to document"):
- transactionTime is the kick-off time; rows changed after it are left for the next `_since`.
- `_since` keeps rows changed after it, `_until` rows changed before it. In a plain
  Group/[id]/$export (start_export(new_member_history=True)), members who joined after
  `_since` (absent from the Group's version current then, or with a member.period starting
  later) get their whole history. Referenced resources are included whatever their date.
- Files hold at most EXPORT_FILE_MAX_LINES lines and EXPORT_FILE_MAX_BYTES bytes.
- `deleted` (only with `_since`) lists transaction Bundles of DELETE entries, at most
  DELETED_PER_BUNDLE per line.
- `organizeOutputBy=Patient` (STU3, Patient and Group levels): files `output.<n>.ndjson` of
  blocks (header Parameters, Patient, its compartment); a block never spans two files, so no
  `continuesInFile`. Referenced non-compartment resources are not added in this mode.
"""

import json
import logging
import os
import socket
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import cache

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Min, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.module_loading import import_string

from sandbox.bulk.models import ExportFile, ExportJob, ExportPolicy
from sandbox.bulk.storage import get_storage, work_dir
from sandbox.bulk.writer import PartWriter
from sandbox.fhirstore import indexing, store
from sandbox.fhirstore.errors import FhirError, NotFound
from sandbox.fhirstore.models import Resource, ResourceVersion, SearchReference
from sandbox.fhirstore.outcome import fhir_response, operation_outcome
from sandbox.fhirstore.search_parameters import COMPARTMENT, SERVED_TYPES, is_served
from tenants import rls, row_lookup
from tenants.context import require_tenant, tenant_scope

logger = logging.getLogger(__name__)

# Non-compartment types a patient-level export adds when its rows reference them (§1.1).
REFERENCED_TYPES = ("Organization", "Practitioner", "PractitionerRole", "Location", "Medication")
PATIENT_LEVEL_TYPES = frozenset({"Patient", *COMPARTMENT, *REFERENCED_TYPES})
DELETED_PER_BUNDLE = 500
SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}
COPY_OPTIONS = "WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')"


class ExportError(FhirError):
    status, code = 400, "invalid"


class Stop(Exception):
    """The job was cancelled or another worker took it over; stop writing."""

    def __init__(self, cancelled):
        super().__init__("cancelled" if cancelled else "claimed by another worker")
        self.cancelled = cancelled


def _ms(when):
    return when.replace(microsecond=when.microsecond - when.microsecond % 1000)


# --- kick-off ---------------------------------------------------------------------------


def _resolve_types(level, params, types_allowed, issues, lenient):
    """The types to export (None: every type), after scopes and level (§1.3 _type, §1.5)."""
    readable = None if types_allowed is None else set(types_allowed)
    level_types = None if level == "system" else PATIENT_LEVEL_TYPES
    requested = params.get("_type")
    if requested is None:
        if readable is None and level_types is None:
            return None
        pool = set(SERVED_TYPES) if readable is None else readable
        if level_types is not None:
            pool &= level_types
        return sorted(t for t in pool if is_served(t))
    kept = []
    for name in requested:
        problem = None
        if readable is not None and name not in readable:
            problem = f"The access token's scopes do not allow reading {name}."
        elif level_types is not None and name not in level_types:
            problem = f"{name} is neither in the Patient compartment nor referenced from it."
        if problem is None:
            kept.append(name)
        elif lenient:
            issues.append(["warning", "not-supported", f"Ignored _type {name}: {problem}", "_type"])
        else:
            status = 403 if readable is not None and name not in readable else 400
            code = "forbidden" if status == 403 else "not-supported"
            raise ExportError(problem + " Send Prefer: handling=lenient to have it ignored.", status=status, code=code)
    return kept


def group_members(group_id, group=None):
    """Patient ids of a Group's active members (Group.member.entity, inactive ones skipped)."""
    group = group if group is not None else store.read("Group", group_id).as_dict()
    members = []
    bases = store.local_bases()
    for member in group.get("member") or []:
        if not isinstance(member, dict) or member.get("inactive") is True:
            continue
        parsed = indexing.parse_reference((member.get("entity") or {}).get("reference"), bases)
        if parsed and parsed[0] == "Patient" and parsed[1] not in members:
            members.append(parsed[1])
    return members


def start_export(
    *,
    tenant,
    application,
    level,
    params,
    request_url,
    group_id=None,
    patient_ids=None,
    types_allowed=None,
    member_filter=None,
    lenient=False,
    issues=(),
    operation="export",
    new_member_history=False,
):
    """
    Create an export job and queue it (Bulk Data §1 kick-off); returns the ExportJob.

    Run inside the tenant's scope (a request under /t/<slug>/ is). Raises FhirError (400,
    403, 404) for what cannot be exported; with `lenient`, ignores what it can and records
    an issue for the manifest's error file instead (§1.4). `new_member_history`: with
    `_since`, members who joined the group later get their whole history (plain
    Group/[id]/$export does this; a changes-only delta operation leaves it off). See the
    module docstring.
    """
    from sandbox.bulk.tasks import run_export_task

    if level not in ExportJob.Level.values:
        raise ValueError(f"Unknown export level {level!r}")
    issues = [list(i) for i in issues]
    params = dict(params)
    if level == "group":
        group_members(group_id)  # NotFound (404) / Gone (410) for a missing group
    params["types"] = _resolve_types(level, params, types_allowed, issues, lenient)

    requested = params.get("patient")
    if requested:
        allowed = set(patient_ids) if patient_ids is not None else None
        if level == "group":
            members = set(group_members(group_id))
            allowed = members if allowed is None else allowed & members
        existing = set(
            Resource.objects.filter(resource_type="Patient", fhir_id__in=requested, deleted=False).values_list(
                "fhir_id", flat=True
            )
        )
        kept = []
        for pid in requested:
            if pid in existing and (allowed is None or pid in allowed):
                kept.append(pid)
                continue
            problem = (
                f"Patient/{pid} does not exist."
                if pid not in existing
                else f"Patient/{pid} is not a member of the exported group."
            )
            if not lenient:
                raise ExportError(problem, expression="patient")
            issues.append(["warning", "not-found", f"Ignored patient: {problem}", "patient"])
        params["patient"] = kept

    now = timezone.now()
    job = ExportJob.objects.create(
        tenant=tenant,
        level=level,
        operation=operation,
        group_id=group_id or "",
        application=application,
        client_name=(getattr(application, "name", "") or getattr(application, "client_id", ""))[:255],
        request_url=request_url,
        params={
            **params,
            "restrict_patients": list(patient_ids) if patient_ids is not None else None,
            "member_filter": member_filter,
            "new_member_history": bool(new_member_history),
        },
        issues=issues,
        transaction_time=_ms(now),
        expires_at=now + timedelta(minutes=ExportPolicy.expiry_minutes_for(tenant)),
    )
    run_export_task.delay_on_commit(tenant.pk, job.pk)
    return job


def kickoff_response(request, job):
    """202 Accepted with the absolute status URL in Content-Location (Bulk Data §1.5)."""
    url = request.build_absolute_uri(reverse("bulk-status", args=[job.uuid]))
    body = operation_outcome(
        [("information", "informational", f"Export {job.uuid} accepted; poll {url} for its status.", None)]
    )
    return fhir_response(body, status=202, headers={"Content-Location": url})


# --- which rows -------------------------------------------------------------------------


def _members(job):
    """The patient ids whose compartments a patient/group job exports (None: every patient)."""
    params = job.params
    members = None
    if job.level == "group":
        members = group_members(job.group_id)
    if params.get("restrict_patients") is not None:
        restrict = set(params["restrict_patients"])
        members = [p for p in members if p in restrict] if members is not None else sorted(restrict)
    if params.get("patient"):
        wanted = set(params["patient"])
        members = [p for p in members if p in wanted] if members is not None else list(params["patient"])
    if params.get("member_filter"):
        members = import_string(params["member_filter"])(require_tenant(), job, members)
        members = list(members) if members is not None else None
    return members


def joined_since(job, members):
    """
    Group members who joined after _since: not in the Group's version current at _since (or
    the group did not exist then), or whose member.period starts after it. Their whole
    history is exported, as Bulk Data §1.3 allows and Provider Access needs.
    """
    since = datetime.fromisoformat(job.params["_since"])
    then = (
        ResourceVersion.objects.filter(resource_type="Group", fhir_id=job.group_id, last_updated__lte=since)
        .order_by("-version_id")
        .only("content", "deleted")
        .first()
    )
    before = set() if then is None or then.deleted else set(group_members(job.group_id, json.loads(then.content)))
    current = store.read("Group", job.group_id).as_dict()
    for member in current.get("member") or []:
        start = ((member or {}).get("period") or {}).get("start") if isinstance(member, dict) else None
        reference = ((member or {}).get("entity") or {}).get("reference", "")
        if start and reference.startswith("Patient/"):
            try:
                if indexing.date_range(start)[0] > since:
                    before.discard(reference.removeprefix("Patient/"))
            except ValueError:
                continue
    return [m for m in members if m not in before]


def _time_filter(qs, job, since=True):
    qs = qs.filter(last_updated__lte=job.transaction_time)
    if since and job.params.get("_since"):
        qs = qs.filter(last_updated__gt=datetime.fromisoformat(job.params["_since"]))
    if job.params.get("_until"):
        qs = qs.filter(last_updated__lt=datetime.fromisoformat(job.params["_until"]))
    return qs


def _type_filter_q(types, type_filters):
    """Types without a _typeFilter pass; filtered types must match one of their queries (OR)."""
    from sandbox.fhirstore import search

    filtered = {t: qs for t, qs in type_filters.items() if types is None or t in types}
    if not filtered:
        return Q(resource_type__in=types) if types is not None else Q()
    q = Q()
    for resource_type, queries in filtered.items():
        match = Q()
        for query in queries:
            match |= Q(pk__in=search.filter_queryset(resource_type, query, strict=True)[0].values("pk"))
        q |= Q(resource_type=resource_type) & match
    if types is None:
        return q | ~Q(resource_type__in=list(filtered))
    rest = [t for t in types if t not in filtered]
    return q | Q(resource_type__in=rest) if rest else q


def _compartment(job, members):
    new = set(getattr(job, "new_members", None) or ())
    if new and members is not None:
        # Members who joined after _since: their whole history; the others: changes only.
        since = datetime.fromisoformat(job.params["_since"])
        old = [m for m in members if m not in new]
        qs = _time_filter(Resource.objects.filter(deleted=False), job, since=False)
        return qs.filter(
            Q(patient_id__in=old, last_updated__gt=since) | Q(patient_id__in=[m for m in members if m in new])
        )
    qs = _time_filter(Resource.objects.filter(deleted=False), job)
    if job.level == "system":
        return qs
    return qs.exclude(patient_id="") if members is None else qs.filter(patient_id__in=members)


def rows_queryset(job, members):
    """Phase 1: the compartment (patient/group) or everything (system), by type and filter."""
    types = job.params.get("types")
    if job.level != "system" and types is not None:
        types = [t for t in types if t not in REFERENCED_TYPES]
    return _compartment(job, members).filter(_type_filter_q(types, job.params.get("_typeFilter") or {}))


def referenced_queryset(job, members):
    """Phase 2 of patient/group jobs: non-compartment resources the compartment references."""
    types = job.params.get("types")
    wanted = [t for t in REFERENCED_TYPES if is_served(t) and (types is None or t in types)]
    if job.level == "system" or not wanted:
        return None
    sources = _compartment(job, members).values("pk")
    q = Q()
    for resource_type in wanted:
        targets = SearchReference.objects.filter(target_type=resource_type, resource_id__in=sources).values("target_id")
        q |= Q(resource_type=resource_type, fhir_id__in=targets)
    qs = Resource.objects.filter(deleted=False, last_updated__lte=job.transaction_time).filter(q)
    return qs.filter(_type_filter_q(wanted, job.params.get("_typeFilter") or {}))


# --- streaming --------------------------------------------------------------------------


@cache
def mandatory_elements(resource_type):
    """Top-level elements with minimum cardinality 1 in R4, kept by _elements (§1.3)."""
    from sandbox.fhirstore.resources import fhir_model

    model = fhir_model(resource_type)
    names = {"resourceType", "id", "meta"}
    if model is None:
        return frozenset(names)
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra or {}
        if extra.get("element_required") or extra.get("one_of_many_required") or info.is_required():
            names.add(info.alias or name)
    return frozenset(names)


def _elements_map(elements):
    """{type or "*": set of element names} from the _elements parameter."""
    out = {}
    for item in elements:
        resource_type, _, element = item.rpartition(".")
        out.setdefault(resource_type or "*", set()).add(element.removesuffix("[x]"))
    return out


def _trim(line, keep):
    """Apply _elements to one JSON line: keep the asked and mandatory elements, tag SUBSETTED."""
    resource = json.loads(line)
    mandatory = mandatory_elements(resource.get("resourceType", ""))
    out = {}
    for key, value in resource.items():
        base = key.lstrip("_")
        # A choice element is asked for by its stem: "value" keeps valueQuantity.
        choice = any(base.startswith(k) and base[len(k) : len(k) + 1].isupper() for k in keep)
        if key in mandatory or base in keep or choice:
            out[key] = value
    meta = dict(out.get("meta") or {})
    meta["tag"] = [*(meta.get("tag") or []), SUBSETTED]
    out["meta"] = meta
    return json.dumps(out, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def stream_rows(qs, writer, elements=None):
    """
    Write every row of `qs` (Resource rows) to `writer`, one line per resource, as stored.

    PostgreSQL: one COPY ... TO STDOUT in CSV mode whose quote and delimiter bytes never
    occur in JSON text, so each CopyData row is `type \\x02 json \\n` byte for byte
    (tech-notes §6). SQLite: a server-side iterator. Returns the number of rows written.
    """
    elements = elements or {}
    common = elements.get("*")
    count = 0
    if connection.vendor == "postgresql":
        sql, params = qs.values_list("resource_type", "content").query.sql_with_params()
        names = {}
        # psycopg's own cursor: a request's transaction begins first, naming its tenant.
        row_lookup.begin()
        with connection.wrap_database_errors, connection.connection.cursor() as cursor:
            with cursor.copy(f"COPY ({sql}) TO STDOUT {COPY_OPTIONS}", params) as copy:
                if not elements:
                    return writer.write_rows(copy)
                for row in copy:
                    raw_type, _, line = bytes(row).partition(b"\x02")
                    resource_type = names.get(raw_type)
                    if resource_type is None:
                        resource_type = names[raw_type] = raw_type.decode()
                    if elements:
                        keep = elements.get(resource_type) or common
                        if keep:
                            line = _trim(line, keep)
                    writer.write(resource_type, line)
                    count += 1
        return count
    for resource_type, content in qs.values_list("resource_type", "content").iterator(chunk_size=2000):
        line = content.encode() + b"\n"
        if elements:
            keep = elements.get(resource_type) or common
            if keep:
                line = _trim(line, keep)
        writer.write(resource_type, line)
        count += 1
    return count


ORGANIZED_BATCH = 500


def _member_batch(state):
    """The next patients of an organizeOutputBy job: from the member list, or for "every
    patient" the next Patient rows by primary key (a short index walk, not the export stream)."""
    if state["members"] is not None:
        batch = state["members"][state["next"] : state["next"] + ORGANIZED_BATCH]
        return batch, state["next"] + len(batch)
    rows = list(
        Resource.objects.filter(resource_type="Patient", deleted=False, pk__gte=state["next"])
        .order_by("pk")
        .values_list("pk", "fhir_id")[:ORGANIZED_BATCH]
    )
    return [fhir_id for _pk, fhir_id in rows], (rows[-1][0] + 1 if rows else state["next"])


def _compartment_lines(qs):
    """(patient id, type, JSON line) of compartment rows, as stored (COPY on PostgreSQL)."""
    if connection.vendor == "postgresql":
        sql, params = qs.values_list("patient_id", "resource_type", "content").query.sql_with_params()
        # psycopg's own cursor: a request's transaction begins first, naming its tenant.
        row_lookup.begin()
        with connection.wrap_database_errors, connection.connection.cursor() as cursor:
            with cursor.copy(f"COPY ({sql}) TO STDOUT {COPY_OPTIONS}", params) as copy:
                for row in copy:
                    patient_id, resource_type, line = bytes(row).split(b"\x02", 2)
                    yield patient_id.decode(), resource_type.decode(), line
        return
    for patient_id, resource_type, content in qs.values_list("patient_id", "resource_type", "content").iterator(
        chunk_size=2000
    ):
        yield patient_id, resource_type, content.encode() + b"\n"


def write_blocks(job, batch, writer, elements):
    """
    organizeOutputBy=Patient (Bulk Data STU3): per patient, a header Parameters naming it,
    then its Patient resource, then the rest of its compartment; a block never spans files.
    Rows are grouped in memory one batch of patients at a time, so nothing is sorted.
    """
    types = job.params.get("types")
    if types is not None:
        types = [t for t in types if t not in REFERENCED_TYPES]
    qs = _compartment(job, batch).filter(_type_filter_q(types, job.params.get("_typeFilter") or {}))
    common = elements.get("*")
    blocks = {}
    for patient_id, resource_type, line in _compartment_lines(qs):
        keep = elements.get(resource_type) or common
        if keep:
            line = _trim(line, keep)
        first, rest = blocks.setdefault(patient_id, ([], []))
        (first if resource_type == "Patient" else rest).append(line)
    for patient_id in batch:
        if patient_id not in blocks:
            continue
        header = {
            "resourceType": "Parameters",
            "parameter": [{"name": "header", "valueReference": {"reference": f"Patient/{patient_id}"}}],
        }
        first, rest = blocks[patient_id]
        writer.write_block("output", [json.dumps(header, separators=(",", ":")).encode() + b"\n", *first, *rest])


def _deleted_rows(job, members):
    """(type, id) of resources deleted after _since that the export would have covered (§2.7)."""
    types = job.params.get("types")
    qs = Resource.objects.filter(deleted=True, last_updated__lte=job.transaction_time)
    qs = qs.filter(last_updated__gt=datetime.fromisoformat(job.params["_since"]))
    if job.params.get("_until"):
        qs = qs.filter(last_updated__lt=datetime.fromisoformat(job.params["_until"]))
    if types is not None:
        qs = qs.filter(resource_type__in=types)
    if job.level == "system":
        yield from qs.values_list("resource_type", "fhir_id").iterator()
        return
    wanted = None if members is None else set(members)
    bases = store.local_bases()
    for row in qs.iterator():
        # A deleted row no longer names its patient: read it from the last live version.
        last = (
            ResourceVersion.objects.filter(resource=row, deleted=False).order_by("-version_id").only("content").first()
        )
        if last is None:
            continue
        _rows, patient_id = indexing.extract(json.loads(last.content), bases)
        if patient_id and (wanted is None or patient_id in wanted):
            yield row.resource_type, row.fhir_id


def _write_deleted(job, members, writer):
    entries = []

    def flush():
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
        writer.write("Bundle", json.dumps(bundle, separators=(",", ":")).encode() + b"\n", kind="deleted")

    for resource_type, fhir_id in _deleted_rows(job, members):
        entries.append({"request": {"method": "DELETE", "url": f"{resource_type}/{fhir_id}"}})
        if len(entries) == DELETED_PER_BUNDLE:
            flush()
            entries = []
    if entries:
        flush()


# --- the worker -------------------------------------------------------------------------


def _worker_name():
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


def claim(job_id):
    """
    Take a job with one conditional UPDATE: queued, or running with a stale heartbeat (its
    worker died). Returns the job with its new attempt number, or None.
    """
    now = timezone.now()
    with tenant_scope(require_tenant()):
        job = ExportJob.objects.filter(pk=job_id).only("attempts", "started_at").first()
        if job is None:
            return None
        claimed = (
            ExportJob.objects.claimable(now)
            .filter(pk=job_id, attempts=job.attempts, expires_at__gt=now)
            .update(
                status=ExportJob.Status.RUNNING,
                attempts=job.attempts + 1,
                claimed_by=_worker_name(),
                heartbeat_at=now,
                started_at=job.started_at or now,
                # A job that waited long in the queue still gets its whole lifetime to run.
                expires_at=now + timedelta(minutes=ExportPolicy.expiry_minutes_for()),
            )
        )
        if not claimed:
            # Nothing got updated: another worker has it, or it is finished, cancelled or expired.
            return None
        return ExportJob.objects.get(pk=job_id)


@contextmanager
def _reading(tenant):
    """
    Where a chunk is read. PostgreSQL: a tenant_scope, for row-level security. SQLite has no
    RLS, and a tenant_scope there takes the writer lock (transaction_mode IMMEDIATE) for the
    whole chunk, which would starve every web request while an export runs; WAL readers in
    autocommit block nobody. The tenant stays active either way (the task activated it).
    """
    if connection.vendor == "postgresql":
        with tenant_scope(tenant):
            yield
    else:
        yield


def _save(job, **fields):
    """Store progress and the checkpoint, if this worker still owns the running job."""
    fields["heartbeat_at"] = timezone.now()
    with tenant_scope(require_tenant()):
        updated = ExportJob.objects.filter(pk=job.pk, status=ExportJob.Status.RUNNING, attempts=job.attempts).update(
            **fields
        )
        status = None if updated else ExportJob.objects.filter(pk=job.pk).values_list("status", flat=True).first()
    if not updated:
        raise Stop(cancelled=status in (None, ExportJob.Status.CANCELLED))
    for name, value in fields.items():
        setattr(job, name, value)


def run_export(job_id):
    """
    Build a claimed job's files (Celery task body; Bulk Data §2-§3). Resumable: a job whose
    worker was killed is claimed again by another worker, which continues from the last
    checkpoint with exact counts. Cancellation (DELETE) is noticed between chunks.
    """
    tenant = require_tenant()
    job = claim(job_id)
    if job is None:
        logger.info("Export job %s: nothing to do (taken, finished, cancelled or expired).", job_id)
        return None
    directory = work_dir(tenant, job.uuid)
    writer = None
    try:
        state = job.state or {}
        if not state:
            with tenant_scope(tenant):
                members = _members(job) if job.level != "system" else None
                new_members = []
                if job.level == "group" and job.params.get("_since") and job.params.get("new_member_history"):
                    new_members = joined_since(job, members)
                job.new_members = new_members
                if job.params.get("organizeOutputBy"):
                    state = {"phase": "organized", "next": 0, "lo": 0, "hi": 0, "members": members}
                    if members is None:
                        patients = Resource.objects.filter(resource_type="Patient", deleted=False)
                        bounds = patients.aggregate(lo=Min("pk"), hi=Max("pk"))
                        state.update(next=bounds["lo"] or 0, lo=bounds["lo"] or 0, hi=bounds["hi"] or 0)
                else:
                    bounds = rows_queryset(job, members).aggregate(lo=Min("pk"), hi=Max("pk"))
                    state = {"phase": "rows", "next": bounds["lo"] or 0, "hi": bounds["hi"] or -1, "members": members}
                    state["lo"] = state["next"]
                state["parts"], state["new_members"] = [], new_members
                _save(job, state=state, message="Started")
        writer = PartWriter(
            directory,
            state["parts"],
            max_lines=settings.EXPORT_FILE_MAX_LINES,
            max_bytes=settings.EXPORT_FILE_MAX_BYTES,
        )
        _build(job, state, writer)
        parts = writer.close()
        _finish(job, parts, directory)
    except Stop as stop:
        if writer is not None:
            writer.abandon()
        if stop.cancelled:
            get_storage().delete_job(tenant, job.uuid)
        logger.info("Export job %s stopped: %s", job.uuid, stop)
    except Exception as exc:
        if writer is not None:
            writer.abandon()
        logger.exception("Export job %s failed", job.uuid)
        with tenant_scope(tenant):
            failed = ExportJob.objects.filter(pk=job.pk, status=ExportJob.Status.RUNNING, attempts=job.attempts)
            failed.update(
                status=ExportJob.Status.FAILED,
                error=str(exc)[:2000] or exc.__class__.__name__,
                error_status=getattr(exc, "status", 500),
                finished_at=timezone.now(),
            )
        get_storage().delete_job(tenant, job.uuid)
    return job.pk


def _build(job, state, writer):
    tenant = require_tenant()
    elements = _elements_map(job.params.get("_elements") or [])
    members = state.get("members")
    job.new_members = state.get("new_members") or []
    chunk = settings.EXPORT_CHUNK_IDS
    span = max(state["hi"] - state["lo"] + 1, 1)
    while state["phase"] == "rows":
        with _reading(tenant):
            if state["next"] > state["hi"]:
                state["phase"] = "referenced"
            else:
                upper = state["next"] + chunk
                qs = rows_queryset(job, members).filter(pk__gte=state["next"], pk__lt=upper)
                stream_rows(qs, writer, elements)
                state["next"] = upper
            state["parts"] = writer.checkpoint()
            done = min(state["next"] - state["lo"], span)
            _save(
                job,
                state=state,
                progress=min(int(90 * done / span), 90),
                resources_written=writer.lines,
                message="Exporting resources",
            )
    while state["phase"] == "organized":
        with _reading(tenant):
            batch, state["next"] = _member_batch(state)
            if batch:
                write_blocks(job, batch, writer, elements)
            else:
                state["phase"] = "deleted"
            state["parts"] = writer.checkpoint()
            if members is not None:
                done = state["next"] / max(len(members), 1)
            else:
                done = (state["next"] - state["lo"]) / max(state["hi"] - state["lo"] + 1, 1)
            _save(
                job,
                state=state,
                progress=min(int(95 * done), 95),
                resources_written=writer.lines,
                message="Exporting patients",
            )
    if state["phase"] == "referenced":
        with _reading(tenant):
            qs = referenced_queryset(job, members)
            if qs is not None:
                stream_rows(qs, writer, elements)
            state["phase"] = "deleted"
            state["parts"] = writer.checkpoint()
            _save(job, state=state, progress=95, resources_written=writer.lines, message="Referenced resources")
    if state["phase"] == "deleted":
        with _reading(tenant):
            if job.params.get("_since"):
                _write_deleted(job, members, writer)
            state["phase"] = "done"
            state["parts"] = writer.checkpoint()
            _save(job, state=state, progress=98, resources_written=writer.lines, message="Deleted resources")


def _finish(job, parts, directory):
    """Write the error file, publish the files and mark the job complete, all or nothing."""
    tenant = require_tenant()
    if job.issues:
        with (directory / "OperationOutcome.error.1.ndjson").open("wb") as fh:
            for issue in job.issues:
                fh.write(json.dumps(operation_outcome([tuple(issue)]), separators=(",", ":")).encode() + b"\n")
        size = (directory / "OperationOutcome.error.1.ndjson").stat().st_size
        parts.append(
            {
                "kind": "error",
                "type": "OperationOutcome",
                "name": "OperationOutcome.error.1.ndjson",
                "lines": len(job.issues),
                "bytes": size,
            }
        )
    storage = get_storage()
    for part in parts:
        storage.publish(tenant, job.uuid, part["name"], directory / part["name"])
    now = timezone.now()
    with tenant_scope(tenant):
        _save(
            job,
            status=ExportJob.Status.COMPLETED,
            progress=100,
            resources_written=sum(p["lines"] for p in parts if p["kind"] == "output"),
            message="Complete",
            finished_at=now,
            expires_at=now + timedelta(minutes=ExportPolicy.expiry_minutes_for(tenant)),
        )
        ExportFile.objects.bulk_create(
            [
                ExportFile(
                    tenant=tenant,
                    job=job,
                    kind=p["kind"],
                    resource_type=p["type"],
                    name=p["name"],
                    count=p["lines"],
                    size=p["bytes"],
                )
                for p in parts
            ]
        )


# --- status, manifest, cancel, expiry ---------------------------------------------------


def manifest(request, job):
    """The complete-status body (Bulk Data §2.4): absolute file URLs on the listener asked."""

    def item(f):
        url = request.build_absolute_uri(reverse("bulk-file", args=[job.uuid, f.name]))
        return {"type": f.resource_type, "url": url, "count": f.count}

    files = list(job.files.all())
    body = {
        "transactionTime": store.instant(job.transaction_time),
        "request": job.request_url,
        "requiresAccessToken": job.application_id is not None,
        "output": [item(f) for f in files if f.kind == ExportFile.Kind.OUTPUT],
        "error": [item(f) for f in files if f.kind == ExportFile.Kind.ERROR],
    }
    if job.params.get("_since"):
        body["deleted"] = [item(f) for f in files if f.kind == ExportFile.Kind.DELETED]
    if job.params.get("organizeOutputBy"):
        # STU3: organised output items carry no type; the manifest names the focal type.
        body["outputOrganizedBy"] = job.params["organizeOutputBy"]
        for entry in body["output"]:
            del entry["type"]
    return body


def cancel_export(job):
    """
    DELETE on the status URL (Bulk Data §4): a running job stops at its next chunk and
    removes its files; a finished job's files are removed now. Later polls get 404.
    """
    was_running = job.status == ExportJob.Status.RUNNING
    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportJob.Status.CANCELLED, finished_at=timezone.now(), message="Cancelled by the client"
    )
    job.files.all().delete()
    tenant = require_tenant()
    uuid = job.uuid
    if not was_running:
        # After commit, so that a rolled-back request leaves the files of a live job alone.
        transaction.on_commit(lambda: get_storage().delete_job(tenant, uuid))


def cancel_by_member(tenant, job_uuid):
    """The dashboard's cancel button: the same as the client's DELETE."""
    with tenant_scope(tenant):
        job = ExportJob.objects.filter(uuid=job_uuid).first()
        if job is None:
            raise NotFound("No such export.")
        if job.status != ExportJob.Status.CANCELLED:
            cancel_export(job)
        return job


def prune_expired(now=None):
    """
    Delete expired jobs of every tenant with their files (Bulk Data §4; the RI deletes
    exports after an hour). Cross-tenant maintenance, so it reads through rls.bypass().
    Returns the number of jobs deleted.
    """
    now = now or timezone.now()
    with rls.bypass():
        jobs = list(ExportJob.unscoped.expired(now).select_related("tenant"))
    storage = get_storage()
    for job in jobs:
        storage.delete_job(job.tenant, job.uuid)
        with rls.bypass():
            ExportJob.unscoped.filter(pk=job.pk).delete()
    return len(jobs)


def resume_stale(now=None):
    """
    Queue again every job whose worker died (heartbeat older than EXPORT_STALE_SECONDS) or
    that no worker picked up; the claim makes a duplicate harmless. Returns how many.
    """
    from sandbox.bulk.tasks import run_export_task

    with rls.bypass():
        jobs = list(ExportJob.unscoped.stale(now).values_list("tenant_id", "pk"))
    for tenant_id, job_id in jobs:
        run_export_task.delay(tenant_id, job_id)
    return len(jobs)
