"""Kick-off: [base]/$export, Patient/$export, Group/[id]/$export (Bulk Data §1)."""

import pytest

from sandbox.bulk.models import ExportJob
from sandbox.oauth.tokens import mint_token
from tenants.context import tenant_scope


def job_of(tenant, response):
    with tenant_scope(tenant):
        return ExportJob.objects.get(uuid=response["Content-Location"].rstrip("/").rsplit("/", 1)[1])


@pytest.mark.parametrize("path", ["$export", "Patient/$export", "Group/g1/$export"])
def test_it_accepts_a_kickoff_with_an_absolute_content_location(bulk, data, queued, path):
    """202 Accepted with an absolute status URL under /t/<slug>/bulk/ and an OperationOutcome body."""
    response = bulk.kickoff(path)
    assert response.status_code == 202, response.content
    assert response["Content-Location"].startswith("http://testserver/t/acme/bulk/jobs/")
    assert response.json()["resourceType"] == "OperationOutcome"
    job = job_of(data, response)
    assert job.status == "queued" and job.request_url == f"http://testserver/t/acme/fhir/{path}"
    assert job.level == {"$export": "system", "Patient/$export": "patient", "Group/g1/$export": "group"}[path]


@pytest.mark.parametrize("fmt", ["application/fhir+ndjson", "application/ndjson", "ndjson"])
def test_it_accepts_the_three_ndjson_output_formats(bulk, data, queued, fmt):
    """Inferno sends each spelling of _outputFormat and expects 202 (§8 B.12)."""
    assert bulk.kickoff("$export", {"_outputFormat": fmt}).status_code == 202


def test_it_refuses_another_output_format(bulk, data, queued):
    """_outputFormat=text/csv is refused, even with handling=lenient (as the reference server)."""
    response = bulk.kickoff("$export", {"_outputFormat": "text/csv"}, lenient=True)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["_outputFormat"]


@pytest.mark.parametrize(
    "params",
    [
        {"_since": "yesterday"},
        {"_since": "2024-01-01"},
        {"_since": "2999-01-01T00:00:00Z"},
        {"_until": "2020-01-01T00:00:00Z", "_since": "2021-01-01T00:00:00Z"},
        {"allowPartialManifests": "maybe"},
    ],
)
def test_it_refuses_invalid_instants_and_booleans(bulk, data, queued, params):
    """A _since that is not an instant, is in the future, or an _until before it: 400 OperationOutcome."""
    response = bulk.kickoff("$export", params, lenient=True)
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


def test_it_accepts_an_instant_with_an_offset_and_unencoded_plus(bulk, data, queued):
    """`+05:00` arrives as a space when the client did not encode it; it is still an instant."""
    assert bulk.kickoff("$export", {"_since": "2024-01-01T00:00:00 05:00"}).status_code == 202


@pytest.mark.parametrize(
    "params",
    [
        {"includeAssociatedData": "LatestProvenanceResources"},
        {"organizeOutputBy": "Organization"},
        {"_type": "Unicorn"},
        {"_elements": "Unicorn.name"},
        {"_elements": "not-an-element!"},
        {"_typeFilter": "Observation?nope=1"},
        {"_typeFilter": "Observation?_include=Observation:subject"},
        {"_typeFilter": "not a query"},
        {"patient": "Patient/p0"},
        {"frobnicate": "1"},
    ],
)
def test_it_refuses_what_it_cannot_honour_unless_lenient(bulk, data, queued, params):
    """Strict by default (400 OperationOutcome); Prefer: handling=lenient ignores and reports (§1.4)."""
    strict = bulk.kickoff("Patient/$export", params)
    assert strict.status_code == 400, strict.content
    assert "handling=lenient" in strict.json()["issue"][0]["diagnostics"]
    lenient = bulk.kickoff("Patient/$export", params, lenient=True)
    assert lenient.status_code == 202
    job = job_of(data, lenient)
    assert job.issues and job.issues[0][1] == "not-supported"


def test_it_reports_ignored_parameters_in_the_manifest_error_file(bulk, data):
    """Under lenient handling each ignored parameter is an OperationOutcome line in `error`."""
    manifest = bulk.run("$export", {"organizeOutputBy": "Patient", "_type": "Patient,Unicorn"}, lenient=True)
    assert [item["type"] for item in manifest["error"]] == ["OperationOutcome"]
    outcomes = bulk.lines(manifest["error"][0]["url"])
    assert len(outcomes) == 2 and manifest["error"][0]["count"] == 2
    assert all(o["resourceType"] == "OperationOutcome" for o in outcomes)
    assert {o["issue"][0]["expression"][0] for o in outcomes} == {"organizeOutputBy", "_type"}
    assert [item["type"] for item in manifest["output"]] == ["Patient"]


def test_it_refuses_the_patient_parameter_at_system_level(bulk, data, queued):
    """`patient` narrows Patient and Group exports only."""
    response = bulk.kickoff_post("$export", [{"name": "patient", "valueReference": {"reference": "Patient/p0"}}])
    assert response.status_code == 400


