"""Bulk member match on a real Celery worker (PostgreSQL + Redis), as runsandbox runs it."""

import copy
import time

import pytest

from sandbox.seeding.generator import designed_members
from sandbox.seeding.populate import seed_tenant
from tests.factories import TenantFactory
from tests.payer2payer.conftest import Fhir, make_client, make_token

pytestmark = [pytest.mark.celery, pytest.mark.postgres, pytest.mark.slow]


def test_it_matches_in_bulk_on_a_worker(celery_worker_process, client):
    tenant = TenantFactory(slug="worker-payer", name="Worker Payer", pdex_version="2.2")
    seed_tenant(tenant, members=4, seed=5, validate=False)
    designed = {d["key"]: d for d in designed_members(slug=tenant.slug, name=tenant.name, seed=5, members=4)}
    api = Fhir(client, tenant.slug, make_token(tenant, make_client(tenant)))
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "MemberBundle", "part": copy.deepcopy(designed[key]["request"]["parameter"])}
            for key in ("unique", "no-match")
        ],
    }
    response = api.post("Group/$bulk-member-match", body, HTTP_PREFER="respond-async")
    assert response.status_code == 202, response.content
    status_path = response["Content-Location"].split("/fhir/", 1)[1]
    deadline = time.monotonic() + 60
    while (status := api.get(status_path)).status_code == 202:
        assert "members matched" in status["X-Progress"]
        assert time.monotonic() < deadline, "the worker did not finish the bulk match"
        time.sleep(0.5)
    assert status.status_code == 200, status.content
    groups = api.get(f"{status_path}/Group.ndjson").content.decode().splitlines()
    assert len(groups) == 2
