"""Attributed bulk download: Group/[id]/$davinci-data-export and $export for providers (PDex §7.3-§7.4)."""

import json

import pytest

from sandbox.bulk.models import ExportJob
from sandbox.fhirstore import store
from sandbox.oauth.tokens import mint_token
from tests.attribution.conftest import NPI_A, NPI_B, Bulk, ref
from tests.bulk.conftest import on_commit

DOWNLOAD = "hl7.fhir.us.davinci-pdex#provider-download"
DELTA = "hl7.fhir.us.davinci-pdex#provider-delta"


def by_type(bulk, manifest):
    out = {}
    for item in manifest["output"]:
        out.setdefault(item["type"], []).extend(bulk.lines(item["url"]))
    return {t: sorted(r["id"] for r in rs) for t, rs in out.items()}


def errors(bulk, manifest):
    return [issue["diagnostics"] for item in manifest["error"] for o in bulk.lines(item["url"]) for issue in o["issue"]]


def run(bulk, path, parameters=(), **kwargs):
    response = bulk.kickoff_post(path, list(parameters), **kwargs)
    assert response.status_code == 202, response.content
    status = bulk.status(response["Content-Location"])
    assert status.status_code == 200, status.content
    return status.json()


def p(name, **value):
    return {"name": name, **value}


def jobs(tenant, in_tenant):
    with in_tenant(tenant):
        return ExportJob.objects.count()


def test_it_exports_the_attributed_members_without_the_opted_out_one(bulk_a):
    """provider-download of A's list: p1 and p2 (p3 opted out), their data from 2016 on, referenced directory."""
    manifest = run(bulk_a, "Group/atr-a/$davinci-data-export", [p("exportType", valueCanonical=DOWNLOAD)])
    out = by_type(bulk_a, manifest)
    assert out["Patient"] == ["p1", "p2"]
    assert out["Observation"] == ["obs-p1", "obs-p2"]  # old-obs-* are dated 2012, before the data window
    assert out["Coverage"] == ["cov-p1", "cov-p2"]
    assert "p3" not in json.dumps(out) and "opt-out-p3" not in json.dumps(out)
    assert manifest["requiresAccessToken"] is True


def test_it_moves_the_data_window_with_the_payers_setting(bulk_a, data, in_tenant):
    from sandbox.attribution.models import AttributionSettings

    with in_tenant(data):
        AttributionSettings.objects.create(data_window_start="2010-01-01")
    out = by_type(bulk_a, run(bulk_a, "Group/atr-a/$davinci-data-export"))
    assert out["Observation"] == ["obs-p1", "obs-p2", "old-obs-p1", "old-obs-p2"]


def test_it_refuses_another_providers_list(client, data, system_token, in_tenant):
    """B's list does not exist for A: 404 for $davinci-data-export and $export, nothing queued."""
    bulk = Bulk(client, data, system_token(data, NPI_A))
    for path in ("Group/atr-b/$davinci-data-export", "Group/atr-b/$export"):
        assert bulk.kickoff(path).status_code == 404, path
    assert jobs(data, in_tenant) == 0


def test_it_refuses_a_subset_naming_an_unattributed_patient(bulk_a, data, in_tenant):
    """A patient subset with B's member refuses the request, names the patient and exports nothing."""
    response = bulk_a.kickoff_post(
        "Group/atr-a/$davinci-data-export", [p("patient", **ref("Patient/p1")), p("patient", **ref("Patient/p4"))]
    )
    assert response.status_code == 422
    assert "Patient/p4" in response.json()["issue"][0]["diagnostics"]
    # Even under lenient handling, and for an opted-out member (refused the same way).
    for pid in ("p4", "p3", "p5"):
        refused = bulk_a.kickoff_post("Group/atr-a/$export", [p("patient", **ref(f"Patient/{pid}"))], lenient=True)
        assert refused.status_code == 422 and f"Patient/{pid}" in refused.json()["issue"][0]["diagnostics"]
    assert jobs(data, in_tenant) == 0


def test_it_exports_a_patient_subset(bulk_a):
    out = by_type(bulk_a, run(bulk_a, "Group/atr-a/$davinci-data-export", [p("patient", **ref("Patient/p2"))]))
    assert out["Patient"] == ["p2"] and out["Observation"] == ["obs-p2"]


