import hashlib
import json
import os
import random
import re
import subprocess
import sys
import tracemalloc
from collections import Counter
from pathlib import Path

import pytest
from fhir.resources.R4B import get_fhir_model_class

from sandbox.seeding.generator import generate_payer, iter_batches
from tests.seeding.conftest import NAME, SLUG, generated


def _digest(resources) -> str:
    digest = hashlib.sha256()
    for resource in resources:
        digest.update(json.dumps(resource, separators=(",", ":")).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def _references(value):
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                yield item
            else:
                yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


def test_it_validates_every_resource_with_fhir_resources_r4b(resources):
    """Every generated resource passes fhir.resources R4B structural validation."""
    failures = []
    for resource in resources:
        try:
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        except Exception as error:  # noqa: BLE001 - collect every failure for one readable report
            failures.append(f"{resource['resourceType']}/{resource['id']}: {str(error)[:300]}")
    assert failures == []


def test_it_resolves_every_reference_within_the_payer(resources):
    """Every reference in the output points at a resource generated for the same payer, yielded before it."""
    seen = set()
    dangling = []
    for resource in resources:
        key = f"{resource['resourceType']}/{resource['id']}"
        for reference in _references(resource):
            if reference not in seen:
                dangling.append((key, reference))
        seen.add(key)
    assert dangling == []


def test_it_gives_every_resource_a_unique_id_and_a_declared_profile(resources):
    """Ids are set and unique per resource type, and meta.profile and meta.lastUpdated are declared."""
    keys = Counter(f"{r['resourceType']}/{r['id']}" for r in resources)
    assert [key for key, count in keys.items() if count > 1] == []
    for resource in resources:
        assert resource["id"]
        assert resource["meta"]["profile"], resource["id"]
        assert resource["meta"]["lastUpdated"].endswith("Z")


def test_it_is_byte_identical_for_the_same_seed():
    """Two runs with the same arguments serialise to the same bytes, whatever the global random state."""
    random.seed(1)
    first = _digest(generate_payer(slug=SLUG, name=NAME, members=25, seed=42))
    random.seed(2)
    second = _digest(generate_payer(slug=SLUG, name=NAME, members=25, seed=42))
    assert first == second


def test_it_is_byte_identical_across_processes_and_hash_seeds():
    """A fresh interpreter with another PYTHONHASHSEED produces the same bytes (no set or hash ordering leaks in)."""
    script = (
        "import hashlib, json\n"
        "from sandbox.seeding.generator import generate_payer\n"
        "d = hashlib.sha256()\n"
        f"for r in generate_payer(slug={SLUG!r}, name={NAME!r}, members=8, seed=42):\n"
        "    d.update(json.dumps(r, separators=(',', ':')).encode()); d.update(b'\\n')\n"
        "print(d.hexdigest())\n"
    )
    root = Path(__file__).resolve().parents[2]
    digests = {
        subprocess.run(
            [sys.executable, "-c", script],
            cwd=root,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for hash_seed in ("1", "2")
    }
    assert digests == {_digest(generate_payer(slug=SLUG, name=NAME, members=8, seed=42))}


def test_it_differs_for_a_different_seed():
    """Another seed gives other data."""
    assert _digest(generate_payer(slug=SLUG, name=NAME, members=25, seed=42)) != _digest(
        generate_payer(slug=SLUG, name=NAME, members=25, seed=43)
    )


def test_it_keeps_members_stable_when_the_payer_grows():
    """Member n is the same whether the payer has 20 or 30 members (members are functions of seed and index)."""
    small = [r for r in generate_payer(slug=SLUG, name=NAME, members=20, seed=5) if r["resourceType"] == "Patient"]
    large = [r for r in generate_payer(slug=SLUG, name=NAME, members=30, seed=5) if r["resourceType"] == "Patient"]
    assert small == large[:20]


def test_it_makes_every_resource_type_the_issue_asks_for(resources):
    """The payer has its organization, plans, providers, members, history, claims, prior auths, lists and formulary."""
    types = {r["resourceType"] for r in resources}
    assert {
        "Organization",
        "InsurancePlan",
        "Practitioner",
        "PractitionerRole",
        "Location",
        "Patient",
        "Coverage",
        "Encounter",
        "Condition",
        "Observation",
        "MedicationRequest",
        "MedicationDispense",
        "Procedure",
        "Immunization",
        "AllergyIntolerance",
        "DiagnosticReport",
        "ExplanationOfBenefit",
        "Provenance",
        "Group",
        "MedicationKnowledge",
        "Basic",
        "RelatedPerson",
    } <= types
    profiles = {p for r in resources if r["resourceType"] == "ExplanationOfBenefit" for p in r["meta"]["profile"]}
    carin = "http://hl7.org/fhir/us/carin-bb/StructureDefinition/C4BB-ExplanationOfBenefit-"
    assert {
        carin + "Inpatient-Institutional",
        carin + "Outpatient-Institutional",
        carin + "Professional-NonClinician",
        carin + "Pharmacy",
        "http://hl7.org/fhir/us/davinci-pdex/StructureDefinition/pdex-priorauthorization",
    } <= profiles


def test_it_codes_clinical_data_with_standard_terminologies(resources):
    """Observations use LOINC (vitals and labs), medications RxNorm, immunizations CVX."""
    categories = {r["category"][0]["coding"][0]["code"] for r in resources if r["resourceType"] == "Observation"}
    assert {"vital-signs", "laboratory"} <= categories
    for resource in resources:
        kind = resource["resourceType"]
        if kind == "Observation":
            assert resource["code"]["coding"][0]["system"] == "http://loinc.org"
        elif kind in ("MedicationRequest", "MedicationDispense"):
            assert (
                resource["medicationCodeableConcept"]["coding"][0]["system"]
                == "http://www.nlm.nih.gov/research/umls/rxnorm"
            )
        elif kind == "Immunization":
            assert resource["vaccineCode"]["coding"][0]["system"] == "http://hl7.org/fhir/sid/cvx"


def test_it_covers_about_five_years_of_history(resources):
    """Encounters span more than five years back from the reference date, so a 5-year window has something to cut."""
    starts = sorted(r["period"]["start"][:10] for r in resources if r["resourceType"] == "Encounter")
    assert starts[0] < "2021-01-01"
    assert starts[-1] >= "2025-06-01"


def test_it_dates_nothing_after_the_reference_date(resources):
    """Member history and claims end on the reference date; only prior-auth service periods may lie ahead."""
    dated = re.compile(r"^\d{4}-\d{2}-\d{2}")
    member_types = {
        "Encounter",
        "Condition",
        "Observation",
        "DiagnosticReport",
        "MedicationRequest",
        "MedicationDispense",
        "Procedure",
        "Immunization",
        "AllergyIntolerance",
        "Provenance",
    }

    def dates(value):
        if isinstance(value, dict):
            for item in value.values():
                yield from dates(item)
        elif isinstance(value, list):
            for item in value:
                yield from dates(item)
        elif isinstance(value, str) and dated.match(value):
            yield value[:10]

    for resource in resources:
        claim = resource["resourceType"] == "ExplanationOfBenefit" and resource["use"] == "claim"
        if resource["resourceType"] in member_types or claim:
            assert max(dates(resource)) <= "2026-01-01", resource["id"]


def test_it_ties_claims_to_encounters_and_providers(resources, by_key):
    """Non-pharmacy claims name their encounter, billing organization and practitioner; pharmacy claims the pharmacy."""
    claims = [r for r in resources if r["resourceType"] == "ExplanationOfBenefit" and r["use"] == "claim"]
    assert claims
    for claim in claims:
        assert claim["provider"]["reference"] in by_key
        assert claim["insurance"][0]["coverage"]["reference"].startswith("Coverage/")
        if claim["type"]["coding"][0]["code"] != "pharmacy":
            encounter = claim["item"][0]["encounter"][0]["reference"]
            assert by_key[encounter]["subject"] == claim["patient"]


def test_it_labels_sensitive_data_for_consent_rules(resources):
    """Behavioural health, HIV and substance-use data carry the v3 ActCode label and confidentiality R."""
    sensitive_icd = {"F32.9": "PSY", "F41.1": "PSY", "B20": "HIV", "F10.10": "ETH"}
    labelled = Counter()
    for resource in resources:
        codes = {s["code"] for s in resource["meta"].get("security", [])}
        if codes:
            assert "R" in codes
            labelled.update(codes - {"R"})
        if resource["resourceType"] == "Condition":
            icd = resource["code"]["coding"][1]["code"]
            if icd in sensitive_icd:
                assert sensitive_icd[icd] in codes
    assert {"PSY", "HIV", "ETH"} <= set(labelled)


def test_it_gives_some_members_an_earlier_coverage_at_another_payer(resources, by_key):
    """Some members have a cancelled Coverage at another payer that ended before this one began, with Provenance."""
    prior = [r for r in resources if r["resourceType"] == "Coverage" and r["id"].endswith("-prior")]
    assert prior
    for coverage in prior:
        assert coverage["payor"][0]["reference"].startswith("Organization/prior-payer-")
        current = by_key[f"Coverage/{coverage['id'].removesuffix('-prior')}"]
        assert coverage["period"]["end"] < current["period"]["start"]
    provenances = [r for r in resources if r["resourceType"] == "Provenance"]
    assert provenances
    for provenance in provenances:
        assert {agent["who"]["reference"] for agent in provenance["agent"]} <= {
            "Organization/prior-payer-1",
            "Organization/prior-payer-2",
        }


def test_it_keeps_at_most_one_member_in_flight():
    """The generator is lazy: a member's resources are yielded before the next member is generated."""
    done = []
    stream = generate_payer(slug=SLUG, name=NAME, members=12, seed=3, progress=lambda n, total: done.append(n))
    first = next(stream)
    assert first["resourceType"] == "Organization" and done == []
    for resource in stream:
        subject = resource.get("subject") or resource.get("patient") or resource.get("beneficiary")
        if resource["resourceType"] == "Patient":
            member_number = int(resource["id"].removeprefix("pat-"))
        elif subject and subject.get("reference", "").startswith("Patient/pat-"):
            member_number = int(subject["reference"].removeprefix("Patient/pat-"))
        else:
            continue
        # Members before this one are reported done; none after it has been generated yet.
        assert len(done) == member_number - 1
    assert done == list(range(1, 13)) + [12]


def test_it_reports_progress_in_batches():
    """iter_batches yields the shared phases, one batch per member with a running count, then the lists."""
    batches = list(iter_batches(slug=SLUG, name=NAME, members=6, seed=3))
    phases = [batch.phase for batch in batches]
    assert phases[:3] == ["payer", "formulary", "providers"]
    member_batches = [batch for batch in batches if batch.phase == "members"]
    assert [batch.members_done for batch in member_batches] == [1, 2, 3, 4, 5, 6]
    assert all(batch.members_total == 6 for batch in batches)
    assert phases[-1] == "attribution"


@pytest.mark.slow
def test_it_keeps_memory_flat_as_members_grow():
    """Peak traced memory while streaming 240 members stays near that of 60 members (no accumulation)."""

    def peak(members):
        tracemalloc.start()
        for _ in generate_payer(slug=SLUG, name=NAME, members=members, seed=9):
            pass
        result = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return result

    peak(4)  # warm the catalog cache outside the measurement
    small, large = peak(60), peak(240)
    assert large < small * 1.5


def test_it_refuses_too_few_members_and_bad_slugs():
    """A payer needs its four designed members and a DESIGN §4 slug."""
    with pytest.raises(ValueError):
        next(generate_payer(slug=SLUG, name=NAME, members=3, seed=1))
    with pytest.raises(ValueError):
        next(generate_payer(slug="Bad Slug", name=NAME, members=10, seed=1))


def test_it_is_cached_for_the_session():
    """The shared fixture returns the same generation (guards the conftest cache the other tests rely on)."""
    assert generated() is generated()


def test_it_issues_prior_authorizations_in_every_state_and_age(resources):
    """PDex prior authorizations are approved, pended, denied and partial, decided within and beyond the last year."""
    authorizations = [
        r for r in resources if r["resourceType"] == "ExplanationOfBenefit" and r["use"] == "preauthorization"
    ]
    assert {r["outcome"] for r in authorizations} == {"complete", "queued", "partial"}
    assert any(r["disposition"].startswith("Denied") for r in authorizations)
    created = [r["created"][:10] for r in authorizations]
    assert min(created) < "2025-01-01" < max(created)
    for authorization in authorizations:
        assert authorization["preAuthRef"] and authorization["insurance"][0]["coverage"]["reference"]
