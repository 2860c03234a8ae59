"""An attributed download built by a real Celery worker process (PostgreSQL + Redis, marker celery)."""

import os
import time

import pytest

from sandbox.bulk.models import ExportJob
from tests.attribution.conftest import NPI_A, Bulk
from tests.attribution.test_export import by_type

pytestmark = [pytest.mark.celery, pytest.mark.postgres, pytest.mark.redis]


def test_it_exports_the_attribution_in_another_process(celery_worker_process, data, client, system_token, in_tenant):
    """Kick-off answers at once; the worker applies the attribution and the opt-out filter."""
    bulk = Bulk(client, data, system_token(data, NPI_A))
    response = client.post(
        "/t/acme/fhir/Group/atr-a/$davinci-data-export",
        '{"resourceType": "Parameters", "parameter": []}',
        content_type="application/fhir+json",
        HTTP_PREFER="respond-async",
        **bulk.auth(),
    )
    assert response.status_code == 202, response.content
    deadline = time.monotonic() + 60
    while (status := bulk.status(response["Content-Location"])).status_code == 202 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert status.status_code == 200, status.content
    out = by_type(bulk, status.json())
    assert out["Patient"] == ["p1", "p2"] and out["Observation"] == ["obs-p1", "obs-p2"]
    with in_tenant(data):
        job = ExportJob.objects.get()
    assert int(job.claimed_by.rsplit(":", 1)[1]) == celery_worker_process.pid != os.getpid()
