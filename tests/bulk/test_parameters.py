"""What each kick-off parameter does to the output (Bulk Data §1.3, §2.7)."""

import time

from django.utils import timezone

from sandbox.fhirstore import store
from tenants.context import tenant_scope
from tests.bulk.conftest import ids


def instant(when):
    return store.instant(when)


def touch_later(tenant):
    """After a pause: update p1, delete obs-p0; returns the instant before these changes."""
    time.sleep(0.01)
    before = timezone.now()
    time.sleep(0.01)
    with tenant_scope(tenant):
        store.update("Patient", "p1", {"resourceType": "Patient", "id": "p1", "gender": "male"})
        store.delete("Observation", "obs-p0")
    return before


def test_it_limits_output_to_type(bulk, data):
    """_type lists the types to export, as a comma list or repeated."""
    out = bulk.export("$export", {"_type": ["Patient,Group", "Coverage"]})
    assert sorted(out) == ["Coverage", "Group", "Patient"]


def test_it_exports_changes_since_and_lists_deletions(bulk, data):
    """_since: only resources changed after it; deletions as transaction Bundles in `deleted` (§2.7)."""
    since = touch_later(data)
    manifest = bulk.run("$export", {"_since": instant(since)})
    assert [(o["type"], o["count"]) for o in manifest["output"]] == [("Patient", 1)]
    assert bulk.lines(manifest["output"][0]["url"])[0]["gender"] == "male"
    assert [(d["type"], d["count"]) for d in manifest["deleted"]] == [("Bundle", 1)]
    bundle = bulk.lines(manifest["deleted"][0]["url"])[0]
    assert bundle["type"] == "transaction"
    assert bundle["entry"] == [{"request": {"method": "DELETE", "url": "Observation/obs-p0"}}]


def test_it_lists_only_the_groups_deletions_at_group_level(bulk, data):
    """A deleted resource of a non-member is not in a group export's `deleted`."""
    since = touch_later(data)
    with tenant_scope(data):
        store.delete("Observation", "obs-p2")
    manifest = bulk.run("Group/g1/$export", {"_since": instant(since)})
    bundle = bulk.lines(manifest["deleted"][0]["url"])[0]
    assert [e["request"]["url"] for e in bundle["entry"]] == ["Observation/obs-p0"]


def test_it_has_no_deleted_key_without_since(bulk, data):
    """Without _since the manifest has no `deleted` (and deleted resources are not output)."""
    touch_later(data)
    manifest = bulk.run("$export")
    assert "deleted" not in manifest
    observations = [o for o in manifest["output"] if o["type"] == "Observation"]
    assert observations[0]["count"] == 2


def test_it_exports_until(bulk, data):
    """_until (STU3): only resources changed before it."""
    until = touch_later(data)
    out = bulk.export("$export", {"_until": instant(until), "_type": "Patient,Observation"})
    assert ids(out["Patient"]) == ["p0", "p2"]
    assert ids(out["Observation"]) == ["obs-p1", "obs-p2"]


def test_it_trims_elements_and_tags_subsetted(bulk, data):
    """_elements keeps the asked and the mandatory elements, and tags the resource SUBSETTED."""
    out = bulk.export("$export", {"_type": "Patient,Coverage,Organization", "_elements": "Patient.gender,id"})
    patient = out["Patient"][0]
    assert set(patient) == {"resourceType", "id", "meta", "gender"}
    assert patient["meta"]["tag"][-1]["code"] == "SUBSETTED"
    coverage = out["Coverage"][0]
    # Mandatory elements stay: status, beneficiary and payor have minimum cardinality 1.
    assert set(coverage) == {"resourceType", "id", "meta", "status", "beneficiary", "payor"}
    assert set(out["Organization"][0]) == {"resourceType", "id", "meta"}


def test_it_keeps_untrimmed_types_byte_for_byte(bulk, data):
    """Types not named in Type.element entries are streamed as stored."""
    out = bulk.export("$export", {"_type": "Patient,Group", "_elements": "Patient.gender"})
    with tenant_scope(data):
        assert out["Group"][0] == store.read("Group", "g1").as_dict()


def test_it_filters_with_type_filter(bulk, data):
    """_typeFilter goes through the search engine; several queries of a type are OR-ed, other types pass."""
    out = bulk.export(
        "$export",
        {"_type": "Observation,Patient", "_typeFilter": ["Observation?status=final", "Patient?gender=male"]},
    )
    assert ids(out["Observation"]) == ["obs-p0", "obs-p2"]
    assert "Patient" not in out
    out = bulk.export(
        "$export",
        {"_typeFilter": "Observation?status=final,Observation?_id=obs-p1", "_type": "Observation,Coverage"},
    )
    assert ids(out["Observation"]) == ["obs-p0", "obs-p1", "obs-p2"]
    assert len(out["Coverage"]) == 3


def test_it_keeps_commas_inside_a_type_filter_query(bulk, data):
    """`status=final,preliminary` is one query with an OR value, not two queries."""
    out = bulk.export("$export", {"_typeFilter": "Observation?status=final,preliminary", "_type": "Observation"})
    assert len(out["Observation"]) == 3


def test_it_exports_the_patient_compartment_and_what_it_references(bulk, data):
    """Patient/$export: every compartment resource plus referenced Organization and Practitioner only."""
    out = bulk.export("Patient/$export")
    assert sorted(out) == ["Coverage", "Observation", "Organization", "Patient", "Practitioner"]
    assert ids(out["Organization"]) == ["payer-org"]
    assert ids(out["Practitioner"]) == ["dr1"]
    assert ids(out["Patient"]) == ["p0", "p1", "p2"]


