"""Thin Celery wrappers around sandbox.bulk.export (STYLE §6)."""

from celery import shared_task

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
