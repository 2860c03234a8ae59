"""Uploads from the dashboard: stored, queued and loaded by a worker, with progress and a report."""

import json
import os
import time
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from sandbox.fhirstore.models import Resource
from sandbox.seeding import loaders, uploads
from tenants.context import tenant_scope
from tenants.models import TenantJob
from tests.factories import MembershipFactory, TenantFactory

pytestmark = pytest.mark.django_db

UPLOAD = "/payers/acme/data/upload/"
PROGRESS = "/payers/acme/data/upload/progress/"


@pytest.fixture(autouse=True)
def files_dir(settings, tmp_path):
    """Each test's own TENANT_FILES_DIR: tenant ids come round again from test to test."""
    settings.TENANT_FILES_DIR = tmp_path


def patient(fhir_id, family="Loaded"):
    return {"resourceType": "Patient", "id": fhir_id, "name": [{"family": family}], "gender": "female"}


def ndjson_file(name, *resources):
    return SimpleUploadedFile(name, "".join(json.dumps(r) + "\n" for r in resources).encode())


def stored(tenant):
    with tenant_scope(tenant):
        return set(Resource.objects.filter(deleted=False).values_list("resource_type", "fhir_id"))


def load_jobs(tenant):
    with tenant_scope(tenant):
        return list(TenantJob.objects.filter(kind=TenantJob.Kind.LOAD))


def test_a_worker_loads_the_upload_and_the_page_says_so(member_client, tenant, django_capture_on_commit_callbacks):
    files = [ndjson_file("members.ndjson", patient("up1"), patient("up2")), ndjson_file("more.ndjson", patient("up3"))]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = member_client.post(UPLOAD, {"files": files})
    assert response.status_code == 302 and response["Location"] == UPLOAD
    assert callbacks, "the load is sent to a worker when the request commits"
    assert stored(tenant) == {("Patient", "up1"), ("Patient", "up2"), ("Patient", "up3")}
    [job] = load_jobs(tenant)
    assert job.status == TenantJob.Status.SUCCEEDED and job.progress == 100
    assert job.message == "Loaded 3 resources (3 created, 0 updated)."
    assert [f["name"] for f in job.params["files"]] == ["members.ndjson", "more.ndjson"]
    assert not uploads.job_dir(tenant, job).exists(), "the uploaded copies are removed once loaded"
    page = member_client.get(UPLOAD).content.decode()
    assert "Loaded 3 resources (3 created, 0 updated)." in page and "members.ndjson, more.ndjson" in page
    progress = member_client.get(PROGRESS).json()
    assert progress["job"]["status"] == "succeeded" and progress["job"]["progress"] == 100


