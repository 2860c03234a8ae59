"""Thin Celery wrappers around sandbox.bulk.export (STYLE §6)."""

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

from sandbox.bulk import export
from tenants.tasks import TenantTask


@shared_task(base=TenantTask, bind=True, acks_late=True, reject_on_worker_lost=True)
def run_export_task(self, tenant_id, job_id):
    """Build one export job's files (export.run_export); safe to deliver twice."""
    return export.run_export(job_id)


@shared_task
def prune_exports_task():
    """Periodic: delete expired exports and queue again the jobs of dead workers."""
    return {"pruned": export.prune_expired(), "resumed": export.resume_stale()}


@worker_ready.connect
def resume_after_start(sender=None, **kwargs):
    """
    A worker that starts (often: one restarted after a crash) looks for jobs a dead worker
    left, once their heartbeat is old enough to count as stale, even when no beat runs.
    """
    prune_exports_task.apply_async(countdown=settings.EXPORT_STALE_SECONDS + 5)
