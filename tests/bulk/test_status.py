"""The status URL: progress, manifest, errors, expiry (Bulk Data §2, §4)."""

from datetime import timedelta

from django.utils import timezone

from sandbox.bulk.models import ExportJob
from tenants.context import tenant_scope


def kick(bulk, path="$export", params=None):
    response = bulk.kickoff(path, params)
    assert response.status_code == 202
    return response["Content-Location"]


def job_at(tenant, url):
    with tenant_scope(tenant):
        return ExportJob.objects.get(uuid=url.rsplit("/", 1)[1])


def test_it_answers_202_with_progress_while_queued(bulk, data, queued):
    """Before a worker picks the job up: 202, X-Progress and an integer Retry-After."""
    response = bulk.status(kick(bulk))
    assert response.status_code == 202
    assert response["X-Progress"].startswith("queued") and len(response["X-Progress"]) < 100
    assert response["Retry-After"] == "1"


def test_it_answers_202_with_percent_while_running(bulk, data, queued):
    """A running job reports its percentage and the resources written so far."""
    url = kick(bulk)
    with tenant_scope(data):
        ExportJob.objects.filter(uuid=url.rsplit("/", 1)[1]).update(status="running", progress=40, resources_written=7)
    response = bulk.status(url)
    assert response.status_code == 202 and response["X-Progress"] == "40% complete, 7 resources"
    assert int(response["Retry-After"]) >= 1


def test_it_returns_the_manifest_when_complete(bulk, data):
    """200 JSON manifest: transactionTime, request, requiresAccessToken, absolute output URLs with counts, error []."""
    url = kick(bulk, "$export", {"_type": "Patient,Coverage"})
    response = bulk.status(url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    manifest = response.json()
    job = job_at(data, url)
    assert manifest["transactionTime"] == job.transaction_time.strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{job.transaction_time.microsecond // 1000:03d}Z"
    )
    assert manifest["request"] == "http://testserver/t/acme/fhir/$export?_type=Patient%2CCoverage"
    assert manifest["requiresAccessToken"] is True
    assert manifest["error"] == [] and "deleted" not in manifest
    assert sorted((o["type"], o["count"]) for o in manifest["output"]) == [("Coverage", 3), ("Patient", 3)]
    assert all(o["url"].startswith("http://testserver/t/acme/bulk/jobs/") for o in manifest["output"])
    assert response["Expires"].endswith("GMT")


def test_it_returns_an_empty_output_array_when_nothing_matches(bulk, data):
    """`output` is [] when no resource matched, and `deleted` [] for a _since export without deletions."""
    manifest = bulk.run("$export", {"_since": "2000-01-01T00:00:00Z", "_type": "Group", "_typeFilter": "Group?_id=x"})
    assert manifest["output"] == [] and manifest["deleted"] == [] and manifest["error"] == []


def test_it_reports_a_failed_job_as_an_operation_outcome(bulk, data, queued):
    """A failed job: its error status (5xx here) and an OperationOutcome body (§2.3)."""
    url = kick(bulk)
    with tenant_scope(data):
        ExportJob.objects.filter(uuid=url.rsplit("/", 1)[1]).update(status="failed", error="disk full")
    response = bulk.status(url)
    assert response.status_code == 500
    body = response.json()
    assert body["resourceType"] == "OperationOutcome" and "disk full" in body["issue"][0]["diagnostics"]


def test_it_fails_the_job_when_the_engine_raises(bulk, data, monkeypatch):
    """An exception in the worker marks the job failed and removes its files."""
    from sandbox.bulk import export

    def boom(*args, **kwargs):
        raise RuntimeError("the disk caught fire")

    monkeypatch.setattr(export, "stream_rows", boom)
    url = kick(bulk)
    response = bulk.status(url)
    assert response.status_code == 500 and "caught fire" in response.json()["issue"][0]["diagnostics"]
    job = job_at(data, url)
    assert job.status == "failed"
    assert not (data.files_dir / "exports" / str(job.uuid)).exists()


def test_it_answers_404_for_an_expired_job(bulk, data):
    """After its expiry a job answers 404 with an OperationOutcome, even before it is pruned."""
    url = kick(bulk)
    with tenant_scope(data):
        ExportJob.objects.filter(uuid=url.rsplit("/", 1)[1]).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = bulk.status(url)
    assert response.status_code == 404 and response.json()["resourceType"] == "OperationOutcome"


def test_it_answers_404_for_an_unknown_job(bulk, data):
    """A well-formed but unknown job id."""
    response = bulk.status("/t/acme/bulk/jobs/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404 and response.json()["resourceType"] == "OperationOutcome"


def test_it_needs_a_token(bulk, data):
    """No token on the status URL: 401 with a Bearer challenge."""
    url = kick(bulk)
    response = bulk.status(url, token="")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")


def test_it_refuses_another_clients_token(bulk, data, other_client_token):
    """Only the client that started the export may poll it (§2.1 MAY)."""
    url = kick(bulk)
    response = bulk.status(url, token=other_client_token)
    assert response.status_code == 403 and response.json()["resourceType"] == "OperationOutcome"
    assert bulk.delete(url, token=other_client_token).status_code == 403
    assert bulk.status(url).status_code == 200


def test_it_refuses_another_tenants_token(bulk, data, other_tenant_token, other_tenant):
    """A beta token is unknown at acme (401); at beta's URL, acme's job does not exist (404)."""
    url = kick(bulk)
    assert bulk.status(url, token=other_tenant_token).status_code == 401
    assert bulk.status(url.replace("/t/acme/", "/t/beta/"), token=other_tenant_token).status_code == 404