def test_it_accepts_a_post_with_a_parameters_body(bulk, data, queued):
    """POST kick-off with valueString, valueInstant, valueReference and valueBoolean parameters."""
    response = bulk.kickoff_post(
        "Group/g1/$export",
        [
            {"name": "_outputFormat", "valueString": "application/fhir+ndjson"},
            {"name": "_since", "valueInstant": "2020-01-01T00:00:00Z"},
            {"name": "_type", "valueString": "Patient"},
            {"name": "_type", "valueString": "Coverage"},
            {"name": "patient", "valueReference": {"reference": "Patient/p1"}},
            {"name": "allowPartialManifests", "valueBoolean": True},
        ],
    )
    assert response.status_code == 202, response.content
    job = job_of(data, response)
    assert job.params["_type"] == ["Patient", "Coverage"] and job.params["patient"] == ["p1"]
    assert job.params["_since"].startswith("2020-01-01T00:00:00") and job.params["allowPartialManifests"] is True


def test_it_refuses_a_post_body_that_is_not_parameters(bulk, data, queued):
    """The body of a POST kick-off is a Parameters resource."""
    response = bulk.client.post(
        "/t/acme/fhir/$export", '{"resourceType": "Patient"}', content_type="application/fhir+json", **bulk.auth()
    )
    assert response.status_code == 400


def test_it_refuses_a_patient_outside_the_group(bulk, data, queued):
    """`patient` must name members of the group (p2 is not in g1), or existing patients."""
    for ref in ("Patient/p2", "Patient/nobody"):
        body = [{"name": "patient", "valueReference": {"reference": ref}}]
        assert bulk.kickoff_post("Group/g1/$export", body).status_code == 400
        assert bulk.kickoff_post("Group/g1/$export", body, lenient=True).status_code == 202


def test_it_needs_a_token(bulk, data, queued):
    """No token: 401 with a WWW-Authenticate challenge (Inferno accepts 400 or 401)."""
    response = bulk.kickoff("$export", token="")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")


def test_it_refuses_a_member_session(bulk, data, queued, member_client):
    """Status and files belong to a client, so a signed-in member cannot start an export."""
    response = member_client.get("/t/acme/fhir/$export", HTTP_ACCEPT="application/fhir+json")
    assert response.status_code == 401


def test_it_refuses_another_tenants_token(bulk, data, queued, other_tenant_token):
    """A token of another payer is unknown here."""
    assert bulk.kickoff("$export", token=other_tenant_token).status_code == 401


def test_it_refuses_a_token_that_reads_nothing(bulk, data, queued):
    """A token without read scopes gets 403."""
    token = mint_token(data, "system/*.cud").token
    assert bulk.kickoff("$export", token=token).status_code == 403


def test_it_needs_group_read_for_a_group_export(bulk, data, queued):
    """Bulk Data STU3: exporting a group needs system/Group.rs."""
    token = mint_token(data, "system/Patient.rs system/Coverage.rs").token
    assert bulk.kickoff("Group/g1/$export", token=token).status_code == 403
    assert bulk.kickoff("Patient/$export", token=token).status_code == 202


def test_it_limits_types_to_the_tokens_scopes(bulk, data, queued):
    """_type outside the scopes: 403 when strict, dropped when lenient; no _type: the readable types."""
    token = mint_token(data, "system/Patient.rs system/Coverage.read").token
    assert bulk.kickoff("$export", {"_type": "Patient,Observation"}, token=token).status_code == 403
    lenient = bulk.kickoff("$export", {"_type": "Patient,Observation"}, token=token, lenient=True)
    assert job_of(data, lenient).params["types"] == ["Patient"]
    plain = bulk.kickoff("$export", token=token)
    assert job_of(data, plain).params["types"] == ["Coverage", "Patient"]


def test_it_refuses_non_compartment_types_at_patient_level(bulk, data, queued):
    """InsurancePlan is neither in the Patient compartment nor referenced from it."""
    assert bulk.kickoff("Patient/$export", {"_type": "InsurancePlan"}).status_code == 400
    assert bulk.kickoff("$export", {"_type": "InsurancePlan"}).status_code == 202


def test_it_answers_404_for_an_unknown_group(bulk, data, queued):
    """Group/[id]/$export of a group that does not exist in this payer."""
    response = bulk.kickoff("Group/nope/$export")
    assert response.status_code == 404 and response.json()["resourceType"] == "OperationOutcome"


def test_it_answers_404_for_another_tenants_group(client, data, other_tenant, queued):
    """A group id of acme means nothing at beta."""
    from tests.bulk.conftest import Bulk

    other = Bulk(client, other_tenant, mint_token(other_tenant, "system/*.read").token)
    assert other.kickoff("Group/g1/$export").status_code == 404


def test_it_refuses_a_non_json_accept(bulk, data, queued):
    """Accept must allow FHIR JSON (the only value the spec defines)."""
    assert bulk.kickoff("$export", HTTP_ACCEPT="text/html").status_code == 406
