"""The payer's export page: jobs with progress, client, parameters, files; cancel; expiry."""

import pytest

from sandbox.bulk.models import ExportJob, ExportPolicy
from tenants.context import tenant_scope


@pytest.fixture
def finished(bulk, data):
    url = bulk.kickoff("$export", {"_type": "Patient"})["Content-Location"]
    assert bulk.status(url).status_code == 200
    return url.rsplit("/", 1)[1]


def test_it_lists_a_payers_exports(member_client, finished):
    """Members see each job with its client, parameters and status, and the payer page links here."""
    page = member_client.get("/payers/acme/exports/")
    assert page.status_code == 200
    html = page.content.decode()
    assert finished in html and "mint_token" in html and "_type=Patient" in html and "Completed" in html
    assert 'id="exports-link"' in member_client.get("/payers/acme/").content.decode()


def test_it_shows_a_jobs_manifest_and_parameters(member_client, finished):
    """The detail page lists the files with their counts, the request and transactionTime."""
    html = member_client.get(f"/payers/acme/exports/{finished}/").content.decode()
    assert "Patient.1.ndjson" in html and "$export?_type=Patient" in html and "transactionTime" in html


def test_it_serves_live_progress(member_client, bulk, data, queued):
    """The list polls a JSON endpoint with each job's status and progress."""
    url = bulk.kickoff("$export")["Content-Location"]
    jobs = member_client.get("/payers/acme/exports/progress/").json()["jobs"]
    assert jobs[0]["uuid"] == url.rsplit("/", 1)[1] and jobs[0]["status"] == "queued" and jobs[0]["active"]


def test_it_lets_a_member_cancel(member_client, bulk, data, queued):
    """Cancel from the dashboard: the job is cancelled and the client's next poll gets 404."""
    url = bulk.kickoff("$export")["Content-Location"]
    job_uuid = url.rsplit("/", 1)[1]
    response = member_client.post(f"/payers/acme/exports/{job_uuid}/cancel/")
    assert response.status_code == 302
    with tenant_scope(data):
        assert ExportJob.objects.get(uuid=job_uuid).status == "cancelled"
    assert bulk.status(url).status_code == 404


def test_it_sets_the_expiry(member_client, tenant):
    """Members set how long finished exports live."""
    assert member_client.post("/payers/acme/exports/settings/", {"expiry_minutes": "15"}).status_code == 302
    member_client.post("/payers/acme/exports/settings/", {"expiry_minutes": "0"})
    with tenant_scope(tenant):
        assert ExportPolicy.expiry_minutes_for(tenant) == 15


def test_it_hides_exports_from_non_members(client, other_user, finished):
    """Another payer's user gets 404 on every page and action; anonymous users are sent to sign in."""
    assert client.get("/payers/acme/exports/").status_code == 302
    client.force_login(other_user)
    assert client.get("/payers/acme/exports/").status_code == 404
    assert client.get("/payers/acme/exports/progress/").status_code == 404
    assert client.get(f"/payers/acme/exports/{finished}/").status_code == 404
    assert client.post(f"/payers/acme/exports/{finished}/cancel/").status_code == 404
    assert client.post("/payers/acme/exports/settings/", {"expiry_minutes": "1"}).status_code == 404
