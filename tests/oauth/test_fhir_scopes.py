"""SMART scopes enforced on FHIR interactions: 401 without a valid token, 403 naming the scope."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from oauth2_provider.models import get_access_token_model

from sandbox.fhirstore import store
from sandbox.fhirstore.models import Resource
from sandbox.oauth.tokens import mint_token
from tenants.context import tenant_scope

FHIR = "application/fhir+json"


@pytest.fixture
def patient(tenant):
    with tenant_scope(tenant):
        stored, _ = store.create("Patient", {"resourceType": "Patient", "name": [{"family": "Scope"}]})
        store.create(
            "Provenance",
            {
                "resourceType": "Provenance",
                "target": [{"reference": f"Patient/{stored.fhir_id}"}],
                "recorded": "2024-01-01T00:00:00Z",
                "agent": [{"who": {"display": "Payer"}}],
            },
        )
    return stored.fhir_id


def _token(tenant, scope):
    return mint_token(tenant, scope=scope).token


def _get(client, path, token=None, **extra):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.get(f"/t/acme/fhir/{path}", HTTP_ACCEPT=FHIR, **headers, **extra)


@pytest.mark.django_db
def test_it_allows_what_v2_scopes_grant_and_names_what_is_missing(client, tenant, patient):
    token = _token(tenant, "system/Patient.rs")
    assert _get(client, f"Patient/{patient}", token).status_code == 200
    assert _get(client, "Patient", token).status_code == 200
    refused = _get(client, "Observation", token)
    assert refused.status_code == 403
    issue = refused.json()["issue"][0]
    assert issue["code"] == "forbidden"
    assert "system/Observation.s" in issue["diagnostics"] and "system/Patient.rs" in issue["diagnostics"]


@pytest.mark.django_db
def test_it_reads_v1_scopes_as_their_v2_equivalents(client, tenant, patient):
    token = _token(tenant, "system/*.read")
    assert _get(client, "Observation", token).status_code == 200
    created = client.post(
        "/t/acme/fhir/Patient",
        json.dumps({"resourceType": "Patient"}),
        content_type=FHIR,
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert created.status_code == 403 and "system/Patient.c" in created.json()["issue"][0]["diagnostics"]


@pytest.mark.django_db
def test_it_leaves_out_included_resources_the_scopes_do_not_cover(client, tenant, patient):
    narrow = _get(client, "Patient?_revinclude=Provenance:target", _token(tenant, "system/Patient.rs")).json()
    assert {e["resource"]["resourceType"] for e in narrow["entry"]} == {"Patient"}
    wide = _get(client, "Patient?_revinclude=Provenance:target", _token(tenant, "system/*.rs")).json()
    assert {e["resource"]["resourceType"] for e in wide["entry"]} == {"Patient", "Provenance"}


@pytest.mark.django_db
def test_it_checks_every_entry_of_a_transaction_before_running_any(client, tenant):
    token = _token(tenant, "system/Patient.cruds")
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}},
            {
                "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"}},
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    response = client.post("/t/acme/fhir/", json.dumps(bundle), content_type=FHIR, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 403 and "system/Observation.c" in response.json()["issue"][0]["diagnostics"]
    with tenant_scope(tenant):
        assert not Resource.objects.filter(resource_type="Patient").exists()


@pytest.mark.django_db
def test_it_answers_401_with_a_challenge_for_missing_expired_or_foreign_tokens(client, tenant, other_tenant, patient):
    missing = _get(client, f"Patient/{patient}")
    assert missing.status_code == 401 and missing["WWW-Authenticate"].startswith("Bearer")

    token = _token(tenant, "system/*.read")
    with tenant_scope(tenant):
        get_access_token_model().objects.update(expires=timezone.now() - timedelta(seconds=5))
    expired = _get(client, f"Patient/{patient}", token)
    assert expired.status_code == 401 and "expired" in expired.json()["issue"][0]["diagnostics"]
    assert 'error="invalid_token"' in expired["WWW-Authenticate"]

    beta_token = _token(other_tenant, "system/*.read")
    foreign = _get(client, f"Patient/{patient}", beta_token)
    assert foreign.status_code == 401 and "not known to this payer" in foreign.json()["issue"][0]["diagnostics"]


@pytest.mark.django_db
def test_it_refuses_a_certificate_bound_token_presented_without_its_certificate(client, tenant, patient):
    token = _token(tenant, "system/*.read")
    with tenant_scope(tenant):
        get_access_token_model().objects.update(cnf_x5t_s256="f" * 43)
    response = _get(client, f"Patient/{patient}", token)
    assert response.status_code == 401 and "bound to a client certificate" in response.json()["issue"][0]["diagnostics"]
