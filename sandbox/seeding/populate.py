"""
Filling a payer's FHIR store with its synthetic data (the "Seed synthetic data" provisioning
step) and resetting it back to that data later.

The generator streams one member at a time; sandbox/seeding/chunks.py validates and prepares
its resources in chunks (in a worker process for large payers), and each chunk is written with
store.load_prepared in its own tenant_scope, so memory stays flat, progress commits as it goes,
and SQLite's writer lock is never held for long.
"""

import logging
import multiprocessing
import os
import socket
from collections import Counter
from contextlib import closing
from queue import Empty

from django.apps import apps
from django.conf import settings
from django.db import reset_queries
from django.db.models import Q
from django.utils import timezone

from sandbox.fhirstore import store
from sandbox.fhirstore.errors import InvalidResource
from sandbox.seeding import chunks, generator
from tenants.context import tenant_scope
from tenants.models import TenantJob

logger = logging.getLogger(__name__)

DEFAULT_SEED = 1
MAX_MEMBERS = 100_000
# A few thousand resources per transaction: large enough for COPY to pay off, small enough that
# a chunk's prepared rows stay a few megabytes.
CHUNK_RESOURCES = 2000
# Below this many members, starting a worker process costs more than it saves.
WORKER_FROM = 200


def default_members():
    """Members a new payer gets when nobody says otherwise (settings.SANDBOX_DEFAULT_MEMBERS)."""
    return settings.SANDBOX_DEFAULT_MEMBERS


def seed_parameters(params):
    """(members, seed) from a job's params, with the defaults filled in."""
    params = params or {}
    members = params.get("members")
    seed = params.get("seed")
    return (
        int(members) if members is not None else default_members(),
        seed if seed is not None else DEFAULT_SEED,
    )


def seed_tenant(tenant, *, members, seed, report=None, chunk_size=None, validate=chunks.VALIDATE_SAMPLE):
    """
    Write the synthetic payer generated from (tenant.slug, tenant.name, members, seed) into the
    tenant's store; returns a Counter of resources written per type.

    report(fraction, message) is called after each chunk with the share of members written.
    The store must not yet hold any of the generated ids (bulk_load inserts only). `validate`
    is "sample" (see chunks.validates), "all" or "none" (True and False mean "all" and
    "none"); a chunk holding an invalid resource raises InvalidResource before it is written.
    For large payers a worker process generates and prepares the chunks, one or two ahead of
    the writes.
    """
    arguments = {
        "slug": tenant.slug,
        "name": tenant.name,
        "members": members,
        "seed": seed,
        "chunk_size": chunk_size or CHUNK_RESOURCES,
        "validate": _validation_mode(validate),
        "local_bases": store.local_bases(tenant),
        # Looked up now, so that tests can make the generator produce something invalid.
        "batches": generator.iter_batches,
    }
    counts = Counter()
    # closing(): a failed write must stop the worker now, not when the traceback is freed.
    with closing(_chunks(arguments, in_worker=members >= WORKER_FROM and _can_start_worker())) as prepared:
        for chunk in prepared:
            with tenant_scope(tenant):
                store.load_prepared(chunk.prepared, chunk.when)
            # With DEBUG on, Django keeps the last 9,000 queries of a connection, and outside a
            # request nobody clears them: bulk inserts of whole chunks would hold hundreds of megabytes.
            reset_queries()
            counts.update(chunk.counts)
            if report is not None:
                report(chunk.members_done / members, _message(chunk.phase, chunk.members_done, members))
    if report is not None:
        report(1.0, f"Seeded {members} members ({sum(counts.values())} resources)")
    return counts


def _validation_mode(validate):
    mode = {True: chunks.VALIDATE_ALL, False: chunks.VALIDATE_NONE, None: chunks.VALIDATE_NONE}.get(validate, validate)
    if mode not in (chunks.VALIDATE_ALL, chunks.VALIDATE_SAMPLE, chunks.VALIDATE_NONE):
        raise ValueError(f"validate must be 'all', 'sample' or 'none', not {validate!r}")
    return mode


def _can_start_worker():
    # A daemonic process (Celery's prefork pool) may not start children.
    return (os.cpu_count() or 1) >= 2 and not multiprocessing.current_process().daemon


def _chunks(arguments, *, in_worker):
    try:
        if not in_worker:
            yield from chunks.iter_chunks(**arguments)
            return
        yield from _worker_chunks(arguments)
    except chunks.InvalidGenerated as exc:
        _raise_problems(exc.found)


def _worker_chunks(arguments):
    # spawn, not fork: seeding may run in a threaded Celery worker, and the worker needs no Django.
    context = multiprocessing.get_context("spawn")
    # Two chunks ahead at most: enough to keep both sides busy, and memory stays flat.
    queue = context.Queue(maxsize=2)
    worker = context.Process(target=chunks.run_worker, args=(queue, arguments), name="seed-chunks", daemon=True)
    worker.start()
    try:
        while True:
            try:
                kind, value = queue.get(timeout=5)
            except Empty:
                if not worker.is_alive():
                    raise RuntimeError(f"The seeding worker process stopped (exit code {worker.exitcode}).") from None
                continue
            if kind == "chunk":
                yield value
            elif kind == "invalid":
                raise chunks.InvalidGenerated(value)
            elif kind == "error":
                raise RuntimeError(f"Preparing the seed data failed in the worker process:\n{value}")
            else:
                return
    finally:
        if worker.is_alive():
            worker.terminate()
        worker.join()
        queue.close()


