"""
Two provider organizations of Acme with their ATR lists, members, coverage and data; their
staff and system clients get tokens through the payer's real OAuth endpoints.

    org-a (NPI 1111111112, TIN 111111111): atr-a (open: p1, p2, p3), atr-a-final (final: p1)
    org-b (NPI 2222222226):                atr-b (draft: p4)
    p5: covered, on no list.  p6: not covered (cancelled Coverage).
    p3 opted out of provider access (a pdex-provider-consent Consent, deny).
"""

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from sandbox.attribution.models import ProviderClient
from sandbox.fhirstore import store
from sandbox.oauth.models import ProviderUser
from tenants.context import tenant_scope
from tests.bulk.conftest import Bulk, on_commit  # noqa: F401
from tests.factories import UserFactory
from tests.oauth.conftest import SECRET, public_jwks, signing_keys, token_request  # noqa: F401 (fixtures)

ATR = "http://hl7.org/fhir/us/davinci-atr/StructureDefinition/"
NPI = "http://hl7.org/fhir/sid/us-npi"
TIN = "urn:oid:2.16.840.1.113883.4.4"
MEMBER_SYSTEM = "https://acme.example/member-id"
NPI_A, NPI_B = "1111111112", "2222222226"
REDIRECT = "https://provider-app.example/callback"
FHIR = "application/fhir+json"


def organization(oid, npi, tin, name):
    return {
        "resourceType": "Organization",
        "id": oid,
        "identifier": [{"system": NPI, "value": npi}, {"system": TIN, "value": tin}],
        "name": name,
    }


def atr_group(gid, npi, tin, status, members, name):
    return {
        "resourceType": "Group",
        "id": gid,
        "meta": {"profile": [ATR + "atr-group"]},
        "extension": [
            {"url": ATR + "ext-contractValidityPeriod", "valuePeriod": {"start": "2026-01-01", "end": "2026-12-31"}},
            {"url": ATR + "ext-attributionListStatus", "valueCode": status},
        ],
        "identifier": [{"system": NPI, "value": npi}, {"system": TIN, "value": tin}],
        "active": True,
        "type": "person",
        "actual": True,
        "name": name,
        "managingEntity": {"reference": "Organization/payer"},
        "quantity": len(members),
        "member": [
            {
                "extension": [
                    {"url": ATR + "ext-changeType", "valueCode": "nochange"},
                    {"url": ATR + "ext-coverageReference", "valueReference": {"reference": f"Coverage/cov-{pid}"}},
                ],
                "entity": {"reference": f"Patient/{pid}"},
                "period": {"start": "2026-01-01", "end": "2026-12-31"},
            }
            for pid in members
        ],
    }


def population():
    yield {"resourceType": "Organization", "id": "payer", "name": "Acme Health"}
    yield organization("org-a", NPI_A, "111111111", "Alpha Family Practice")
    yield organization("org-b", NPI_B, "222222222", "Beta Cardiology")
    yield {"resourceType": "Practitioner", "id": "dr-a", "identifier": [{"system": NPI, "value": "3333333332"}]}
    yield {"resourceType": "Practitioner", "id": "dr-b", "identifier": [{"system": NPI, "value": "4444444448"}]}
    yield {
        "resourceType": "PractitionerRole",
        "id": "role-a",
        "practitioner": {"reference": "Practitioner/dr-a"},
        "organization": {"reference": "Organization/org-a"},
    }
    yield {
        "resourceType": "PractitionerRole",
        "id": "role-b",
        "practitioner": {"reference": "Practitioner/dr-b"},
        "organization": {"reference": "Organization/org-b"},
    }
    for n in range(1, 7):
        pid = f"p{n}"
        yield {
            "resourceType": "Patient",
            "id": pid,
            "identifier": [{"system": MEMBER_SYSTEM, "value": f"M{n}"}],
            "name": [{"family": f"Member{n}"}],
        }
        yield {
            "resourceType": "Coverage",
            "id": f"cov-{pid}",
            "status": "cancelled" if pid == "p6" else "active",
            "identifier": [{"system": MEMBER_SYSTEM, "value": f"M{n}"}],
            "beneficiary": {"reference": f"Patient/{pid}"},
            "payor": [{"reference": "Organization/payer"}],
            "period": {"start": "2020-01-01", "end": "2021-01-01"} if pid == "p6" else {"start": "2020-01-01"},
        }
        yield {
            "resourceType": "Observation",
            "id": f"obs-{pid}",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "subject": {"reference": f"Patient/{pid}"},
            "effectiveDateTime": "2024-03-01",
            "performer": [{"reference": "Practitioner/dr-a"}],
        }
        yield {
            "resourceType": "Observation",
            "id": f"old-obs-{pid}",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "subject": {"reference": f"Patient/{pid}"},
            "effectiveDateTime": "2012-05-01",
        }
    yield {
        "resourceType": "Consent",
        "id": "opt-out-p3",
        "meta": {"profile": ["http://hl7.org/fhir/us/davinci-pdex/StructureDefinition/pdex-provider-consent"]},
        "status": "active",
        "scope": {"coding": [{"code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IDSCL"}]}],
        "patient": {"reference": "Patient/p3"},
        "provision": {"type": "deny", "period": {"start": "2025-01-01"}},
    }
    yield atr_group("atr-a", NPI_A, "111111111", "open", ["p1", "p2", "p3"], "Alpha Family Practice list 2026")
    yield atr_group("atr-a-final", NPI_A, "111111111", "final", ["p1"], "Alpha Family Practice final list")
    yield atr_group("atr-b", NPI_B, "222222222", "draft", ["p4"], "Beta Cardiology list 2026")


