"""Payer creation through a real Celery worker process on PostgreSQL and Redis."""

import os
import time

import pytest
from django.urls import reverse

from tenants import provisioning
from tenants.models import Tenant, TenantJob

pytestmark = [pytest.mark.celery, pytest.mark.postgres, pytest.mark.redis]


def _wait_until(predicate, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return predicate()


def test_it_creates_a_payer_in_another_process(celery_worker_process, client, user):
    client.force_login(user)
    response = client.post(
        reverse("payer-create"), {"name": "Async Health", "slug": "async-health", "pdex_version": "2.0"}
    )
    assert response.status_code == 302

    ready = _wait_until(lambda: Tenant.objects.get(slug="async-health").status != Tenant.Status.PROVISIONING)
    tenant = Tenant.objects.get(slug="async-health")
    assert ready and tenant.status == Tenant.Status.READY
    job = provisioning.latest_job(tenant)
    assert job.status == TenantJob.Status.SUCCEEDED
    host, pid = job.claimed_by.rsplit(":", 1)
    assert int(pid) == celery_worker_process.pid != os.getpid()
    assert "Connection" in client.get(reverse("payer-detail", args=["async-health"])).content.decode()
