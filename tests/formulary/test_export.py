"""Formulary bulk export: exactly what a plan links, public when the formulary is public."""

import json
from urllib.parse import urlsplit

import pytest

from sandbox.fhirstore import store
from sandbox.oauth.tokens import mint_token
from tenants.context import tenant_scope

pytestmark = pytest.mark.django_db

BASE = "/t/acme/fhir"


def _path(url):
    return urlsplit(url).path


@pytest.fixture
def provider_location(tenant, formulary):
    """A Location that is not any plan's coverage area (a clinic): never in a formulary export."""
    with tenant_scope(tenant):
        store.update(
            "Location", "clinic-1", json.dumps({"resourceType": "Location", "id": "clinic-1", "name": "Clinic"})
        )


def _export(client, path, capture, **headers):
    with capture(execute=True):
        kickoff = client.get(path, HTTP_ACCEPT="application/fhir+json", HTTP_PREFER="respond-async", **headers)
    assert kickoff.status_code == 202, kickoff.content
    status = client.get(_path(kickoff["Content-Location"]), **headers)
    assert status.status_code == 200, status.content
    return status.json()


def _download(client, manifest, **headers):
    """{type: [resource dicts]} from every output file of a manifest."""
    out = {}
    for item in manifest["output"]:
        response = client.get(_path(item["url"]), **headers)
        assert response.status_code == 200
        assert response["Content-Type"].startswith("application/fhir+ndjson")
        body = b"".join(response.streaming_content) if response.streaming else response.content
        lines = [json.loads(line) for line in body.decode().splitlines() if line]
        assert len(lines) == item["count"]
        out.setdefault(item["type"], []).extend(lines)
    return out


def _ids(resources):
    return sorted(r["id"] for r in resources)


def _search(client, query):
    bundle = client.get(f"{BASE}/{query}").json()
    return {e["resource"]["id"]: e["resource"] for e in bundle.get("entry", [])}


def test_it_exports_one_payer_plan_with_exactly_what_it_links(
    client, formulary, provider_location, django_capture_on_commit_callbacks
):
    manifest = _export(
        client, f"{BASE}/InsurancePlan/PayerInsurancePlanA1002/$export", django_capture_on_commit_callbacks
    )
    assert manifest["requiresAccessToken"] is False
    assert manifest["error"] == []
    files = _download(client, manifest)
    assert _ids(files["InsurancePlan"]) == ["FormularyD1002", "PayerInsurancePlanA1002"]
    assert _ids(files["Location"]) == ["StateOfCTLocation"]

    # Resource by resource, the items and drugs are what a search of the same formulary returns.
    items = _search(client, "Basic?formulary=InsurancePlan/FormularyD1002&_count=100")
    assert {r["id"]: r for r in files["Basic"]} == items
    drugs = _search(
        client, "MedicationKnowledge?_id=" + ",".join(i["subject"]["reference"].split("/")[1] for i in items.values())
    )
    assert {r["id"]: r for r in files["MedicationKnowledge"]} == drugs
    assert "FormularyItem-D3004t-1049640" not in items and "FormularyDrug-1541228" not in drugs


def test_it_exports_one_formulary_with_its_items_and_drugs(client, formulary, django_capture_on_commit_callbacks):
    files = _download(
        client, _export(client, f"{BASE}/InsurancePlan/FormularyD3004t/$export", django_capture_on_commit_callbacks)
    )
    assert _ids(files["InsurancePlan"]) == ["FormularyD3004t"]
    assert _ids(files["Basic"]) == ["FormularyItem-D3004t-1049640"]
    assert _ids(files["MedicationKnowledge"]) == ["FormularyDrug-1049640"]
    assert "Location" not in files


def test_it_exports_every_plan_without_unrelated_locations(
    client, formulary, provider_location, django_capture_on_commit_callbacks
):
    files = _download(client, _export(client, f"{BASE}/InsurancePlan/$export", django_capture_on_commit_callbacks))
    assert _ids(files["InsurancePlan"]) == [
        "FormularyD1002",
        "FormularyD3004t",
        "PayerInsurancePlanA1002",
        "PayerInsurancePlanA3004t",
    ]
    assert len(files["Basic"]) == 5
    assert _ids(files["Location"]) == ["StateOfCTLocation"]
    assert "FormularyDrug-1541228" not in _ids(files["MedicationKnowledge"])  # no item names it


def test_it_serves_the_stored_json_unchanged(client, formulary, django_capture_on_commit_callbacks):
    files = _download(
        client, _export(client, f"{BASE}/InsurancePlan/FormularyD1002/$export", django_capture_on_commit_callbacks)
    )
    for resource in files["Basic"]:
        assert resource == client.get(f"{BASE}/Basic/{resource['id']}").json()


def test_it_exports_the_formulary_types_at_system_level_without_a_token(
    client, formulary, django_capture_on_commit_callbacks
):
    manifest = _export(client, f"{BASE}/$export?_type=InsurancePlan,Basic", django_capture_on_commit_callbacks)
    assert {o["type"] for o in manifest["output"]} == {"InsurancePlan", "Basic"}
    assert manifest["requiresAccessToken"] is False


def test_it_ties_an_export_started_with_a_token_to_that_client(
    client, tenant, formulary, django_capture_on_commit_callbacks
):
    token = mint_token(tenant, scope="system/*.read").token
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    with django_capture_on_commit_callbacks(execute=True):
        kickoff = client.get(f"{BASE}/InsurancePlan/$export", HTTP_PREFER="respond-async", **auth)
    status_path = _path(kickoff["Content-Location"])
    assert client.get(status_path).status_code == 401
    manifest = client.get(status_path, **auth).json()
    assert manifest["requiresAccessToken"] is True
    assert client.get(_path(manifest["output"][0]["url"])).status_code == 401


def test_it_refuses_anonymous_export_of_a_private_formulary(client, tenant, formulary):
    tenant.formulary_public = False
    tenant.save()
    for path in ("InsurancePlan/$export", "InsurancePlan/FormularyD1002/$export", "$export?_type=InsurancePlan"):
        response = client.get(f"{BASE}/{path}")
        assert response.status_code == 401, path
        assert response.json()["resourceType"] == "OperationOutcome"


def test_it_answers_an_unknown_plan_with_404(client, formulary):
    response = client.get(f"{BASE}/InsurancePlan/nope/$export")
    assert response.status_code == 404
    assert "InsurancePlan/nope" in response.json()["issue"][0]["diagnostics"]


def test_it_refuses_a_type_filter_it_would_not_honour(client, formulary):
    response = client.get(f"{BASE}/InsurancePlan/FormularyD1002/$export?_typeFilter=Basic%3Fstatus%3Dactive")
    assert response.status_code == 400
    assert "_typeFilter" in response.json()["issue"][0]["diagnostics"]


def test_it_does_not_export_another_payers_formulary(client, tenant, other_tenant, formulary):
    response = client.get("/t/beta/fhir/InsurancePlan/FormularyD1002/$export")
    assert response.status_code == 404


def test_it_still_needs_a_token_for_a_system_export_beyond_the_formulary(client, formulary):
    """Bulk Data: an unauthenticated kick-off is refused unless it asks only for public formulary types."""
    for query in ("$export", "$export?_type=InsurancePlan,Patient", "Patient/$export?_type=InsurancePlan"):
        assert client.get(f"{BASE}/{query}").status_code == 401, query