def test_it_needs_since_for_a_delta(bulk_a):
    response = bulk_a.kickoff_post("Group/atr-a/$davinci-data-export", [p("exportType", valueCanonical=DELTA)])
    assert response.status_code == 400 and response.json()["issue"][0]["expression"] == ["_since"]


def test_it_refuses_an_unknown_export_type(bulk_a):
    response = bulk_a.kickoff_post("Group/atr-a/$davinci-data-export", [p("exportType", valueCanonical="x#y")])
    assert response.status_code == 400


def test_a_since_delta_returns_only_what_changed(bulk_a, provider_a, data, in_tenant):
    """After _since: a changed Observation of p1 only; the manifest names the added and removed members."""
    first = run(bulk_a, "Group/atr-a/$davinci-data-export", [p("exportType", valueCanonical=DOWNLOAD)])
    since = first["transactionTime"]
    with in_tenant(data):
        observation = store.read("Observation", "obs-p1").as_dict()
        observation["status"] = "amended"
        store.update("Observation", "obs-p1", json.dumps(observation))
    assert provider_a.operation("Group/atr-a/$member-add", patientReference=ref("Patient/p5")).status_code == 200
    assert provider_a.operation("Group/atr-a/$member-remove", patientReference=ref("Patient/p2")).status_code == 200
    manifest = run(
        bulk_a,
        "Group/atr-a/$davinci-data-export",
        [p("exportType", valueCanonical=DELTA), p("_since", valueInstant=since)],
    )
    out = by_type(bulk_a, manifest)
    # Directory resources the changed data references come whatever their date (bulk engine).
    assert out.pop("Practitioner") == ["dr-a"]
    assert out == {"Observation": ["obs-p1"]}
    notes = " ".join(errors(bulk_a, manifest))
    assert "members added: Patient/p5" in notes and "members removed: Patient/p2" in notes
    # The added member's earlier data comes with a patient subset (Bulk Data §1.6 step 3).
    out = by_type(bulk_a, run(bulk_a, "Group/atr-a/$export", [p("patient", **ref("Patient/p5"))]))
    assert out["Patient"] == ["p5"] and out["Observation"] == ["obs-p5"]


def test_it_drops_a_member_who_opts_out_after_the_kickoff(bulk_a, data, in_tenant, monkeypatch):
    """Opt-out is re-checked when the job runs, not only at kick-off."""
    from sandbox.bulk import export
    from sandbox.bulk.tasks import run_export_task

    monkeypatch.setattr(run_export_task, "delay_on_commit", lambda *args, **kwargs: None)
    response = bulk_a.kickoff_post("Group/atr-a/$davinci-data-export", [])
    assert response.status_code == 202
    with in_tenant(data):
        store.bulk_load(
            [
                {
                    "resourceType": "Consent",
                    "id": "opt-out-p1",
                    "meta": {
                        "profile": ["http://hl7.org/fhir/us/davinci-pdex/StructureDefinition/pdex-provider-consent"]
                    },
                    "status": "active",
                    "scope": {"coding": [{"code": "patient-privacy"}]},
                    "category": [{"coding": [{"code": "IDSCL"}]}],
                    "patient": {"reference": "Patient/p1"},
                    "provision": {"type": "deny"},
                }
            ]
        )
        job = ExportJob.objects.get()
    with in_tenant(data), on_commit():
        export.run_export(job.pk)
    out = by_type(bulk_a, bulk_a.status(response["Content-Location"]).json())
    assert out["Patient"] == ["p2"]


def test_it_lets_a_member_opt_back_in(bulk_a, data, in_tenant):
    """A later permit Consent replaces the deny (no record, or the latest record permitting, is permit)."""
    with in_tenant(data):
        consent = store.read("Consent", "opt-out-p3").as_dict()
        consent["id"] = "opt-in-p3"
        consent["provision"] = {"type": "permit", "period": {"start": "2025-06-01"}}
        store.update("Consent", "opt-in-p3", json.dumps(consent))
    assert by_type(bulk_a, run(bulk_a, "Group/atr-a/$davinci-data-export"))["Patient"] == ["p1", "p2", "p3"]


