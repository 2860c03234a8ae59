"""An upload loaded by a real Celery worker process on PostgreSQL and Redis, with live progress."""

import json
import os
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from sandbox.fhirstore.models import Resource
from sandbox.seeding import uploads
from tenants.context import tenant_scope
from tenants.models import TenantJob

pytestmark = [pytest.mark.celery, pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

MEMBERS = 5000


def test_a_worker_process_loads_an_upload_and_reports_progress(celery_worker_process, member_client, tenant):
    lines = "".join(
        json.dumps({"resourceType": "Patient", "id": f"w{i}", "name": [{"family": "Worker"}], "gender": "male"}) + "\n"
        for i in range(MEMBERS)
    )
    upload = SimpleUploadedFile("many.ndjson", lines.encode())
    response = member_client.post("/payers/acme/data/upload/", {"files": [upload]})
    assert response.status_code == 302

    seen = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = member_client.get("/payers/acme/data/upload/progress/").json()["job"]
        seen.append((job["status"], job["progress"], job["message"]))
        if job["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.05)
    assert seen[-1] == ("succeeded", 100, f"Loaded {MEMBERS:,} resources ({MEMBERS:,} created, 0 updated).")
    live = [(progress, message) for status, progress, message in seen if status == "running"]
    reported = ("Validating:", "Writing:")
    assert any(0 < progress < 100 and message.startswith(reported) for progress, message in live), seen

    job = uploads.latest_load_job(tenant)
    assert int(job.claimed_by.rsplit(":", 1)[1]) == celery_worker_process.pid != os.getpid()
    assert not uploads.job_dir(tenant, job).exists()
    with tenant_scope(tenant):
        assert Resource.objects.filter(resource_type="Patient", fhir_id__startswith="w").count() == MEMBERS
    assert job.status == TenantJob.Status.SUCCEEDED
