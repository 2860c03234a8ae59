"""
Creating a simulated payer.

A payer is created in two parts: `create_payer` writes the Tenant row, its owner and a
queued TenantJob in one transaction; the Celery task then runs `provision`, which executes
the registered provisioning steps in order (other apps register theirs: certificates,
seeding) and reports progress on the job. A failing step wipes whatever the steps had
written, records the error on the job and marks the payer failed, so no half-made payer is
ever served; the owner can retry or delete it.
"""

import logging
import os
import shutil
import socket
import traceback
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from tenants import rls
from tenants.context import tenant_scope
from tenants.models import Membership, Tenant, TenantJob

logger = logging.getLogger(__name__)

# A running job whose worker has not reported for this long is presumed dead and may be
# claimed again (a worker killed mid-job does not ack, but the filesystem broker cannot
# redeliver).
STALE_AFTER = timedelta(minutes=5)


@dataclass(frozen=True)
class Step:
    label: str
    func: object  # func(tenant, job, report) where report(fraction 0..1, message=None)
    weight: int
    order: int


_steps = {}


def register_step(label, func, *, weight=1, order=50):
    """Add a provisioning step; apps call this from AppConfig.ready(). Re-registering a label replaces it."""
    _steps[label] = Step(label, func, weight, order)


def registered_steps():
    return sorted(_steps.values(), key=lambda step: (step.order, step.label))


def prepare_files(tenant, job, report):
    tenant.files_dir.mkdir(parents=True, exist_ok=True)


register_step("Prepare file storage", prepare_files, weight=1, order=0)


def create_payer(*, name, slug, pdex_version=Tenant.PdexVersion.V2_0, owner=None, params=None):
    """Create the Tenant (validated), its owner membership and a queued provisioning job.

    Raises ValidationError for a bad or taken slug. The caller enqueues the job with
    `enqueue(job)` (after commit), or runs `provision` directly.
    """
    with transaction.atomic():
        tenant = Tenant(name=name, slug=slug, pdex_version=pdex_version, created_by=owner)
        tenant.full_clean()
        tenant.save()
        if owner is not None:
            Membership.objects.create(tenant=tenant, user=owner, role=Membership.Role.OWNER)
        job = _new_job(tenant, params or {})
    return tenant, job


def restart(tenant):
    """Queue a new provisioning job for a payer whose creation failed."""
    with transaction.atomic():
        Tenant.objects.filter(pk=tenant.pk).update(status=Tenant.Status.PROVISIONING)
        tenant.status = Tenant.Status.PROVISIONING
        previous = latest_job(tenant)
        return _new_job(tenant, previous.params if previous else {})


def _new_job(tenant, params):
    with tenant_scope(tenant):
        return TenantJob.objects.create(kind=TenantJob.Kind.PROVISION, params=params)


def enqueue(job):
    """Send the job to a worker once the surrounding transaction commits."""
    from tenants.tasks import provision_tenant_task

    provision_tenant_task.delay_on_commit(job.tenant_id, job.pk)


def latest_job(tenant):
    with tenant_scope(tenant):
        return TenantJob.objects.filter(kind=TenantJob.Kind.PROVISION).first()


