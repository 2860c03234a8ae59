"""Resetting a payer's data back to its seed: a job with progress, from the dashboard."""

import pytest

from sandbox.fhirstore import store
from sandbox.fhirstore.models import Resource
from sandbox.seeding import populate
from tenants import provisioning
from tenants.context import tenant_scope
from tenants.models import TenantJob

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("seeding_only")]


@pytest.fixture
def provisioned(user):
    """A payer created through provisioning with 5 members and seed 4, owned by Alice."""
    tenant, job = provisioning.create_payer(
        name="Reset Health", slug="reset", owner=user, params={"members": 5, "seed": 4}
    )
    provisioning.provision(tenant, job.pk)
    tenant.refresh_from_db()
    return tenant


def _contents(tenant):
    marker = '"lastUpdated":"'
    with tenant_scope(tenant):
        rows = Resource.objects.filter(deleted=False).values_list("resource_type", "fhir_id", "content")
        return {(t, i): c.split(marker, 1)[0] + c.split(marker, 1)[1][24:] for t, i, c in rows}


def test_it_resets_edited_data_to_the_seed(member_client, provisioned, django_capture_on_commit_callbacks):
    before = _contents(provisioned)
    with tenant_scope(provisioned):
        store.delete("Patient", "pat-000001")
        store.update("Patient", "extra", {"resourceType": "Patient", "id": "extra", "gender": "male"})
    with django_capture_on_commit_callbacks(execute=True):
        response = member_client.post("/payers/reset/data/reset/")
    assert response.status_code == 302
    assert _contents(provisioned) == before
    job = populate.latest_reset_job(provisioned)
    assert (job.kind, job.status, job.progress) == (TenantJob.Kind.RESET, TenantJob.Status.SUCCEEDED, 100)
    assert job.params["members"] == 5 and job.params["seed"] == 4
    progress = member_client.get("/payers/reset/data/reset/progress/").json()
    assert progress["job"]["status"] == "succeeded" and progress["job"]["message"] == "Data reset to its seed"


def test_it_reports_progress_per_member(provisioned, monkeypatch):
    seen = []
    job, created = populate.create_reset_job(provisioned)
    assert created
    monkeypatch.setattr(populate, "CHUNK_RESOURCES", 200)

    real_report = populate.seed_tenant

    def spy(tenant, **kwargs):
        report = kwargs.pop("report")

        def recording(fraction, message):
            seen.append(message)
            report(fraction, message)

        return real_report(tenant, report=recording, **kwargs)

    monkeypatch.setattr(populate, "seed_tenant", spy)
    populate.reset_tenant(provisioned, job.pk)
    assert any(m.startswith("Seeding member") and m.endswith("of 5") for m in seen)
    assert seen[-1].startswith("Seeded 5 members")


def test_it_runs_one_reset_at_a_time(provisioned):
    first, created = populate.create_reset_job(provisioned)
    second, created_again = populate.create_reset_job(provisioned)
    assert created and not created_again and first.pk == second.pk
    populate.reset_tenant(provisioned, first.pk)
    populate.reset_tenant(provisioned, first.pk)  # a duplicate delivery does nothing
    with tenant_scope(provisioned):
        assert TenantJob.objects.get(pk=first.pk).status == TenantJob.Status.SUCCEEDED


def test_it_replaces_a_reset_whose_worker_died(provisioned):
    from datetime import timedelta

    from django.utils import timezone

    dead, _ = populate.create_reset_job(provisioned)
    with tenant_scope(provisioned):
        TenantJob.objects.filter(pk=dead.pk).update(
            status=TenantJob.Status.RUNNING, heartbeat_at=timezone.now() - timedelta(hours=1)
        )
    fresh, created = populate.create_reset_job(provisioned)
    assert created and fresh.pk != dead.pk
    with tenant_scope(provisioned):
        assert TenantJob.objects.get(pk=dead.pk).status == TenantJob.Status.FAILED


def test_it_records_a_failed_reset(provisioned, monkeypatch):
    job, _ = populate.create_reset_job(provisioned)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(populate, "seed_tenant", broken)
    populate.reset_tenant(provisioned, job.pk)
    job = populate.latest_reset_job(provisioned)
    assert job.status == TenantJob.Status.FAILED and "disk full" in job.error


def test_it_shows_the_reset_card_with_the_seed(member_client, provisioned):
    response = member_client.get("/payers/reset/data/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "5 members from seed <code>4</code>" in body
    assert "Reset to seed" in body


def test_it_hides_reset_from_non_members(client, provisioned, other_user):
    client.force_login(other_user)
    assert client.post("/payers/reset/data/reset/").status_code == 404
    assert client.get("/payers/reset/data/reset/progress/").status_code == 404
    assert client.get("/payers/reset/data/").status_code == 404
    assert populate.latest_reset_job(provisioned) is None
