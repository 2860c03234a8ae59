"""POST [base]/Patient/$member-match (HRex member-match; spec/payer-to-payer.md §3, §7)."""

import copy

import pytest

from sandbox.fhirstore import store
from sandbox.payer2payer.models import ExchangeSettings, MatchedMember
from tenants.context import tenant_scope
from tests.payer2payer.conftest import Fhir, example, make_client, make_token

pytestmark = pytest.mark.django_db

MB = {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MB", "display": "Member Number"}


def _settings(tenant, **fields):
    row = ExchangeSettings.for_tenant(tenant)
    for name, value in fields.items():
        setattr(row, name, value)
    with tenant_scope(tenant):
        row.save()


def _add_example_member(tenant, parameters):
    """Store the member an HRex example request describes (Patient + its Coverage)."""
    parts = {p["name"]: p["resource"] for p in parameters["parameter"]}
    patient = {k: v for k, v in parts["MemberPatient"].items() if k != "id"}
    coverage = copy.deepcopy(parts["CoverageToMatch"])
    coverage.pop("id")
    with tenant_scope(tenant):
        stored, _ = store.create("Patient", patient)
        coverage["beneficiary"] = {"reference": f"Patient/{stored.fhir_id}"}
        coverage.pop("payor", None)
        coverage["payor"] = [{"display": "Old Health Plan"}]
        store.create("Coverage", coverage)
    return stored.fhir_id


def _issue(response):
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"][0]


def test_it_matches_the_hrex_example_and_answers_member_identifier_only(
    p2p, seeded, django_capture_on_commit_callbacks
):
    api, application = p2p
    request = example("hrex-1.0.0_Parameters-member-match-in.json")
    patient_id = _add_example_member(seeded, request)
    _settings(seeded, enforce_consent_period=False)  # the example's consent ran in January 2022

    with django_capture_on_commit_callbacks(execute=True):
        response = api.match(request)

    assert response.status_code == 200, response.content
    body = response.json()
    expected = example("hrex-1.0.0_Parameters-member-match-out.json")
    assert [p["name"] for p in body["parameter"]] == [p["name"] for p in expected["parameter"]] == ["MemberIdentifier"]
    identifier = body["parameter"][0]["valueIdentifier"]
    assert MB in identifier["type"]["coding"]
    assert {c["code"] for c in identifier["type"]["coding"]} == {"MB", "UMB"}
    assert identifier["value"] == "55678"
    with tenant_scope(seeded):
        row = MatchedMember.objects.get(application=application)
        assert row.patient_id == patient_id and row.policy == "regular"
        consent = store.read("Consent", row.consent_id).as_dict()
    assert consent["patient"]["reference"] == f"Patient/{patient_id}"
    assert consent["identifier"][0]["value"] == application.client_id


def test_it_adds_member_id_in_pdex_2_2_mode(p2p, seeded, designed):
    seeded.pdex_version = "2.2"
    seeded.save()
    api, _ = p2p
    response = api.match(designed["unique"]["request"])
    assert response.status_code == 200, response.content
    names = [p["name"] for p in response.json()["parameter"]]
    assert names == ["MemberIdentifier", "MemberId"]
    assert response.json()["parameter"][1]["valueReference"]["reference"] == designed["unique"]["expected_patients"][0]


def test_it_matches_the_designed_unique_member(p2p, designed):
    api, _ = p2p
    response = api.match(designed["unique"]["request"])
    assert response.status_code == 200, response.content
    assert response.json()["parameter"][0]["valueIdentifier"]["value"] == designed["unique"]["members"][0]["member_id"]


def test_it_answers_422_for_several_matches(p2p, designed):
    api, application = p2p
    response = api.match(designed["ambiguous"]["request"])
    assert response.status_code == 422
    issue = _issue(response)
    assert issue["code"] == "multiple-matches"
    assert issue["details"]["coding"][0]["code"] == "multiple-matches"
    assert not MatchedMember.unscoped.filter(application=application).exists()


def test_it_answers_422_for_no_match(p2p, designed):
    api, _ = p2p
    response = api.match(designed["no-match"]["request"])
    assert response.status_code == 422
    assert _issue(response)["code"] == "not-found"
    assert "Patient" not in response.content.decode().replace("MemberPatient", "")


def test_it_answers_422_for_the_inferno_no_match_preset(p2p):
    api, _ = p2p
    response = api.match(example("inferno-preset_member-match-request_no-match.json"))
    assert response.status_code == 422
    assert _issue(response)["details"]["coding"][0]["code"] == "no-match"


def test_it_matches_the_inferno_one_match_preset(p2p, seeded):
    api, _ = p2p
    request = example("inferno-preset_member-match-request_one-match.json")
    _add_example_member(seeded, request)
    _settings(seeded, enforce_consent_period=False)
    response = api.match(request)
    assert response.status_code == 200, response.content
    assert len(response.json()["parameter"]) == 1


def test_it_refuses_a_consent_whose_period_is_over(p2p, seeded):
    api, application = p2p
    request = example("hrex-1.0.0_Parameters-member-match-in.json")
    _add_example_member(seeded, request)
    response = api.match(request)
    assert response.status_code == 422
    issue = _issue(response)
    assert issue["code"] == "business-rule"
    assert issue["details"]["coding"][0]["code"] == "consent-constraint"
    assert "55678" not in response.content.decode()
    assert not MatchedMember.unscoped.filter(application=application).exists()


def test_it_refuses_regular_consent_when_sensitive_data_is_not_labelled(p2p, seeded, designed):
    api, _ = p2p
    _settings(seeded, sensitive_data="unlabelled")
    response = api.match(designed["sensitive"]["request"])
    assert response.status_code == 422
    assert _issue(response)["details"]["coding"][0]["code"] == "consent-constraint"

    sensitive = copy.deepcopy(designed["sensitive"]["request"])
    consent = next(p["resource"] for p in sensitive["parameter"] if p["name"] == "Consent")
    consent["policy"][0]["uri"] = consent["policy"][0]["uri"].replace("#regular", "#sensitive")
    assert api.match(sensitive).status_code == 200


def test_it_accepts_regular_consent_for_a_member_without_sensitive_data(p2p, seeded, designed):
    api, _ = p2p
    _settings(seeded, sensitive_data="unlabelled")
    assert api.match(designed["unique"]["request"]).status_code == 200


@pytest.mark.parametrize(
    ("override", "status", "code"),
    [("none", 422, "no-match"), ("several", 422, "multiple-matches"), ("one", 200, None)],
)
def test_it_forces_the_outcome_for_testing_clients(p2p, seeded, designed, override, status, code):
    api, _ = p2p
    _settings(seeded, match_override=override)
    response = api.match(designed["no-match"]["request"] if override == "one" else designed["unique"]["request"])
    assert response.status_code == status, response.content
    if code:
        assert _issue(response)["details"]["coding"][0]["code"] == code


def test_it_accepts_the_pre_hrex_names(p2p, designed):
    api, _ = p2p
    request = copy.deepcopy(designed["unique"]["request"])
    for part in request["parameter"]:
        part["name"] = {"CoverageToMatch": "OldCoverage", "CoverageToLink": "NewCoverage"}.get(
            part["name"], part["name"]
        )
    assert api.match(request).status_code == 200


@pytest.mark.parametrize(
    ("mutate", "status", "expression"),
    [
        (lambda r: r.pop("resourceType"), 400, "Parameters"),
        (lambda r: r["parameter"].append({"name": "Surprise", "valueString": "x"}), 400, "Parameters.parameter[4]"),
        (lambda r: r["parameter"].pop(1), 422, "Parameters.parameter"),
        (
            lambda r: r["parameter"][0]["resource"].pop("birthDate"),
            422,
            "Parameters.parameter.where(name='MemberPatient').resource.birthDate",
        ),
        (
            lambda r: (
                r["parameter"][1]["resource"].pop("identifier") and r["parameter"][1]["resource"].pop("subscriberId")
            ),
            422,
            "Parameters.parameter.where(name='CoverageToMatch').resource.identifier",
        ),
        (
            lambda r: r["parameter"][3]["resource"].update(policy=[{"uri": "http://example.org/other"}]),
            422,
            "Parameters.parameter.where(name='Consent').resource.policy",
        ),
        (lambda r: r["parameter"].pop(3), 422, "Parameters.parameter.where(name='Consent').resource"),
        (
            lambda r: r["parameter"][0].update(resource={"resourceType": "Coverage"}),
            400,
            "Parameters.parameter.where(name='MemberPatient').resource.resourceType",
        ),
    ],
)
def test_it_names_the_bad_part(p2p, designed, mutate, status, expression):
    api, _ = p2p
    request = copy.deepcopy(designed["unique"]["request"])
    mutate(request)
    response = api.match(request)
    assert response.status_code == status, response.content
    assert _issue(response)["expression"] == [expression]


def test_it_needs_a_token(client, seeded, designed):
    response = Fhir(client, seeded.slug).match(designed["unique"]["request"])
    assert response.status_code == 401


def test_it_needs_the_member_match_scope(client, seeded, designed):
    application = make_client(seeded, allowed_scope="system/*.read")
    api = Fhir(client, seeded.slug, make_token(seeded, application, scope="system/*.read"))
    response = api.match(designed["unique"]["request"])
    assert response.status_code == 403
    assert "member-match" in _issue(response)["diagnostics"]


def test_it_refuses_another_payers_token(client, p2p, other_tenant, designed):
    application = make_client(other_tenant)
    token = make_token(other_tenant, application)
    response = Fhir(client, "acme", token).match(designed["unique"]["request"])
    assert response.status_code == 401


def test_it_lets_a_signed_in_member_try_it_without_recording(member_client, designed, seeded):
    response = Fhir(member_client, seeded.slug).match(designed["unique"]["request"])
    assert response.status_code == 200
    assert not MatchedMember.unscoped.filter(tenant=seeded).exists()


def test_it_is_declared_in_the_capability_statement(client, seeded):
    body = client.get(f"/t/{seeded.slug}/fhir/metadata").json()
    patient = next(r for r in body["rest"][0]["resource"] if r["type"] == "Patient")
    assert {
        "name": "member-match",
        "definition": "http://hl7.org/fhir/us/davinci-hrex/OperationDefinition/member-match",
    } in patient["operation"]