def provision(tenant, job_id):
    """Run every provisioning step for `tenant` under job `job_id` (Celery or in-process)."""
    now = timezone.now()
    with tenant_scope(tenant):
        claimable = TenantJob.objects.filter(pk=job_id).filter(
            Q(status=TenantJob.Status.QUEUED) | Q(status=TenantJob.Status.RUNNING, heartbeat_at__lt=now - STALE_AFTER)
        )
        claimed = claimable.update(
            status=TenantJob.Status.RUNNING,
            started_at=now,
            heartbeat_at=now,
            progress=0,
            error="",
            claimed_by=f"{socket.gethostname()}:{os.getpid()}",
        )
    if not claimed:
        logger.info("Provisioning job %s: nothing updated; another worker claimed it or it has finished.", job_id)
        return
    job = _get_job(tenant, job_id)
    # A reclaimed job may have left rows behind; start from nothing.
    wipe_tenant_data(tenant, keep_jobs=True)

    steps = registered_steps()
    total = sum(step.weight for step in steps) or 1
    done = 0
    current = None
    try:
        for current in steps:
            base = done

            def report(fraction, message=None, _base=base, _step=current):
                share = max(0.0, min(1.0, fraction)) * _step.weight
                _save_progress(tenant, job_id, int(100 * (_base + share) / total), message or _step.label)

            report(0.0)
            current.func(tenant, job, report)
            done += current.weight
    except Exception as exc:
        logger.exception("Provisioning %s failed in step %r", tenant.slug, current.label if current else None)
        wipe_tenant_data(tenant, keep_jobs=True)
        _finish(tenant, job_id, TenantJob.Status.FAILED, error=_describe_failure(current, exc))
        Tenant.objects.filter(pk=tenant.pk).update(status=Tenant.Status.FAILED)
        return
    _finish(tenant, job_id, TenantJob.Status.SUCCEEDED)
    Tenant.objects.filter(pk=tenant.pk).update(status=Tenant.Status.READY)


def _describe_failure(step, exc):
    where = f"Step '{step.label}' failed" if step else "Provisioning failed"
    detail = str(exc) or exc.__class__.__name__
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    origin = f" (at {last[0].name})" if last else ""
    return f"{where}: {detail}{origin}"


def _get_job(tenant, job_id):
    with tenant_scope(tenant):
        return TenantJob.objects.get(pk=job_id)


def _save_progress(tenant, job_id, percent, message):
    with tenant_scope(tenant):
        TenantJob.objects.filter(pk=job_id).update(
            progress=min(percent, 99), message=message[:300], heartbeat_at=timezone.now()
        )


def _finish(tenant, job_id, status, error=""):
    succeeded = status == TenantJob.Status.SUCCEEDED
    fields = {"status": status, "error": error, "finished_at": timezone.now()}
    fields["message"] = "Ready" if succeeded else "Failed"
    if succeeded:
        fields["progress"] = 100
    with tenant_scope(tenant):
        TenantJob.objects.filter(pk=job_id).update(**fields)


def wipe_tenant_data(tenant, *, keep_jobs=False):
    """Delete every tenant-owned row of `tenant` and its files.

    One transaction: foreign keys are checked at commit (Django creates them deferrable), so
    the order of the tables does not matter. Rows that point at tenant-owned rows must be
    tenant-owned themselves, or they would block the commit.
    """
    with tenant_scope(tenant):
        for model in rls.tenant_owned_models():
            if keep_jobs and model is TenantJob:
                continue
            queryset = model.unscoped.filter(tenant=tenant)
            # _raw_delete issues one DELETE without loading rows: a payer may hold millions.
            queryset._raw_delete(queryset.db)
    shutil.rmtree(tenant.files_dir, ignore_errors=True)


def delete_payer(tenant):
    """Delete a simulated payer: every row it owns, its memberships and its files."""
    wipe_tenant_data(tenant)
    with tenant_scope(tenant):
        Tenant.objects.filter(pk=tenant.pk).delete()


def requeue_stale_jobs():
    """Re-enqueue provisioning jobs lost by a dead worker or broker (run at sandbox start)."""
    cutoff = timezone.now() - STALE_AFTER
    count = 0
    for tenant in Tenant.objects.filter(status=Tenant.Status.PROVISIONING):
        job = latest_job(tenant)
        if job is None:
            continue
        lost = job.status == TenantJob.Status.QUEUED or (
            job.status == TenantJob.Status.RUNNING and job.heartbeat_at and job.heartbeat_at < cutoff
        )
        if lost:
            with transaction.atomic():
                enqueue(job)
            count += 1
    return count
