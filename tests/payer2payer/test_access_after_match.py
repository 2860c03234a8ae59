"""
After $member-match the requesting client reads that member's data and nothing else
(PDex payer-to-payer access control; spec/payer-to-payer.md §5, §7.7).
"""

import copy
from datetime import timedelta

import pytest
from django.utils import timezone

from sandbox.fhirstore.models import Resource, SearchDate, SearchToken
from sandbox.payer2payer.restriction import SENSITIVE_CODES, SERVICE_DATE
from tenants.context import tenant_scope
from tests.payer2payer.conftest import Fhir, make_client, make_token

pytestmark = pytest.mark.django_db


def _matched(api, designed, key="unique", policy=None):
    request = copy.deepcopy(designed[key]["request"])
    if policy:
        consent = next(p["resource"] for p in request["parameter"] if p["name"] == "Consent")
        consent["policy"][0]["uri"] = consent["policy"][0]["uri"].replace("#regular", f"#{policy}")
    response = api.match(request)
    assert response.status_code == 200, response.content
    return designed[key]["expected_patients"][0].split("/")[1]


def _ids(bundle):
    return {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle.get("entry", [])}


def test_it_shows_nothing_before_a_match(p2p):
    api, _ = p2p
    body = api.get("Patient").json()
    assert body["total"] == 0


def test_it_shows_the_matched_member_and_no_one_else(p2p, seeded, designed):
    api, _ = p2p
    patient_id = _matched(api, designed)
    other = designed["sensitive"]["expected_patients"][0].split("/")[1]

    assert _ids(api.get("Patient").json()) == {f"Patient/{patient_id}"}
    assert api.get(f"Patient/{patient_id}").status_code == 200
    assert api.get(f"Patient/{other}").status_code == 404
    assert api.get(f"Patient/{other}/$everything").status_code == 404
    encounters = api.get("Encounter").json()
    assert encounters["total"] > 0
    assert {e["resource"]["subject"]["reference"] for e in encounters["entry"]} == {f"Patient/{patient_id}"}
    assert api.get("Encounter", {"patient": f"Patient/{other}"}).json()["total"] == 0

    everything = api.get(f"Patient/{patient_id}/$everything", {"_count": "1000"}).json()
    types = {e["resource"]["resourceType"] for e in everything["entry"]}
    assert {"Patient", "Encounter", "Coverage"} <= types
    # Provenance about the member's data comes along (it names no Patient, so search for it).
    provenance = api.get("Provenance").json()
    assert provenance["total"] >= 1
    targets = {t["reference"] for e in provenance["entry"] for t in e["resource"]["target"]}
    with tenant_scope(seeded):
        owners = {r.patient_id for r in Resource.objects.all() if f"{r.resource_type}/{r.fhir_id}" in targets}
    assert owners == {patient_id}


def test_it_finds_the_member_by_the_returned_identifier(p2p, designed):
    api, _ = p2p
    response = api.match(designed["unique"]["request"])
    value = response.json()["parameter"][0]["valueIdentifier"]["value"]
    found = api.get("Patient", {"identifier": value}).json()
    assert _ids(found) == {designed["unique"]["expected_patients"][0]}


def test_it_refuses_history_and_batches(p2p, designed):
    api, _ = p2p
    patient_id = _matched(api, designed)
    assert api.get(f"Patient/{patient_id}/_history").status_code == 403
    assert api.get("_history").status_code == 403
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [{"request": {"method": "GET", "url": "Patient"}}]}
    assert api.post("", batch).status_code == 403


def test_another_client_of_the_same_payer_sees_nothing(client, p2p, seeded, designed):
    api, _ = p2p
    patient_id = _matched(api, designed)
    stranger = Fhir(client, seeded.slug, make_token(seeded, make_client(seeded, name="Payer Three")))
    assert stranger.get(f"Patient/{patient_id}").status_code == 404
    assert stranger.get(f"Patient/{patient_id}/$everything").status_code == 404
    assert stranger.get("Patient").json()["total"] == 0


def test_another_payers_token_gets_nothing(client, p2p, seeded, designed, other_tenant):
    api, _ = p2p
    patient_id = _matched(api, designed)
    outsider = Fhir(client, seeded.slug, make_token(other_tenant, make_client(other_tenant)))
    assert outsider.get(f"Patient/{patient_id}").status_code == 401
    # ... and the same token at its own payer does not find the member there either.
    assert (
        Fhir(client, other_tenant.slug, outsider.headers["HTTP_AUTHORIZATION"][7:])
        .get(f"Patient/{patient_id}")
        .status_code
        == 404
    )


def _sensitive_rows(tenant, patient_id):
    with tenant_scope(tenant):
        return set(
            SearchToken.objects.filter(
                param="_security", code__in=SENSITIVE_CODES, resource__patient_id=patient_id
            ).values_list("resource__resource_type", "resource__fhir_id")
        )


def test_it_withholds_sensitive_data_under_a_regular_consent(p2p, seeded, designed):
    api, _ = p2p
    patient_id = _matched(api, designed, "sensitive")
    sensitive = _sensitive_rows(seeded, patient_id)
    assert sensitive
    everything = api.get(f"Patient/{patient_id}/$everything", {"_count": "1000"}).json()
    assert not {tuple(i.split("/")) for i in _ids(everything)} & sensitive
    resource_type, fhir_id = sorted(sensitive)[0]
    assert api.get(f"{resource_type}/{fhir_id}").status_code == 404


def test_it_serves_sensitive_data_under_a_sensitive_consent(p2p, seeded, designed):
    api, _ = p2p
    patient_id = _matched(api, designed, "sensitive", policy="sensitive")
    sensitive = _sensitive_rows(seeded, patient_id)
    everything = api.get(f"Patient/{patient_id}/$everything", {"_count": "1000"}).json()
    assert sensitive <= {tuple(i.split("/")) for i in _ids(everything)}


def test_it_withholds_data_older_than_the_window(p2p, seeded, designed):
    api, _ = p2p
    patient_id = _matched(api, designed)
    cutoff = timezone.now() - timedelta(days=5 * 365 + 1)
    with tenant_scope(seeded):
        old = set(
            SearchDate.objects.filter(resource__patient_id=patient_id, high__lt=cutoff)
            .filter(resource_type__in=list(SERVICE_DATE))
            .values_list("resource__resource_type", "resource__fhir_id")
        )
        old = {(t, i) for t, i in old if Resource.objects.filter(resource_type=t, fhir_id=i).exists()}
    if not old:
        pytest.skip("the seeded member has no data older than five years")
    everything = api.get(f"Patient/{patient_id}/$everything", {"_count": "1000"}).json()
    assert not {tuple(i.split("/")) for i in _ids(everything)} & old


def test_it_keeps_a_matched_client_out_of_the_plain_bulk_export(p2p, designed):
    """Plain $export would reach every member; the client must use $davinci-data-export instead."""
    api, _ = p2p
    _matched(api, designed)
    for path in ("$export", "Patient/$export"):
        response = api.get(path)
        assert response.status_code == 403, path
        assert "$davinci-data-export" in response.json()["issue"][0]["diagnostics"]
