import pytest
from fhir.resources.R4B import get_fhir_model_class

from sandbox.seeding.designed import member_match_keys, request_match_keys
from sandbox.seeding.generator import designed_members
from tests.seeding.conftest import NAME, SLUG, generated

PAYER_COVERAGE = "Organization/payer"


def _candidates(resources):
    """(Patient id, keys) for every member, keyed by their Coverage at this payer, as $member-match sees them."""
    patients = {r["id"]: r for r in resources if r["resourceType"] == "Patient"}
    for coverage in resources:
        if coverage["resourceType"] != "Coverage" or coverage["payor"][0]["reference"] != PAYER_COVERAGE:
            continue
        patient = patients[coverage["beneficiary"]["reference"].removeprefix("Patient/")]
        yield f"Patient/{patient['id']}", member_match_keys(patient, coverage)


def _matches(request, resources):
    demographics, identifiers = request_match_keys(request)
    return sorted(
        patient
        for patient, (candidate_demographics, candidate_identifiers) in _candidates(resources)
        if candidate_demographics == demographics and identifiers & candidate_identifiers
    )


@pytest.fixture
def designs():
    return {design["key"]: design for design in designed_members(slug=SLUG, name=NAME, seed=1, members=60)}


def test_it_finds_the_unique_member_exactly_once(designs):
    """The unique request matches one member of the generated payer, the one it documents."""
    design = designs["unique"]
    assert _matches(design["request"], generated()) == design["expected_patients"]
    assert len(design["expected_patients"]) == 1


def test_it_finds_both_twins_for_the_ambiguous_request(designs):
    """The ambiguous request matches exactly the two twins."""
    design = designs["ambiguous"]
    assert design["expected"] == "multiple-matches"
    assert _matches(design["request"], generated()) == design["expected_patients"]
    assert len(design["expected_patients"]) == 2


def test_it_tells_the_twins_apart_by_member_id(designs):
    """With a twin's own member id the request is unique again: the collision comes from the shared subscriber id."""
    request = designs["ambiguous"]["request"]
    twin = designs["ambiguous"]["members"][1]
    coverage = next(p["resource"] for p in request["parameter"] if p["name"] == "CoverageToMatch")
    narrowed = {**coverage, "subscriberId": twin["member_id"]}
    parameters = {
        **request,
        "parameter": [
            p if p["name"] != "CoverageToMatch" else {**p, "resource": narrowed} for p in request["parameter"]
        ],
    }
    assert _matches(parameters, generated()) == [twin["patient"]]


def test_it_finds_nobody_for_the_no_match_request(designs):
    """The no-match request matches no member."""
    design = designs["no-match"]
    assert design["expected"] == "no-match"
    assert _matches(design["request"], generated()) == []


def test_it_gives_the_sensitive_member_labelled_data(designs):
    """The sensitive member matches uniquely and has PSY, HIV and ETH labelled resources."""
    design = designs["sensitive"]
    assert _matches(design["request"], generated()) == design["expected_patients"]
    patient = design["expected_patients"][0]
    labels = set()
    for resource in generated():
        if (resource.get("subject") or resource.get("patient") or {}).get("reference") == patient:
            labels.update(label["code"] for label in resource["meta"].get("security", []))
    assert {"PSY", "HIV", "ETH", "R"} <= labels


def test_it_builds_hrex_member_match_requests(designs):
    """Each request is a valid R4 Parameters with the HRex 1.0.0 parameter names and a permit Consent."""
    for design in designs.values():
        request = design["request"]
        get_fhir_model_class("Parameters").model_validate(request)
        names = [part["name"] for part in request["parameter"]]
        assert names == ["MemberPatient", "CoverageToMatch", "CoverageToLink", "Consent"]
        consent = request["parameter"][3]["resource"]
        assert consent["provision"]["type"] == "permit"
        assert design["title"] and design["description"]


def test_it_keeps_designed_members_the_same_whatever_the_payer_size():
    """The documented requests do not depend on how many members were generated."""
    small = designed_members(slug=SLUG, name=NAME, seed=1, members=4)
    large = designed_members(slug=SLUG, name=NAME, seed=1, members=500)
    assert [d["request"] for d in small] == [d["request"] for d in large]