def _raise_problems(found):
    reference, problems = found[0]
    raise InvalidResource(
        f"{reference} is not valid FHIR R4 ({len(problems)} problem(s)); "
        f"{len(found)} invalid resource(s) in its chunk.",
        issues=[("error", "structure", message, expression) for expression, message in problems],
    )


def _message(phase, done, total):
    if phase == "members":
        return f"Seeding member {done} of {total}"
    if phase == "attribution":
        return "Writing attribution lists"
    return "Writing the payer, its providers and formularies"


def seed_step(tenant, job, report):
    """
    Provisioning step: seed the new payer with job.params members and seed (or the defaults),
    validating a sample of the generated resources, or all of them with params validate_all.
    """
    members, seed = seed_parameters(job.params)
    validate = chunks.VALIDATE_ALL if (job.params or {}).get("validate_all") else chunks.VALIDATE_SAMPLE
    seed_tenant(tenant, members=members, seed=seed, report=report, validate=validate)


def seed_of(tenant):
    """(members, seed) the payer was created with, from its latest provisioning job."""
    from tenants import provisioning

    job = provisioning.latest_job(tenant)
    return seed_parameters(job.params if job else {})


def fhir_models():
    """The fhirstore tables a reset empties (resources, versions, search index, snapshots)."""
    from tenants.models import TenantOwned

    return [
        model
        for model in apps.get_app_config("fhirstore").get_models()
        if issubclass(model, TenantOwned) and model._meta.managed
    ]


def wipe_fhir_data(tenant):
    """Delete every FHIR resource of `tenant`, with its history and index rows, in one transaction."""
    with tenant_scope(tenant):
        for model in fhir_models():
            queryset = model.unscoped.filter(tenant=tenant)
            # One DELETE per table without loading rows; foreign keys are checked at commit.
            queryset._raw_delete(queryset.db)


def create_reset_job(tenant, *, user=None):
    """Queue a reset of the payer's data unless one is already queued or running; returns (job, created)."""
    from tenants.provisioning import STALE_AFTER

    with tenant_scope(tenant):
        resets = TenantJob.objects.filter(kind=TenantJob.Kind.RESET)
        # A running reset whose worker stopped reporting died with it; let a new one start.
        resets.filter(status=TenantJob.Status.RUNNING, heartbeat_at__lt=timezone.now() - STALE_AFTER).update(
            status=TenantJob.Status.FAILED, error="The worker stopped reporting.", finished_at=timezone.now()
        )
        running = resets.filter(Q(status=TenantJob.Status.QUEUED) | Q(status=TenantJob.Status.RUNNING)).first()
        if running is not None:
            return running, False
        members, seed = seed_of(tenant)
        job = TenantJob.objects.create(
            kind=TenantJob.Kind.RESET,
            params={"members": members, "seed": seed, "requested_by": user.username if user else ""},
            message="Waiting for a worker…",
        )
        return job, True


def enqueue_reset(job):
    """Send a reset job to a worker once the surrounding transaction commits."""
    from sandbox.seeding.tasks import reset_tenant_task

    reset_tenant_task.delay_on_commit(job.tenant_id, job.pk)


def latest_reset_job(tenant):
    with tenant_scope(tenant):
        return TenantJob.objects.filter(kind=TenantJob.Kind.RESET).first()


def reset_tenant(tenant, job_id):
    """
    Run reset job `job_id`: delete every FHIR resource of the payer (uploads and edits too) and
    seed it again with the members and seed it was created with. Certificates, clients and
    other settings are kept. A duplicate delivery of the job does nothing.
    """
    now = timezone.now()
    with tenant_scope(tenant):
        claimed = TenantJob.objects.filter(pk=job_id, status=TenantJob.Status.QUEUED).update(
            status=TenantJob.Status.RUNNING,
            started_at=now,
            heartbeat_at=now,
            progress=0,
            message="Deleting the current data",
            claimed_by=f"{socket.gethostname()}:{os.getpid()}",
        )
        if not claimed:
            logger.info("Reset job %s: nothing updated; another worker claimed it or it has finished.", job_id)
            return
        job = TenantJob.objects.get(pk=job_id)

    def report(fraction, message):
        with tenant_scope(tenant):
            TenantJob.objects.filter(pk=job_id).update(
                progress=min(99, 5 + int(94 * fraction)), message=message[:300], heartbeat_at=timezone.now()
            )

    members, seed = seed_parameters(job.params)
    try:
        wipe_fhir_data(tenant)
        report(0.0, f"Seeding member 0 of {members}")
        seed_tenant(tenant, members=members, seed=seed, report=report)
    except Exception as exc:
        logger.exception("Resetting %s failed", tenant.slug)
        _finish(tenant, job_id, TenantJob.Status.FAILED, f"Reset failed: {exc or exc.__class__.__name__}")
        return
    _finish(tenant, job_id, TenantJob.Status.SUCCEEDED)


def _finish(tenant, job_id, status, error=""):
    succeeded = status == TenantJob.Status.SUCCEEDED
    with tenant_scope(tenant):
        TenantJob.objects.filter(pk=job_id).update(
            status=status,
            error=error,
            finished_at=timezone.now(),
            progress=100 if succeeded else 0,
            message="Data reset to its seed" if succeeded else "Failed",
        )