def test_it_honours_the_member_opt_out_group(bulk_a, data, in_tenant):
    """Members of a pdex-member-opt-out Group never appear either (PDex 2.2 draft)."""
    with open("/work/shared/spec/examples/bulk-and-attribution/pdex-stu2.2draft-Group-member-opt-out.json") as fh:
        group = json.load(fh)
    group["member"][0]["entity"]["reference"] = "Patient/p2"
    group["managingEntity"] = {"reference": "Organization/payer"}
    with in_tenant(data):
        store.bulk_load([group])
    assert by_type(bulk_a, run(bulk_a, "Group/atr-a/$davinci-data-export"))["Patient"] == ["p1"]


def test_it_limits_patient_export_and_refuses_system_export_to_providers(bulk_a):
    assert bulk_a.kickoff("$export").status_code == 403
    out = by_type(bulk_a, run(bulk_a, "Patient/$export"))
    assert out["Patient"] == ["p1", "p2"]


def test_group_export_by_a_provider_is_attributed(bulk_a):
    out = by_type(bulk_a, run(bulk_a, "Group/atr-a/$export"))
    assert out["Patient"] == ["p1", "p2"]


def test_the_attribution_export_type_carries_patients_and_coverage(bulk_a):
    export_type = p("exportType", valueCanonical="hl7.fhir.us.davinci-atr")
    manifest = run(bulk_a, "Group/atr-a/$davinci-data-export", [export_type])
    out = by_type(bulk_a, manifest)
    assert out["Patient"] == ["p1", "p2"] and out["Coverage"] == ["cov-p1", "cov-p2"] and "Observation" not in out
    assert any("read Group/[id]" in note for note in errors(bulk_a, manifest))


def test_a_provider_user_exports_its_list(client, data, user_token):
    bulk = Bulk(client, data, user_token(data, NPI_B))
    assert by_type(bulk, run(bulk, "Group/atr-b/$davinci-data-export"))["Patient"] == ["p4"]
    assert bulk.kickoff("Group/atr-a/$davinci-data-export").status_code == 404


def test_the_payers_own_client_still_gets_the_opt_out_filter(client, data):
    """A payer-side client may export any list with $davinci-data-export; opted-out members stay out."""
    bulk = Bulk(client, data, mint_token(data, "system/*.read").token)
    assert by_type(bulk, run(bulk, "Group/atr-a/$davinci-data-export"))["Patient"] == ["p1", "p2"]
    # Plain Group $export by a payer-side client is the bulk engine's, unchanged.
    assert by_type(bulk, run(bulk, "Group/atr-b/$export"))["Patient"] == ["p4"]


def test_it_needs_a_token_and_a_group_scope(client, data, system_token):
    assert Bulk(client, data, "").kickoff("Group/atr-a/$davinci-data-export").status_code == 401
    bulk = Bulk(client, data, system_token(data, NPI_A, scope="system/Patient.rs"))
    assert bulk.kickoff("Group/atr-a/$davinci-data-export").status_code == 403


@pytest.mark.django_db
def test_another_tenant_gets_nothing(client, data, other_tenant, system_token, bulk_a):
    """acme's token is unknown at beta (401); beta's provider client finds no atr-a (404)."""
    response = client.get("/t/beta/fhir/Group/atr-a/$davinci-data-export", **bulk_a.auth())
    assert response.status_code == 401
    beta = Bulk(client, other_tenant, system_token(other_tenant, NPI_A))
    assert beta.kickoff("Group/atr-a/$davinci-data-export").status_code == 404


def test_a_payer_to_payer_client_cannot_use_the_provider_export_types(client, data):
    """A client restricted by another policy (payer-to-payer) gets no provider download of any list."""
    scope = "system/*.read http://hl7.org/fhir/us/davinci-hrex/OperationDefinition/member-match"
    bulk = Bulk(client, data, mint_token(data, scope).token)
    response = bulk.kickoff_post("Group/atr-a/$davinci-data-export", [p("exportType", valueCanonical=DOWNLOAD)])
    assert response.status_code == 403
