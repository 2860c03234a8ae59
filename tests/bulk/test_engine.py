"""The export engine: claiming, resuming a killed job, cancelling between chunks, pruning."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from sandbox.bulk import export
from sandbox.bulk.models import ExportJob, ExportPolicy
from sandbox.fhirstore.models import Resource
from tenants.context import activate, deactivate, tenant_scope
from tests.bulk.conftest import load, population


class Killed(BaseException):
    """Stands in for kill -9: nothing in the engine catches it."""


def run(tenant, job_id):
    token = activate(tenant)
    try:
        return export.run_export(job_id)
    finally:
        deactivate(token)


def kick(bulk, path="$export", params=None):
    url = bulk.kickoff(path, params)["Content-Location"]
    with tenant_scope(bulk.tenant):
        return url, ExportJob.objects.get(uuid=url.rsplit("/", 1)[1])


def downloaded(bulk, url):
    manifest = bulk.status(url).json()
    return manifest, {
        item["url"]: [r["resourceType"] + "/" + r["id"] for r in bulk.lines(item["url"])] for item in manifest["output"]
    }


@pytest.fixture
def bigger(tenant, settings):
    """40 members (124 resources) read one primary key per chunk, 7 lines per file."""
    load(tenant, population(40, prefix="m"))
    settings.EXPORT_CHUNK_IDS = 1
    settings.EXPORT_FILE_MAX_LINES = 7
    return tenant


def test_it_resumes_a_killed_job_with_exact_counts(bulk, bigger, queued, monkeypatch):
    """A worker dies after writing lines past its checkpoint; the next one truncates and finishes exactly."""
    url, job = kick(bulk, "$export")
    real_save, calls = export._save, {"n": 0}

    def dying_save(job, **fields):
        calls["n"] += 1
        if calls["n"] == 60:
            raise Killed
        return real_save(job, **fields)

    monkeypatch.setattr(export, "_save", dying_save)
    with pytest.raises(Killed):
        run(bigger, job.pk)
    with tenant_scope(bigger):
        dead = ExportJob.objects.get(pk=job.pk)
    assert dead.status == "running" and dead.attempts == 1 and 0 < dead.state["next"] <= dead.state["hi"]

    # The dead worker's heartbeat is fresh: nobody may take the job yet.
    assert run(bigger, job.pk) is None
    with tenant_scope(bigger):
        ExportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    monkeypatch.setattr(export, "_save", real_save)
    assert run(bigger, job.pk) == job.pk

    manifest, files = downloaded(bulk, url)
    got = [ref for refs in files.values() for ref in refs]
    with tenant_scope(bigger):
        expected = sorted(f"{t}/{i}" for t, i in Resource.objects.values_list("resource_type", "fhir_id"))
    assert sorted(got) == expected and len(got) == len(set(got)) == 124
    assert all(item["count"] == len(files[item["url"]]) for item in manifest["output"])
    assert all(item["count"] <= 7 for item in manifest["output"])
    with tenant_scope(bigger):
        assert ExportJob.objects.get(pk=job.pk).attempts == 2


def test_it_ignores_a_duplicate_delivery(bulk, data):
    """A second delivery of a finished job's task finds nothing to claim."""
    url, job = kick(bulk)
    assert bulk.status(url).status_code == 200
    assert run(data, job.pk) is None
    with tenant_scope(data):
        assert ExportJob.objects.get(pk=job.pk).attempts == 1


def test_it_stops_at_the_next_chunk_when_cancelled(bulk, bigger, queued, monkeypatch):
    """DELETE while running: the worker notices at its next chunk, stops and removes its files."""
    url, job = kick(bulk)
    real_save, saves = export._save, {"n": 0}

    def save_then_cancel(job, **fields):
        real_save(job, **fields)
        saves["n"] += 1
        if saves["n"] == 5:
            assert bulk.delete(url).status_code == 202

    monkeypatch.setattr(export, "_save", save_then_cancel)
    run(bigger, job.pk)
    assert saves["n"] == 5
    with tenant_scope(bigger):
        assert ExportJob.objects.get(pk=job.pk).status == "cancelled"
    assert not (bigger.files_dir / "exports" / str(job.uuid)).exists()
    assert bulk.status(url).status_code == 404


