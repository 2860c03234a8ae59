import json
import secrets
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model

from sandbox.payer2payer.apps import MEMBER_MATCH
from sandbox.seeding.generator import designed_members
from sandbox.seeding.populate import seed_tenant
from tenants.context import tenant_scope

# Byte-for-byte copies of spec/examples/payer-to-payer/ files (HRex, PDex IG, Inferno presets).
EXAMPLES = Path(__file__).resolve().parent / "examples"
FHIR = "application/fhir+json"
SEED = 7
MEMBERS = 6
P2P_SCOPE = f"system/*.read {MEMBER_MATCH}"


def example(name):
    """A verbatim payer-to-payer example as a dict."""
    return json.loads((EXAMPLES / name).read_text())


@pytest.fixture
def seeded(tenant):
    seed_tenant(tenant, members=MEMBERS, seed=SEED, validate=False)
    return tenant


@pytest.fixture
def designed(seeded):
    return {d["key"]: d for d in designed_members(slug=seeded.slug, name=seeded.name, seed=SEED, members=MEMBERS)}


def make_client(tenant, name="Payer Two", allowed_scope=P2P_SCOPE, entry=None):
    with tenant_scope(tenant):
        return get_application_model().objects.create(
            name=name,
            client_type="confidential",
            authorization_grant_type="client-credentials",
            client_secret="s3cret",
            token_endpoint_auth_method="client_secret_basic",
            allowed_scope=allowed_scope,
            directory_entry=entry,
        )


def make_token(tenant, application, scope=P2P_SCOPE):
    with tenant_scope(tenant):
        return (
            get_access_token_model()
            .objects.create(
                application=application,
                token=secrets.token_urlsafe(24),
                scope=scope,
                expires=timezone.now() + timedelta(hours=1),
            )
            .token
        )


class Fhir:
    """The Django test client on one payer's FHIR base with a bearer token."""

    def __init__(self, client, slug, token=None):
        self.client, self.base = client, f"/t/{slug}/fhir"
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}

    def get(self, path, params=None):
        return self.client.get(f"{self.base}/{path}", params or {}, **self.headers)

    def post(self, path, body, **extra):
        data = json.dumps(body) if isinstance(body, dict | list) else body
        return self.client.post(f"{self.base}/{path}", data, content_type=FHIR, **{**self.headers, **extra})

    def match(self, body):
        return self.post("Patient/$member-match", body)


@pytest.fixture
def p2p(client, seeded):
    """(Fhir API of a payer-to-payer client of the seeded payer, its Application)."""
    application = make_client(seeded)
    return Fhir(client, seeded.slug, make_token(seeded, application)), application