def test_it_exports_a_groups_members(bulk, data):
    """Group/[id]/$export: the compartments of the group's members (p0, p1) only."""
    out = bulk.export("Group/g1/$export")
    assert ids(out["Patient"]) == ["p0", "p1"]
    assert ids(out["Coverage"]) == ["cov-p0", "cov-p1"]
    assert ids(out["Organization"]) == ["payer-org"]
    assert "Group" not in out


def test_it_narrows_a_group_export_to_posted_patients(bulk, data):
    """POST `patient` limits the export to those members (the v2 group-membership pattern, §1.6)."""
    response = bulk.kickoff_post(
        "Group/g1/$export", [{"name": "patient", "valueReference": {"reference": "Patient/p1"}}]
    )
    manifest = bulk.status(response["Content-Location"]).json()
    out = {item["type"]: bulk.lines(item["url"]) for item in manifest["output"]}
    assert ids(out["Patient"]) == ["p1"] and ids(out["Observation"]) == ["obs-p1"]


def test_it_exports_member_ids_with_elements_id(bulk, data):
    """_type=Patient&_elements=id: the current member list of a group (§1.6 step 2)."""
    out = bulk.export("Group/g1/$export", {"_type": "Patient", "_elements": "id"})
    assert [sorted(p) for p in out["Patient"]] == [["id", "meta", "resourceType"]] * 2


def test_it_skips_inactive_group_members(bulk, data):
    """A member marked inactive is not exported."""
    with tenant_scope(data):
        group = store.read("Group", "g1").as_dict()
        group["member"][0]["inactive"] = True
        store.update("Group", "g1", group)
    out = bulk.export("Group/g1/$export", {"_type": "Patient"})
    assert ids(out["Patient"]) == ["p1"]


def test_it_accepts_allow_partial_manifests(bulk, data):
    """allowPartialManifests=true is accepted; the complete manifest is returned in one page."""
    manifest = bulk.run("$export", {"allowPartialManifests": "true", "_type": "Patient"})
    assert manifest["output"][0]["count"] == 3 and "link" not in manifest


def test_it_organizes_output_by_patient(bulk, data, settings):
    """organizeOutputBy=Patient (STU3): blocks of header, Patient, compartment; no `type`; outputOrganizedBy."""
    settings.EXPORT_FILE_MAX_LINES = 5
    manifest = bulk.run("Group/g1/$export", {"organizeOutputBy": "Patient", "_type": "Patient,Coverage,Observation"})
    assert manifest["outputOrganizedBy"] == "Patient"
    assert all("type" not in item for item in manifest["output"]) and len(manifest["output"]) == 2
    blocks = {}
    for item in manifest["output"]:
        lines = bulk.lines(item["url"])
        assert item["count"] == len(lines) == 4
        header, patient, *rest = lines
        assert header["resourceType"] == "Parameters" and header["parameter"][0]["name"] == "header"
        reference = header["parameter"][0]["valueReference"]["reference"]
        assert reference == f"Patient/{patient['id']}"
        blocks[patient["id"]] = sorted(r["resourceType"] for r in rest)
    assert blocks == {"p0": ["Coverage", "Observation"], "p1": ["Coverage", "Observation"]}


def test_it_organizes_every_patient_at_patient_level(bulk, data):
    """Patient/$export organised by patient: one block per patient, Organization not added."""
    manifest = bulk.run("Patient/$export", {"organizeOutputBy": "Patient", "_typeFilter": "Observation?status=final"})
    lines = [r for item in manifest["output"] for r in bulk.lines(item["url"])]
    headers = [r for r in lines if r["resourceType"] == "Parameters"]
    assert len(headers) == 3 and len(lines) == 3 * 3 + 2
    assert {r["resourceType"] for r in lines} == {"Parameters", "Patient", "Coverage", "Observation"}


def test_it_refuses_organize_output_by_at_system_level(bulk, data, queued):
    """organizeOutputBy is for Patient and Group exports here."""
    assert bulk.kickoff("$export", {"organizeOutputBy": "Patient"}).status_code == 400


def test_it_exports_the_whole_history_of_members_who_joined_after_since(bulk, data):
    """Group export with _since: a member added later gets everything, the others only changes."""
    since = touch_later(data)
    with tenant_scope(data):
        group = store.read("Group", "g1").as_dict()
        group["member"].append({"entity": {"reference": "Patient/p2"}})
        store.update("Group", "g1", group)
    out = bulk.export("Group/g1/$export", {"_since": instant(since), "_type": "Patient,Coverage,Observation"})
    assert ids(out["Patient"]) == ["p1", "p2"]
    assert ids(out["Coverage"]) == ["cov-p2"] and ids(out["Observation"]) == ["obs-p2"]


def test_it_counts_a_member_period_starting_after_since_as_new(bulk, data):
    """member.period.start after _since marks a member as joined later (ATR attribution periods)."""
    since = touch_later(data)
    with tenant_scope(data):
        group = store.read("Group", "g1").as_dict()
        group["member"][0]["period"] = {"start": instant(timezone.now())}
        store.update("Group", "g1", group)
    out = bulk.export("Group/g1/$export", {"_since": instant(since), "_type": "Coverage"})
    assert ids(out["Coverage"]) == ["cov-p0"]
