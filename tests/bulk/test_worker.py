"""
A real asynchronous worker (PostgreSQL + Redis, marker `celery`): the kick-off returns at once
and another process builds the files; a worker killed with SIGKILL mid-job leaves a job that
another worker finishes exactly; DELETE stops a running job.
"""

import os
import signal
import subprocess
import sys
import time

import pytest
from django.db import connection

from sandbox.bulk import export
from sandbox.bulk.models import ExportJob
from sandbox.fhirstore.models import Resource
from tenants.context import tenant_scope
from tests import services
from tests.bulk.conftest import load, population

pytestmark = pytest.mark.celery


def wait_for(predicate, timeout=60, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"Timed out waiting for {what}")


def job_row(tenant, job_uuid):
    with tenant_scope(tenant):
        return ExportJob.objects.get(uuid=job_uuid)


@pytest.fixture
def worker_factory(transactional_db, settings):
    """Start Celery worker processes (as tests/conftest.py's celery_worker_process) that the
    test may kill; tasks go through Redis on a private queue."""
    from sandbox.celery import app

    db = connection.settings_dict
    database_url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    broker = services.redis_url()
    queue = f"test-bulk-{os.getpid()}-{time.monotonic_ns()}"
    processes = []
    previous = (app.conf.task_always_eager, app.conf.broker_url, app.conf.task_default_queue)
    app.conf.task_always_eager = False
    app.conf.broker_url = broker
    app.conf.task_default_queue = queue

    def start(**extra_env):
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": broker,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "SANDBOX_DATA_DIR": str(settings.DATA_DIR),
            "TENANT_FILES_DIR": str(settings.TENANT_FILES_DIR),
            "PYTHONUNBUFFERED": "1",
            **{k: str(v) for k, v in extra_env.items()},
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "sandbox", "worker", "--pool", "threads", "--concurrency", "2"]
            + ["--without-mingle", "--without-gossip", "--loglevel", "INFO", "--queues", queue]
            + ["--hostname", f"bulk{len(processes)}@%h"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(process)
        inspector = app.control.inspect(timeout=1, destination=[f"bulk{len(processes) - 1}@{os.uname().nodename}"])
        wait_for(lambda: process.poll() is None and inspector.ping(), timeout=30, interval=0.2, what="worker ping")
        return process

    try:
        yield start
    finally:
        app.conf.task_always_eager, app.conf.broker_url, app.conf.task_default_queue = previous
        for process in processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()


def test_it_runs_the_export_in_a_separate_worker(bulk, tenant, worker_factory):
    """Kick-off answers 202 at once; a worker process builds the files; the manifest then lists them."""
    load(tenant, population(5))
    worker = worker_factory()
    response = bulk.client.get(
        "/t/acme/fhir/Group/g1/$export",
        HTTP_ACCEPT="application/fhir+json",
        HTTP_PREFER="respond-async",
        **bulk.auth(),
    )
    assert response.status_code == 202
    url = response["Content-Location"]
    manifest = wait_for(
        lambda: (r := bulk.status(url)).status_code == 200 and r.json(), timeout=60, what="a complete manifest"
    )
    job = job_row(tenant, url.rsplit("/", 1)[1])
    assert job.claimed_by.endswith(f":{worker.pid}")
    out = {item["type"]: bulk.lines(item["url"]) for item in manifest["output"]}
    assert sorted(p["id"] for p in out["Patient"]) == ["p0", "p1", "p2", "p3"]


def test_it_finishes_a_job_whose_worker_was_killed(bulk, tenant, worker_factory, settings):
    """kill -9 of the worker mid-job; a second worker resumes from the checkpoint: exact counts, no duplicate."""
    load(tenant, population(500))
    settings.EXPORT_STALE_SECONDS = 2
    first = worker_factory(EXPORT_CHUNK_IDS=1, EXPORT_FILE_MAX_LINES=100, EXPORT_STALE_SECONDS=2)
    url = bulk.kickoff("$export")["Content-Location"]
    job_uuid = url.rsplit("/", 1)[1]
    wait_for(lambda: job_row(tenant, job_uuid).resources_written >= 200, what="the first worker to be under way")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    killed = job_row(tenant, job_uuid)
    assert killed.status == "running" and killed.resources_written < 1504
    assert bulk.status(url).status_code == 202

    second = worker_factory(EXPORT_CHUNK_IDS=1000, EXPORT_FILE_MAX_LINES=100, EXPORT_STALE_SECONDS=2)
    time.sleep(2.5)
    assert export.resume_stale() == 1
    manifest = wait_for(
        lambda: (r := bulk.status(url)).status_code == 200 and r.json(), timeout=90, what="the resumed job"
    )
    job = job_row(tenant, job_uuid)
    assert job.attempts == 2 and job.claimed_by.endswith(f":{second.pid}")
    got = []
    for item in manifest["output"]:
        lines = bulk.lines(item["url"])
        assert item["count"] == len(lines) <= 100
        got.extend(f"{r['resourceType']}/{r['id']}" for r in lines)
    with tenant_scope(tenant):
        expected = sorted(f"{t}/{i}" for t, i in Resource.objects.values_list("resource_type", "fhir_id"))
    assert len(got) == len(set(got)) == len(expected) == 1504
    assert sorted(got) == expected


def test_it_cancels_a_running_job(bulk, tenant, worker_factory):
    """DELETE while the worker runs: 202, then 404, and the worker stops and removes the files."""
    load(tenant, population(300))
    worker_factory(EXPORT_CHUNK_IDS=1)
    url = bulk.kickoff("$export")["Content-Location"]
    job_uuid = url.rsplit("/", 1)[1]
    wait_for(lambda: job_row(tenant, job_uuid).resources_written >= 50, what="the worker to be under way")
    assert bulk.delete(url).status_code == 202
    assert bulk.status(url).status_code == 404
    directory = tenant.files_dir / "exports" / job_uuid
    wait_for(lambda: not directory.exists(), timeout=30, what="the worker to remove its files")
    job = job_row(tenant, job_uuid)
    assert job.status == "cancelled" and job.resources_written < 904