def test_the_request_only_queues_the_load(member_client, tenant, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = member_client.post(UPLOAD, {"files": [ndjson_file("m.ndjson", patient("up1"))]})
    assert response.status_code == 302
    assert stored(tenant) == set()
    [job] = load_jobs(tenant)
    assert job.status == TenantJob.Status.QUEUED
    saved = uploads.job_dir(tenant, job) / job.params["files"][0]["stored"]
    assert json.loads(saved.read_text()) == patient("up1")
    page = member_client.get(UPLOAD).content.decode()
    assert 'id="upload-progress"' in page and "Waiting for a worker" in page


def test_a_bad_upload_lists_its_problems_and_loads_nothing(member_client, tenant, django_capture_on_commit_callbacks):
    good = ndjson_file("good.ndjson", patient("up1"))
    bad = SimpleUploadedFile("bad.ndjson", b'{"resourceType": "Patient", "birthDate": "yesterday"}\nnot json\n')
    with django_capture_on_commit_callbacks(execute=True):
        member_client.post(UPLOAD, {"files": [good, bad]})
    assert stored(tenant) == set()
    [job] = load_jobs(tenant)
    assert job.status == TenantJob.Status.FAILED and job.error == "Nothing was loaded: 2 problems."
    assert not uploads.job_dir(tenant, job).exists()
    page = member_client.get(UPLOAD).content.decode()
    assert "Nothing was loaded: 2 problems." in page
    assert "bad.ndjson" in page and "line 1" in page and "birthDate" in page and "line 2" in page
    problems = member_client.get(PROGRESS).json()["job"]["problems"]
    assert [(p["file"], p["where"]) for p in problems] == [("bad.ndjson", "line 1"), ("bad.ndjson", "line 2")]


def test_a_failure_while_writing_loads_nothing(member_client, tenant, monkeypatch, django_capture_on_commit_callbacks):
    real = loaders._write_chunk
    calls = []

    def second_chunk_fails(chunk):
        calls.append(len(chunk))
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(chunk)

    monkeypatch.setattr(loaders, "CHUNK", 2)
    monkeypatch.setattr(loaders, "_write_chunk", second_chunk_fails)
    upload = ndjson_file("m.ndjson", *(patient(f"up{i}") for i in range(5)))
    with django_capture_on_commit_callbacks(execute=True):
        member_client.post(UPLOAD, {"files": [upload]})
    assert len(calls) == 2
    assert stored(tenant) == set(), "the first chunk was rolled back with the second"
    [job] = load_jobs(tenant)
    assert job.status == TenantJob.Status.FAILED and job.error == "Nothing was loaded: disk full"


def test_the_page_shows_a_running_loads_progress(member_client, tenant, django_capture_on_commit_callbacks):
    """A running load reports through its progress file, which the page and the JSON read."""
    with django_capture_on_commit_callbacks(execute=False):
        member_client.post(UPLOAD, {"files": [ndjson_file("m.ndjson", patient("up1"))]})
    [job] = load_jobs(tenant)
    seen = []

    def watch(fraction, message):
        uploads._write_progress(uploads.job_dir(tenant, job), int(100 * fraction), message)
        seen.append(member_client.get(PROGRESS).json()["job"])

    real_load = loaders.load
    try:
        loaders.load = lambda t, sources, report: real_load(t, sources, report=watch)
        uploads.run_load(tenant, job.pk)
    finally:
        loaders.load = real_load
    assert seen and all(s["status"] == "running" for s in seen)
    assert seen[-1]["message"] == "Writing: 1 of 1 resources" and seen[-1]["progress"] == 100


def test_one_load_at_a_time(member_client, tenant, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        member_client.post(UPLOAD, {"files": [ndjson_file("a.ndjson", patient("a"))]})
        response = member_client.post(UPLOAD, {"files": [ndjson_file("b.ndjson", patient("b"))]})
    assert response.status_code == 200
    assert "Nothing was queued: an upload waits for a worker." in response.content.decode()
    [job] = load_jobs(tenant)
    assert [f["name"] for f in job.params["files"]] == ["a.ndjson"]
    assert os.listdir(uploads.job_dir(tenant, job).parent) == [job.params["dir"]]


def test_no_upload_while_a_reset_runs_and_no_reset_while_a_load_runs(
    member_client, tenant, django_capture_on_commit_callbacks
):
    with tenant_scope(tenant):
        reset = TenantJob.objects.create(kind=TenantJob.Kind.RESET, status=TenantJob.Status.RUNNING)
        reset.heartbeat_at = timezone.now()
        reset.save()
    response = member_client.post(UPLOAD, {"files": [ndjson_file("a.ndjson", patient("a"))]})
    assert "the data is being reset" in response.content.decode()
    assert load_jobs(tenant) == []
    # A reset whose worker stopped reporting blocks nothing.
    with tenant_scope(tenant):
        TenantJob.objects.filter(pk=reset.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=6))
    with django_capture_on_commit_callbacks(execute=False):
        response = member_client.post(UPLOAD, {"files": [ndjson_file("a.ndjson", patient("a"))]})
    assert response.status_code == 302
    [load] = load_jobs(tenant)
    with tenant_scope(tenant):
        TenantJob.objects.filter(pk=reset.pk).update(status=TenantJob.Status.SUCCEEDED)
        assert TenantJob.objects.get(pk=load.pk).status == TenantJob.Status.QUEUED
    response = member_client.post("/payers/acme/data/reset/", follow=True)
    assert "An upload is being loaded; reset once it has finished." in response.content.decode()
    with tenant_scope(tenant):
        assert TenantJob.objects.filter(kind=TenantJob.Kind.RESET).count() == 1


def test_a_load_whose_worker_died_gives_way(member_client, tenant, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        member_client.post(UPLOAD, {"files": [ndjson_file("a.ndjson", patient("a"))]})
    [dead] = load_jobs(tenant)
    directory = uploads.job_dir(tenant, dead)
    with tenant_scope(tenant):
        TenantJob.objects.filter(pk=dead.pk).update(status=TenantJob.Status.RUNNING, heartbeat_at=timezone.now())
    uploads._write_progress(directory, 40, "Writing: 2,000 of 5,000 resources")
    old = time.time() - uploads.STALE_AFTER.total_seconds() - 60
    stale = (timezone.now() - uploads.STALE_AFTER - timedelta(minutes=1)).isoformat()
    progress_file = directory / uploads.PROGRESS_FILE
    progress_file.write_text(json.dumps({"progress": 40, "message": "Writing", "at": stale}))
    os.utime(progress_file, (old, old))
    with django_capture_on_commit_callbacks(execute=True):
        response = member_client.post(UPLOAD, {"files": [ndjson_file("b.ndjson", patient("b"))]})
    assert response.status_code == 302
    with tenant_scope(tenant):
        dead.refresh_from_db()
    assert dead.status == TenantJob.Status.FAILED and "stopped reporting" in dead.error
    assert not directory.exists()
    assert stored(tenant) == {("Patient", "b")}


def test_a_live_load_is_not_taken_for_dead(member_client, tenant, django_capture_on_commit_callbacks):
    """Started long ago, but its progress file is fresh: it keeps running."""
    with django_capture_on_commit_callbacks(execute=False):
        member_client.post(UPLOAD, {"files": [ndjson_file("a.ndjson", patient("a"))]})
    [job] = load_jobs(tenant)
    long_ago = timezone.now() - timedelta(hours=1)
    with tenant_scope(tenant):
        TenantJob.objects.filter(pk=job.pk).update(status=TenantJob.Status.RUNNING, heartbeat_at=long_ago)
    uploads._write_progress(uploads.job_dir(tenant, job), 60, "Writing")
    response = member_client.post(UPLOAD, {"files": [ndjson_file("b.ndjson", patient("b"))]})
    assert "an upload is being loaded" in response.content.decode()
    with tenant_scope(tenant):
        job.refresh_from_db()
    assert job.status == TenantJob.Status.RUNNING


def test_a_duplicate_delivery_does_nothing(member_client, tenant, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        member_client.post(UPLOAD, {"files": [ndjson_file("a.ndjson", patient("a", "First"))]})
    [job] = load_jobs(tenant)
    uploads.run_load(tenant, job.pk)
    with tenant_scope(tenant):
        job.refresh_from_db()
    assert job.status == TenantJob.Status.SUCCEEDED and job.message == "Loaded 1 resource (1 created, 0 updated)."
    with tenant_scope(tenant):
        assert Resource.objects.get(fhir_id="a").version_id == 1


def test_it_asks_for_a_file(member_client, tenant):
    response = member_client.post(UPLOAD, {})
    assert response.status_code == 200
    assert "required" in " ".join(response.context["form"].errors["files"])
    assert load_jobs(tenant) == []


def test_another_payers_members_see_nothing(client, tenant, other_user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        client.force_login(tenant.memberships.first().user)
        client.post(UPLOAD, {"files": [ndjson_file("secret-members.ndjson", patient("a"))]})
    MembershipFactory(user=other_user, tenant=TenantFactory(slug="beta", name="Beta Health"))
    client.force_login(other_user)
    assert client.get(UPLOAD).status_code == 404
    assert client.get(PROGRESS).status_code == 404
    assert client.post(UPLOAD, {"files": [ndjson_file("m.ndjson", patient("x"))]}).status_code == 404
    own = client.get("/payers/beta/data/upload/")
    assert own.status_code == 200 and "secret-members" not in own.content.decode()
    assert client.get("/payers/beta/data/upload/progress/").json()["job"] is None
    assert len(load_jobs(tenant)) == 1
