import gzip
import json

import pytest

from sandbox.fhirstore import store
from sandbox.oauth.tokens import mint_token
from tenants.context import tenant_scope

FHIR = "application/fhir+json"


def on_commit():
    """Tests run inside one transaction: run the request's on-commit work (the eager export
    task, file removal) when the request ends, as a real commit would."""
    from django.test import TestCase

    return TestCase.captureOnCommitCallbacks(execute=True)


def population(n=3, prefix="p"):
    """n members with Coverage (payor Organization), an EOB (provider Practitioner) and an
    Observation each, plus the shared Organization, Practitioner and a Group of them all."""
    yield {"resourceType": "Organization", "id": "payer-org", "name": "Acme Payer"}
    yield {"resourceType": "Organization", "id": "unreferenced-org", "name": "Nobody refers to me"}
    yield {"resourceType": "Practitioner", "id": "dr1", "name": [{"family": "Who"}]}
    for i in range(n):
        pid = f"{prefix}{i}"
        yield {"resourceType": "Patient", "id": pid, "name": [{"family": f"Member{i}"}], "gender": "female"}
        yield {
            "resourceType": "Coverage",
            "id": f"cov-{pid}",
            "status": "active",
            "beneficiary": {"reference": f"Patient/{pid}"},
            "payor": [{"reference": "Organization/payer-org"}],
        }
        yield {
            "resourceType": "Observation",
            "id": f"obs-{pid}",
            "status": "final" if i % 2 == 0 else "preliminary",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "subject": {"reference": f"Patient/{pid}"},
            "performer": [{"reference": "Practitioner/dr1"}],
        }
    yield {
        "resourceType": "Group",
        "id": "g1",
        "type": "person",
        "actual": True,
        "member": [{"entity": {"reference": f"Patient/{prefix}{i}"}} for i in range(n - 1)],
    }


def load(tenant, resources):
    with tenant_scope(tenant):
        return store.bulk_load(list(resources))


@pytest.fixture
def data(tenant):
    """acme: 3 patients (p0..p2), a Group g1 of p0 and p1, and the resources around them."""
    load(tenant, population())
    return tenant


class Bulk:
    """Test client for one tenant's Bulk Data endpoints with a bearer token."""

    def __init__(self, client, tenant, token):
        self.client = client
        self.tenant = tenant
        self.token = token
        self.base = f"/t/{tenant.slug}/fhir"

    def auth(self, token=None):
        token = self.token if token is None else token
        return {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}

    def kickoff(self, path="$export", params=None, lenient=False, token=None, **extra):
        headers = {"HTTP_ACCEPT": FHIR, "HTTP_PREFER": "respond-async" + (", handling=lenient" if lenient else "")}
        with on_commit():
            return self.client.get(f"{self.base}/{path}", params or {}, **{**headers, **self.auth(token), **extra})

    def kickoff_post(self, path, parameters, lenient=False, token=None, **extra):
        headers = {"HTTP_ACCEPT": FHIR, "HTTP_PREFER": "respond-async" + (", handling=lenient" if lenient else "")}
        body = {"resourceType": "Parameters", "parameter": parameters}
        with on_commit():
            return self.client.post(
                f"{self.base}/{path}", json.dumps(body), content_type=FHIR, **{**headers, **self.auth(token), **extra}
            )

    def status(self, url, token=None, **extra):
        return self.client.get(url, HTTP_ACCEPT="application/json", **{**self.auth(token), **extra})

    def delete(self, url, token=None):
        with on_commit():
            return self.client.delete(url, **self.auth(token))

    def file(self, url, token=None, **extra):
        return self.client.get(url, **{**self.auth(token), **extra})

    def lines(self, url, token=None):
        response = self.file(url, token)
        assert response.status_code == 200, response
        body = b"".join(response.streaming_content)
        if response.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        return [json.loads(line) for line in body.decode().splitlines()]

    def run(self, path="$export", params=None, lenient=False, **extra):
        """Kick off (the eager task runs on commit) and return the manifest."""
        response = self.kickoff(path, params, lenient=lenient, **extra)
        assert response.status_code == 202, response.content
        status = self.status(response["Content-Location"])
        assert status.status_code == 200, status.content
        return status.json()

    def export(self, path="$export", params=None, lenient=False):
        """Run an export and return {type: [resources]} from every output file."""
        manifest = self.run(path, params, lenient)
        out = {}
        for item in manifest["output"]:
            out.setdefault(item["type"], []).extend(self.lines(item["url"]))
        return out


@pytest.fixture
def token(tenant):
    return mint_token(tenant, "system/*.read").token


@pytest.fixture
def bulk(client, tenant, token):
    return Bulk(client, tenant, token)


def ids(resources):
    return sorted(r["id"] for r in resources)


def client_token(tenant, name, scope="system/*.read"):
    """A token of another client of `tenant` (mint_token always uses its own client)."""
    import secrets
    from datetime import timedelta

    from django.utils import timezone
    from oauth2_provider.models import get_access_token_model, get_application_model

    Application = get_application_model()
    with tenant_scope(tenant):
        application = Application.objects.create(
            name=name,
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
            redirect_uris="",
        )
        return (
            get_access_token_model()
            .objects.create(
                application=application,
                token=secrets.token_urlsafe(32),
                scope=scope,
                expires=timezone.now() + timedelta(hours=1),
            )
            .token
        )


@pytest.fixture
def other_client_token(tenant):
    return client_token(tenant, "another client")


@pytest.fixture
def other_tenant_token(other_tenant):
    return mint_token(other_tenant, "system/*.read").token


@pytest.fixture
def queued(monkeypatch):
    """Kick-offs stay queued: no task runs (a worker that has not picked the job up yet)."""
    from sandbox.bulk.tasks import run_export_task

    monkeypatch.setattr(run_export_task, "delay_on_commit", lambda *args, **kwargs: None)
