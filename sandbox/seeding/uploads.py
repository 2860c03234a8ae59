"""
Uploads from the dashboard, loaded by a worker: the request only stores the files and queues
a load job, so a file of any size neither runs into the web server's timeout nor leaves the
browser waiting without a word.

The load itself is all or nothing (sandbox.seeding.loaders): its writes are one transaction,
so progress cannot be committed to the job row while they run, and on SQLite the row could
not even be written from another connection. The worker therefore reports progress in a small
file beside the uploaded ones (TENANT_FILES_DIR/<tenant id>/uploads/<random>/), which every
web and worker process already shares (docs/deploy.md), and the job row says only queued,
running, succeeded or failed. The file's age is the job's heartbeat.
"""

import json
import logging
import os
import re
import shutil
import socket
import uuid
from contextlib import suppress
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from sandbox.seeding import loaders
from tenants.context import tenant_scope
from tenants.models import Tenant, TenantJob

logger = logging.getLogger(__name__)

PROGRESS_FILE = "progress.json"
# A load reports at least once per loaders.CHUNK resources, a few seconds apart at most; a
# running job that said nothing for this long lost its worker (and its transaction with it).
STALE_AFTER = timedelta(minutes=5)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
UNDER_WAY = Q(status=TenantJob.Status.QUEUED) | Q(status=TenantJob.Status.RUNNING)


class Busy(Exception):
    """Another load or a reset of the payer is under way; the message says which."""


def job_dir(tenant, job):
    # A random name, not the job's id: ids can come round again (a database restored, tests).
    return tenant.files_dir / "uploads" / job.params["dir"]


def latest_load_job(tenant):
    with tenant_scope(tenant):
        return TenantJob.objects.filter(kind=TenantJob.Kind.LOAD).first()


def _fail_stale(tenant):
    """Mark running loads whose worker stopped reporting as failed, and drop their files."""
    now = timezone.now()
    with tenant_scope(tenant):
        running = list(TenantJob.objects.filter(kind=TenantJob.Kind.LOAD, status=TenantJob.Status.RUNNING))
    for job in running:
        last = _read_progress(tenant, job).get("at") or job.heartbeat_at
        if last is not None and now - last > STALE_AFTER:
            _finish(tenant, job.pk, TenantJob.Status.FAILED, error="The worker stopped reporting; nothing was loaded.")


def create_load_job(tenant, uploaded_files, *, user=None):
    """
    Store the uploaded files and queue a load job for them (sent to a worker on commit).
    Raises Busy while another load or a reset of the payer is under way.
    """
    _fail_stale(tenant)
    with tenant_scope(tenant):
        _lock_payer(tenant)
        busy = TenantJob.objects.filter(UNDER_WAY, kind=TenantJob.Kind.LOAD).first()
        if busy is not None:
            what = (
                "an upload is being loaded"
                if busy.status == TenantJob.Status.RUNNING
                else "an upload waits for a worker"
            )
            raise Busy(f"Nothing was queued: {what}. Upload again once it has finished.")
        from tenants.provisioning import STALE_AFTER as RESET_STALE_AFTER

        # A reset whose worker died says so only when the next reset is asked for; it blocks nothing.
        alive = Q(status=TenantJob.Status.QUEUED) | Q(heartbeat_at__gte=timezone.now() - RESET_STALE_AFTER)
        if TenantJob.objects.filter(UNDER_WAY, alive, kind=TenantJob.Kind.RESET).exists():
            raise Busy("Nothing was queued: the data is being reset. Upload again once it has finished.")
        job = TenantJob.objects.create(
            kind=TenantJob.Kind.LOAD,
            params={"requested_by": user.username if user else "", "files": [], "dir": uuid.uuid4().hex},
            message="Waiting for a worker…",
        )
        directory = job_dir(tenant, job)
        try:
            directory.mkdir(parents=True)
            files = []
            for index, uploaded in enumerate(uploaded_files):
                stored = f"{index:03d}-{_UNSAFE.sub('_', uploaded.name)[-100:]}"
                with (directory / stored).open("wb") as out:
                    for piece in uploaded.chunks():
                        out.write(piece)
                files.append({"name": uploaded.name, "stored": stored, "size": uploaded.size})
        except BaseException:
            # The job row goes with the transaction; the files would be left behind.
            shutil.rmtree(directory, ignore_errors=True)
            raise
        job.params["files"] = files
        job.save(update_fields=["params"])
        from sandbox.seeding.tasks import load_upload_task

        load_upload_task.delay_on_commit(tenant.pk, job.pk)
    return job


