import json

import pytest
from django.core.management import CommandError, call_command

from sandbox.oauth.models import Application
from tenants import provisioning
from tenants.context import tenant_scope
from tenants.models import Tenant, TenantJob


@pytest.fixture
def steps(monkeypatch):
    """Swap the registered steps for the test's own, restoring them afterwards."""
    registry = dict(provisioning._steps)
    monkeypatch.setattr(provisioning, "_steps", registry)
    return registry


def _new_payer(slug="gamma"):
    return provisioning.create_payer(name="Gamma", slug=slug)


@pytest.mark.django_db
def test_it_runs_every_step_and_marks_the_payer_ready(steps):
    ran = []
    provisioning.register_step("first", lambda t, j, report: ran.append("first"), order=10)
    provisioning.register_step("second", lambda t, j, report: ran.append("second"), order=20)
    tenant, job = _new_payer()
    provisioning.provision(tenant, job.pk)
    tenant.refresh_from_db()
    assert ran == ["first", "second"]
    assert tenant.status == Tenant.Status.READY
    job = provisioning.latest_job(tenant)
    assert (job.status, job.progress, job.message) == (TenantJob.Status.SUCCEEDED, 100, "Ready")
    assert tenant.files_dir.is_dir()


@pytest.mark.django_db
def test_it_reports_progress_within_a_step(steps):
    seen = []

    def slow_step(tenant, job, report):
        for i in range(1, 5):
            report(i / 4, f"Seeding member {i} of 4")
            seen.append(provisioning.latest_job(tenant).progress)

    steps.clear()
    provisioning.register_step("Seed", slow_step, weight=1)
    tenant, job = _new_payer()
    provisioning.provision(tenant, job.pk)
    assert seen == [25, 50, 75, 99]  # 100 only once the whole job succeeded


@pytest.mark.django_db
def test_it_wipes_a_failed_payer_and_records_why(steps):
    def writes_then_fails(tenant, job, report):
        with tenant_scope(tenant):
            Application.objects.create(
                name="left behind?", client_type="confidential", authorization_grant_type="client-credentials"
            )
        (tenant.files_dir / "partial.ndjson").write_text("{}")
        raise RuntimeError("the seed file is corrupt")

    provisioning.register_step("Seed data", writes_then_fails, order=90)
    tenant, job = _new_payer()
    provisioning.provision(tenant, job.pk)
    tenant.refresh_from_db()
    assert tenant.status == Tenant.Status.FAILED
    job = provisioning.latest_job(tenant)
    assert job.status == TenantJob.Status.FAILED
    assert "Step 'Seed data' failed: the seed file is corrupt" in job.error
    with tenant_scope(tenant):
        assert not Application.objects.exists()
    assert not tenant.files_dir.exists()


@pytest.mark.django_db
def test_it_shows_the_failure_on_the_payer_page_and_retries(steps, client, user, django_capture_on_commit_callbacks):
    calls = []

    def flaky(tenant, job, report):
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("upstream catalog unavailable")

    provisioning.register_step("Load catalog", flaky)
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/payers/new/", {"name": "Flaky Health", "slug": "flaky", "pdex_version": "2.0"})
    page = client.get("/payers/flaky/").content.decode()
    assert "Creation failed" in page and "upstream catalog unavailable" in page
    assert client.get("/t/flaky/fhir/metadata").status_code == 503

    with django_capture_on_commit_callbacks(execute=True):
        client.post("/payers/flaky/retry/")
    assert Tenant.objects.get(slug="flaky").status == Tenant.Status.READY
    assert "Creation failed" not in client.get("/payers/flaky/").content.decode()


@pytest.mark.django_db
def test_it_ignores_a_duplicate_delivery_of_the_same_job(steps):
    ran = []
    steps.clear()
    provisioning.register_step("count", lambda t, j, report: ran.append(1))
    tenant, job = _new_payer()
    provisioning.provision(tenant, job.pk)
    provisioning.provision(tenant, job.pk)
    assert ran == [1]


@pytest.mark.django_db
def test_it_reclaims_a_job_whose_worker_died(steps):
    from django.utils import timezone

    ran = []
    steps.clear()
    provisioning.register_step("count", lambda t, j, report: ran.append(1))
    tenant, job = _new_payer()
    long_ago = timezone.now() - provisioning.STALE_AFTER * 2
    with tenant_scope(tenant):
        TenantJob.objects.filter(pk=job.pk).update(status="running", started_at=long_ago, heartbeat_at=long_ago)
    provisioning.provision(tenant, job.pk)
    assert ran == [1]
    assert Tenant.objects.get(pk=tenant.pk).status == Tenant.Status.READY


@pytest.mark.django_db
def test_it_leaves_a_running_job_with_a_live_worker_alone(steps):
    from django.utils import timezone

    ran = []
    steps.clear()
    provisioning.register_step("count", lambda t, j, report: ran.append(1))
    tenant, job = _new_payer()
    with tenant_scope(tenant):
        TenantJob.objects.filter(pk=job.pk).update(status="running", heartbeat_at=timezone.now())
    provisioning.provision(tenant, job.pk)
    assert ran == []


@pytest.mark.django_db
def test_create_payer_command_prints_the_urls_as_json(capsys, user):
    call_command("create_payer", "omega-health", "--owner", "alice", "--members", "10", "--seed", "7")
    out = json.loads(capsys.readouterr().out)
    assert out["slug"] == "omega-health" and out["status"] == "ready"
    assert out["fhir_base_url"].endswith("/t/omega-health/fhir")
    tenant = Tenant.objects.get(slug="omega-health")
    assert tenant.memberships.get().user == user
    assert provisioning.latest_job(tenant).params == {"members": 10, "seed": 7}


@pytest.mark.django_db
@pytest.mark.parametrize("args, message", [(["Bad_Slug"], "slug"), (["x1", "--owner", "nobody"], "No user named")])
def test_create_payer_command_explains_bad_input(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_payer", *args)
    assert not Tenant.objects.exists()


@pytest.mark.django_db
def test_create_payer_command_refuses_too_few_members_up_front():
    with pytest.raises(CommandError, match="--members must be between 4 and"):
        call_command("create_payer", "tiny-payer", "--members", "3")
    assert not Tenant.objects.exists()