def test_it_reports_progress_between_chunks(bulk, bigger, queued, monkeypatch):
    """Progress and the resource count grow as chunks commit."""
    url, job = kick(bulk)
    seen = []
    real_save = export._save

    def spy(job, **fields):
        real_save(job, **fields)
        seen.append((job.progress, job.resources_written))

    monkeypatch.setattr(export, "_save", spy)
    run(bigger, job.pk)
    progress = [p for p, _n in seen]
    assert progress == sorted(progress) and progress[-1] == 100 and len(set(progress)) > 10
    assert seen[-1][1] == 124


def test_it_prunes_expired_exports(bulk, data, other_tenant):
    """prune_exports deletes expired jobs with their files, in every tenant, and nothing else."""
    old_url, old = kick(bulk)
    new_url, new = kick(bulk)
    assert bulk.status(old_url).status_code == 200 and bulk.status(new_url).status_code == 200
    with tenant_scope(data):
        ExportJob.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    call_command("prune_exports", "--no-resume")
    with tenant_scope(data):
        assert list(ExportJob.objects.values_list("pk", flat=True)) == [new.pk]
    assert not (data.files_dir / "exports" / str(old.uuid)).exists()
    assert (data.files_dir / "exports" / str(new.uuid)).exists()


def test_it_uses_the_payers_expiry(bulk, data):
    """A payer's ExportPolicy sets how long a finished export lives."""
    with tenant_scope(data):
        ExportPolicy.objects.create(expiry_minutes=5)
    url, job = kick(bulk)
    with tenant_scope(data):
        job.refresh_from_db()
    assert timedelta(minutes=4) < job.expires_at - timezone.now() <= timedelta(minutes=5)


def test_it_queues_stale_jobs_again(bulk, data, queued, monkeypatch):
    """A job whose worker died is queued again by the periodic task; the claim then succeeds."""
    from sandbox.bulk import tasks

    url, job = kick(bulk)
    with tenant_scope(data):
        ExportJob.objects.filter(pk=job.pk).update(
            status="running", attempts=1, heartbeat_at=timezone.now() - timedelta(minutes=5)
        )
    sent = []
    monkeypatch.setattr(tasks.run_export_task, "delay", lambda *args: sent.append(args))
    assert tasks.prune_exports_task() == {"pruned": 0, "resumed": 1}
    assert sent == [(data.pk, job.pk)]
    run(data, job.pk)
    assert bulk.status(url).status_code == 200


def test_it_offers_a_service_for_other_operations(rf, data):
    """start_export with patient_ids and a member_filter: what $davinci-data-export builds on."""
    from tests.bulk.conftest import client_token

    client_token(data, "provider")
    with tenant_scope(data):
        from oauth2_provider.models import get_application_model

        application = get_application_model().objects.get(name="provider")
        job = export.start_export(
            tenant=data,
            application=application,
            level="group",
            params={"_type": ["Patient", "Coverage"], "_since": None, "patient": None},
            request_url="http://testserver/t/acme/fhir/Group/g1/$davinci-data-export",
            group_id="g1",
            patient_ids=["p0", "p1", "p2"],
            member_filter="tests.bulk.test_engine.drop_p1",
            operation="davinci-data-export",
        )
    run(data, job.pk)
    with tenant_scope(data):
        job.refresh_from_db()
        assert job.status == "completed" and job.state["members"] == ["p0"]
        assert sorted((f.resource_type, f.count) for f in job.files.all()) == [("Coverage", 1), ("Patient", 1)]


def drop_p1(tenant, job, patient_ids):
    """A member filter (opt-out) for the test above."""
    return [p for p in patient_ids if p != "p1"]