def reset_blocked_by_load(tenant):
    """
    Why a reset may not start now (a load is under way), or None. Call it in the transaction
    that queues the reset: the payer's row stays locked until then, so no upload slips in.
    """
    _fail_stale(tenant)
    with tenant_scope(tenant):
        _lock_payer(tenant)
        if TenantJob.objects.filter(UNDER_WAY, kind=TenantJob.Kind.LOAD).exists():
            return "An upload is being loaded; reset once it has finished."
    return None


def _lock_payer(tenant):
    # Two requests at once would both find nothing under way; the payer's row orders them.
    Tenant.objects.select_for_update().filter(pk=tenant.pk).first()


def run_load(tenant, job_id):
    """Run load job `job_id` (in a worker). A duplicate delivery of the job does nothing."""
    now = timezone.now()
    with tenant_scope(tenant):
        claimed = TenantJob.objects.filter(pk=job_id, status=TenantJob.Status.QUEUED).update(
            status=TenantJob.Status.RUNNING,
            started_at=now,
            heartbeat_at=now,
            message="Validating",
            claimed_by=f"{socket.gethostname()}:{os.getpid()}",
        )
        if not claimed:
            logger.info("Load job %s: nothing updated; another worker claimed it or it has finished.", job_id)
            return
        job = TenantJob.objects.get(pk=job_id)
    directory = job_dir(tenant, job)

    def report(fraction, message):
        _write_progress(directory, min(99, int(100 * fraction)), message)

    try:
        sources = [loaders.Source.from_path(directory / f["stored"], name=f["name"]) for f in job.params["files"]]
        report(0.0, "Validating")
        result = loaders.load(tenant, sources, report=report)
    except Exception as exc:
        logger.exception("Loading upload %s into %s failed", job_id, tenant.slug)
        _finish(tenant, job_id, TenantJob.Status.FAILED, error=f"Nothing was loaded: {exc or exc.__class__.__name__}")
        return
    if not result.ok:
        problems = [{"file": p.file, "where": p.where, "message": p.message} for p in result.problems]
        _finish(
            tenant,
            job_id,
            TenantJob.Status.FAILED,
            error=f"Nothing was loaded: {result.problem_count} problem{'s' if result.problem_count != 1 else ''}.",
            params={"problems": problems, "problem_count": result.problem_count},
        )
        return
    _finish(
        tenant,
        job_id,
        TenantJob.Status.SUCCEEDED,
        message=f"Loaded {result.total:,} resource{'s' if result.total != 1 else ''} "
        f"({result.created:,} created, {result.updated:,} updated).",
        params={"counts": dict(sorted(result.counts.items()))},
    )


def _finish(tenant, job_id, status, *, message="", error="", params=None):
    with tenant_scope(tenant):
        job = TenantJob.objects.select_for_update().get(pk=job_id)
        job.params = {**job.params, **(params or {})}
        job.status = status
        job.error = error
        job.message = message or ("Loaded" if status == TenantJob.Status.SUCCEEDED else "Failed")
        job.progress = 100 if status == TenantJob.Status.SUCCEEDED else 0
        job.finished_at = timezone.now()
        job.save(update_fields=["params", "status", "error", "message", "progress", "finished_at"])
        # The uploaded copies are not needed once the job has an outcome, whichever it is.
        directory = job_dir(tenant, job)
        transaction.on_commit(lambda: shutil.rmtree(directory, ignore_errors=True))


def _write_progress(directory, percent, message):
    # Written whole and renamed, so a reader never sees half a file.
    scratch = directory / f".{PROGRESS_FILE}.tmp"
    scratch.write_text(json.dumps({"progress": percent, "message": message[:300], "at": timezone.now().isoformat()}))
    os.replace(scratch, directory / PROGRESS_FILE)


def _read_progress(tenant, job):
    with suppress(OSError, ValueError, KeyError):
        data = json.loads((job_dir(tenant, job) / PROGRESS_FILE).read_text())
        data["at"] = datetime.fromisoformat(data["at"])
        return data
    return {}


def progress(tenant, job):
    """The job as the dashboard polls it: a running load's figures come from its progress file."""
    data = job.as_progress()
    if job.status == TenantJob.Status.RUNNING:
        live = _read_progress(tenant, job)
        if live:
            data["progress"], data["message"] = live["progress"], live["message"]
    data["problems"] = job.params.get("problems", [])
    data["problem_count"] = job.params.get("problem_count", 0)
    return data
