"""DELETE on the status URL: cancel a job, or remove a finished one (Bulk Data §4)."""

from sandbox.bulk.models import ExportFile, ExportJob
from tenants.context import tenant_scope


def test_it_removes_a_finished_export(bulk, data):
    """202, then every poll gets 404 with an OperationOutcome, and the files are gone."""
    response = bulk.kickoff("$export")
    url = response["Content-Location"]
    manifest = bulk.status(url).json()
    file_url = manifest["output"][0]["url"]
    deleted = bulk.delete(url)
    assert deleted.status_code == 202 and deleted.json()["resourceType"] == "OperationOutcome"
    again = bulk.status(url)
    assert again.status_code == 404 and again.json()["resourceType"] == "OperationOutcome"
    assert bulk.file(file_url).status_code == 404
    with tenant_scope(data):
        job = ExportJob.objects.get(uuid=url.rsplit("/", 1)[1])
        assert job.status == "cancelled" and not ExportFile.objects.filter(job=job).exists()
    assert not (data.files_dir / "exports" / str(job.uuid)).exists()


def test_it_cancels_a_queued_export(bulk, data, queued):
    """A job no worker has started is cancelled; a worker that gets it later does nothing."""
    from sandbox.bulk import export
    from tenants.context import activate, deactivate

    url = bulk.kickoff("$export")["Content-Location"]
    assert bulk.delete(url).status_code == 202
    assert bulk.status(url).status_code == 404
    with tenant_scope(data):
        job = ExportJob.objects.get(uuid=url.rsplit("/", 1)[1])
    token = activate(data)
    try:
        export.run_export(job.pk)
    finally:
        deactivate(token)
    with tenant_scope(data):
        assert ExportJob.objects.get(pk=job.pk).status == "cancelled"


def test_it_answers_404_to_a_second_delete(bulk, data):
    """After a DELETE the status URL is gone, for DELETE too."""
    url = bulk.kickoff("$export")["Content-Location"]
    assert bulk.delete(url).status_code == 202
    assert bulk.delete(url).status_code == 404
