"""
Filling a payer's FHIR store with its synthetic data (the "Seed synthetic data" provisioning
step) and resetting it back to that data later.

The generator streams one member at a time; resources are written with store.bulk_load in
chunks, each chunk in its own tenant_scope, so memory stays flat, progress commits as it
goes, and SQLite's writer lock is never held for long.
"""

import logging
import multiprocessing
import os
import socket
from collections import Counter
from concurrent.futures import ProcessPoolExecutor

from django.apps import apps
from django.conf import settings
from django.db import reset_queries
from django.db.models import Q
from django.utils import timezone

from sandbox.fhirstore import store
from sandbox.fhirstore.errors import InvalidResource
from sandbox.seeding import generator
from tenants.context import tenant_scope
from tenants.models import TenantJob

logger = logging.getLogger(__name__)

DEFAULT_SEED = 1
MAX_MEMBERS = 100_000
# A few thousand resources per transaction: large enough for COPY to pay off, small enough that
# a chunk's prepared rows stay a few megabytes.
CHUNK_RESOURCES = 2000
# Below this many members, starting a validation process costs more than it saves.
PARALLEL_VALIDATION_FROM = 200


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


def seed_tenant(tenant, *, members, seed, report=None, chunk_size=None, validate=True):
    """
    Write the synthetic payer generated from (tenant.slug, tenant.name, members, seed) into the
    tenant's store; returns a Counter of resources written per type.

    report(fraction, message) is called after each chunk with the share of members written.
    The store must not yet hold any of the generated ids (bulk_load inserts only). Every
    resource is validated before its chunk is written; for large payers the validation runs
    in a second process, one chunk ahead of the writes.
    """
    chunk_size = chunk_size or CHUNK_RESOURCES
    counts = Counter()
    pool = _validation_pool() if validate and members >= PARALLEL_VALIDATION_FROM else None
    waiting = None  # (future validating a chunk, that chunk, members done, phase)

    def write(resources, inline_validation):
        with tenant_scope(tenant):
            store.bulk_load(resources, validate=inline_validation)
        # With DEBUG on, Django keeps the last 9,000 queries of a connection, and outside a request
        # nobody clears them: bulk inserts of whole chunks would hold hundreds of megabytes.
        reset_queries()

    def finish(entry):
        future, resources, done, phase = entry
        _raise_problems(future.result())
        write(resources, False)
        if report is not None:
            report(done / members, _message(phase, done, members))

    def flush(resources, done, phase):
        nonlocal waiting
        if pool is None:
            write(resources, validate)
            if report is not None:
                report(done / members, _message(phase, done, members))
            return
        from sandbox.seeding.validation import chunk_problems

        submitted = (pool.submit(chunk_problems, resources), resources, done, phase)
        if waiting is not None:
            finish(waiting)
        waiting = submitted

    try:
        pending = []
        done, phase = 0, "payer"
        for batch in generator.iter_batches(slug=tenant.slug, name=tenant.name, members=members, seed=seed):
            pending.extend(batch.resources)
            counts.update(resource["resourceType"] for resource in batch.resources)
            done, phase = batch.members_done, batch.phase
            if len(pending) >= chunk_size:
                flush(pending, done, phase)
                pending = []
        if pending:
            flush(pending, done, phase)
        if waiting is not None:
            finish(waiting)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    if report is not None:
        report(1.0, f"Seeded {members} members ({sum(counts.values())} resources)")
    return counts


def _validation_pool():
    if (os.cpu_count() or 1) < 2:
        return None
    # spawn, not fork: the worker may run in a threaded Celery worker, and needs no Django.
    return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))


def _raise_problems(found):
    if found:
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
    """Provisioning step: seed the new payer with job.params members and seed (or the defaults)."""
    members, seed = seed_parameters(job.params)
    seed_tenant(tenant, members=members, seed=seed, report=report)


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
