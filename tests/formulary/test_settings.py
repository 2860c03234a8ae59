"""Formulary API settings: public access, the USDF version, and privacy of anonymous queries."""

import json
import logging
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from sandbox.fhirstore.models import Resource
from sandbox.formulary.models import FormularySettings
from tenants.context import tenant_scope

pytestmark = pytest.mark.django_db
PAGE = "/payers/acme/formulary-api/"
IG = "http://hl7.org/fhir/us/davinci-drug-formulary/ImplementationGuide/hl7.fhir.us.davinci-drug-formulary"


def test_it_switches_public_access_and_the_version(member_client, client, tenant, formulary):
    assert f"{IG}|2.0.1" in client.get("/t/acme/fhir/metadata").json()["implementationGuide"]
    member_client.post(PAGE, {"usdf_version": "2.1.0"})  # public unchecked
    tenant.refresh_from_db()
    assert tenant.formulary_public is False
    client.logout()
    assert client.get("/t/acme/fhir/InsurancePlan").status_code == 401
    assert f"{IG}|2.1.0" in client.get("/t/acme/fhir/metadata").json()["implementationGuide"]


def test_it_refuses_an_unknown_version_and_saves_nothing(member_client, tenant):
    response = member_client.post(PAGE, {"usdf_version": "3.0", "formulary_public": "on"})
    assert "Select a valid choice" in response.content.decode()
    with tenant_scope(tenant):
        assert not FormularySettings.objects.exists()


def test_it_hides_the_page_from_non_members(client, other_user, tenant):
    client.force_login(other_user)
    assert client.get(PAGE).status_code == 404
    assert client.post(PAGE, {"usdf_version": "2.1.0"}).status_code == 404


def test_it_keeps_no_record_of_anonymous_formulary_queries(client, formulary, caplog):
    """US Drug Formulary §Access: no record links a consumer to the medications queried."""
    caplog.set_level(logging.DEBUG)
    with CaptureQueriesContext(connection) as queries:
        consumer = {"REMOTE_ADDR": "203.0.113.7", "HTTP_USER_AGENT": "ConsumerApp/1.0"}
        response = client.get("/t/acme/fhir/MedicationKnowledge?code=1000091", **consumer)
        client.get("/t/acme/fhir/MedicationKnowledge/nope", REMOTE_ADDR="203.0.113.7")
    assert response.status_code == 200
    statements = [q["sql"].lstrip().upper() for q in queries.captured_queries]
    writes = [sql for sql in statements if sql.startswith(("INSERT", "UPDATE", "DELETE"))]
    assert writes == []
    assert "203.0.113.7" not in caplog.text and "ConsumerApp" not in caplog.text


def _export_ids(client, path, capture):
    from urllib.parse import urlsplit

    with capture(execute=True):
        kickoff = client.get(path, HTTP_PREFER="respond-async")
    manifest = client.get(urlsplit(kickoff["Content-Location"]).path).json()
    found = {}
    for item in manifest["output"]:
        body = client.get(urlsplit(item["url"]).path)
        content = b"".join(body.streaming_content) if body.streaming else body.content
        found[item["type"]] = sorted(json.loads(line)["id"] for line in content.decode().splitlines() if line)
    return found


def test_it_ships_the_whole_graph_of_a_changed_plan_with_since_in_2_1_0(
    client, tenant, formulary, django_capture_on_commit_callbacks
):
    since = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with tenant_scope(tenant):
        # Everything was loaded two days ago, except one item of formulary D3004t, changed now.
        Resource.objects.update(last_updated=timezone.now() - timedelta(days=2))
        Resource.objects.filter(fhir_id="FormularyItem-D3004t-1049640").update(last_updated=timezone.now())

    path = f"/t/acme/fhir/InsurancePlan/$export?_since={since}"
    # 2.0.1: Bulk Data's _since, row by row.
    assert _export_ids(client, path, django_capture_on_commit_callbacks) == {"Basic": ["FormularyItem-D3004t-1049640"]}
    with tenant_scope(tenant):
        FormularySettings.objects.create(usdf_version="2.1.0")
    # 2.1.0: every plan whose graph changed, whole.
    found = _export_ids(client, path, django_capture_on_commit_callbacks)
    assert found["InsurancePlan"] == ["FormularyD3004t", "PayerInsurancePlanA3004t"]
    assert found["Basic"] == ["FormularyItem-D3004t-1049640"]
    assert found["MedicationKnowledge"] == ["FormularyDrug-1049640"]