@pytest.fixture
def data(tenant):
    with tenant_scope(tenant):
        for resource in population():
            store.bulk_load([resource])
    return tenant


def application(tenant, **fields):
    """A confidential client of `tenant` whose secret is SECRET."""
    from oauth2_provider.models import get_application_model

    with tenant_scope(tenant):
        return get_application_model().objects.create(
            name=fields.pop("name", "provider app"),
            client_type="confidential",
            authorization_grant_type=fields.pop("authorization_grant_type", "client-credentials"),
            client_secret=SECRET,
            token_endpoint_auth_method=fields.pop("token_endpoint_auth_method", "client_secret_basic"),
            **fields,
        )


def _basic(client_id):
    return "Basic " + base64.b64encode(f"{client_id}:{SECRET}".encode()).decode()


@pytest.fixture
def system_token(client):
    """system_token(tenant, npi, scope) -> a client-credentials token of a client tied to that provider."""

    def issue(tenant, npi, scope="system/*.read system/Group.write"):
        app = application(tenant, allowed_scope="system/*.read system/*.rs system/*.write")
        with tenant_scope(tenant):
            ProviderClient.objects.create(application=app, organization_npi=npi, organization_name=f"NPI {npi}")
        response = token_request(
            client,
            tenant.slug,
            {"grant_type": "client_credentials", "scope": scope},
            HTTP_AUTHORIZATION=_basic(app.client_id),
        )
        assert response.status_code == 200, response.content
        return response.json()["access_token"]

    return issue


@pytest.fixture
def user_token(client):
    """user_token(tenant, npi, scope) -> an authorization-code token of a provider user at that NPI."""

    # Only advertised scopes: the authorize page describes each (user/Group.u is not advertised).
    def issue(tenant, npi, scope="user/*.read"):
        app = application(
            tenant,
            authorization_grant_type="authorization-code",
            redirect_uris=REDIRECT,
            allowed_scope="user/*.read user/*.rs user/*.write",
        )
        staff = UserFactory(username=f"staff-{npi}-{tenant.slug}")
        with tenant_scope(tenant):
            ProviderUser.objects.create(user=staff, organization_npi=npi, organization_name=f"NPI {npi}")
        client.force_login(staff)
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        params = {
            "response_type": "code",
            "client_id": app.client_id,
            "redirect_uri": REDIRECT,
            "scope": scope,
            "state": "s",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        page = client.get(f"/t/{tenant.slug}/oauth/authorize?" + urlencode(params))
        assert page.status_code == 200, page.content
        form = page.context["form"].initial
        approved = client.post(
            f"/t/{tenant.slug}/oauth/authorize", {**{k: v or "" for k, v in form.items()}, "allow": "Authorize"}
        )
        code = parse_qs(urlsplit(approved["Location"]).query)["code"][0]
        response = token_request(
            client,
            tenant.slug,
            {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier},
            HTTP_AUTHORIZATION=_basic(app.client_id),
        )
        assert response.status_code == 200, response.content
        client.logout()
        return response.json()["access_token"]

    return issue


class Fhir:
    """The tenant's FHIR API with one bearer token."""

    def __init__(self, client, slug, token):
        self.client = client
        self.base = f"/t/{slug}/fhir"
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {token}", "HTTP_ACCEPT": FHIR}

    def get(self, path, params=None):
        return self.client.get(f"{self.base}/{path}", params or {}, **self.headers)

    def post(self, path, body=None, **extra):
        import json

        data = json.dumps(body) if body is not None else ""
        return self.client.post(f"{self.base}/{path}", data, content_type=FHIR, **{**self.headers, **extra})

    def operation(self, path, **parameters):
        """POST a Parameters body: name=value[x] dicts, e.g. patientReference={"valueReference": ...}."""
        body = {"resourceType": "Parameters", "parameter": [{"name": k, **v} for k, v in parameters.items()]}
        return self.post(path, body)


def ids(bundle):
    return sorted(e["resource"]["id"] for e in bundle.get("entry") or [])


def ref(target):
    return {"valueReference": {"reference": target}}


@pytest.fixture
def provider_a(client, data, system_token):
    return Fhir(client, "acme", system_token(data, NPI_A))


@pytest.fixture
def provider_b(client, data, system_token):
    return Fhir(client, "acme", system_token(data, NPI_B))


@pytest.fixture
def bulk_a(client, data, system_token):
    return Bulk(client, data, system_token(data, NPI_A))
