import json
from pathlib import Path

import pytest

from sandbox.oauth.tokens import mint_token

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "fhir"
FHIR = "application/fhir+json"


def fixture(name):
    """A FHIR example resource from tests/fixtures/fhir/ as a dict."""
    return json.loads((FIXTURES / name).read_text())


class Api:
    """Django test client bound to one tenant's FHIR base, with an optional bearer token."""

    def __init__(self, client, slug, token=None):
        self.client = client
        self.base = f"/t/{slug}/fhir"
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}

    def url(self, path):
        return f"{self.base}/{path}" if path else f"{self.base}/"

    def get(self, path, params=None, **extra):
        return self.client.get(self.url(path), params or {}, **{**self.headers, **extra})

    def post(self, path, body=None, content_type=FHIR, **extra):
        data = json.dumps(body) if isinstance(body, dict | list) else (body or "")
        return self.client.post(self.url(path), data, content_type=content_type, **{**self.headers, **extra})

    def put(self, path, body, content_type=FHIR, **extra):
        data = json.dumps(body) if isinstance(body, dict | list) else body
        return self.client.put(self.url(path), data, content_type=content_type, **{**self.headers, **extra})

    def delete(self, path, **extra):
        return self.client.delete(self.url(path), **{**self.headers, **extra})

    def create(self, resource):
        response = self.post(resource["resourceType"], resource)
        assert response.status_code == 201, response.content
        return response.json()

    def put_resource(self, resource):
        response = self.put(f"{resource['resourceType']}/{resource['id']}", resource)
        assert response.status_code in (200, 201), response.content
        return response.json()


@pytest.fixture
def token(tenant):
    return mint_token(tenant, "system/*.read system/*.write").token


@pytest.fixture
def api(client, tenant, token):
    return Api(client, tenant.slug, token)


@pytest.fixture
def anonymous(client, tenant):
    return Api(client, tenant.slug)


@pytest.fixture
def other_api(client, other_tenant):
    return Api(client, other_tenant.slug, mint_token(other_tenant, "system/*.read system/*.write").token)


@pytest.fixture
def patient():
    return {
        "resourceType": "Patient",
        "id": "p1",
        "identifier": [{"system": "http://example.org/member", "value": "M-100"}],
        "name": [{"family": "Ñúñez", "given": ["Zoë", "Ann"]}],
        "gender": "female",
        "birthDate": "1980-04-15",
        "address": [{"city": "Hartford", "state": "CT", "postalCode": "06101"}],
    }
