"""Loading participants' FHIR data: NDJSON and Bundles, all or nothing, with per-line errors."""

import json

import pytest
from django.core.management import CommandError, call_command

from sandbox.fhirstore.models import Resource
from sandbox.seeding import loaders
from tenants.context import tenant_scope

pytestmark = pytest.mark.django_db


def patient(fhir_id, family="Loaded"):
    return {"resourceType": "Patient", "id": fhir_id, "name": [{"family": family}], "gender": "female"}


def ndjson(*resources):
    return "".join(json.dumps(r) + "\n" for r in resources)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def stored(tenant, resource_type=None):
    with tenant_scope(tenant):
        rows = Resource.objects.filter(deleted=False)
        if resource_type:
            rows = rows.filter(resource_type=resource_type)
        return {r.fhir_id: json.loads(r.content) for r in rows}


def test_it_loads_ndjson_files(tenant, tmp_path, capsys):
    first = write(tmp_path, "patients.ndjson", ndjson(patient("p1"), patient("p2")) + "\n")
    second = write(
        tmp_path,
        "coverage.ndjson",
        ndjson(
            {
                "resourceType": "Coverage",
                "id": "c1",
                "status": "active",
                "beneficiary": {"reference": "Patient/p1"},
                "payor": [{"reference": "Patient/p1"}],
            }
        ),
    )
    call_command("load_data", "acme", first, second)
    assert "Loaded 3 resources into acme (3 created, 0 updated): 1 Coverage, 2 Patient" in capsys.readouterr().out
    assert set(stored(tenant, "Patient")) == {"p1", "p2"}
    with tenant_scope(tenant):
        assert Resource.objects.get(resource_type="Coverage", fhir_id="c1").patient_id == "p1"


def test_it_reports_every_bad_line_and_loads_nothing(tenant, tmp_path, capsys):
    text = "\n".join(
        [
            json.dumps(patient("good")),
            "{not json",
            json.dumps({"resourceType": "Patient", "id": "bad", "gender": "female", "birthDate": "05/06/1980"}),
            json.dumps({"resourceType": "Nonsense", "id": "x"}),
            json.dumps({"resourceType": "Patient", "id": "p", "unknownElement": 1}),
            json.dumps(patient("good")),
        ]
    )
    path = write(tmp_path, "mixed.ndjson", text)
    with pytest.raises(CommandError, match="Nothing was loaded: 5 problem"):
        call_command("load_data", "acme", path)
    err = capsys.readouterr().err
    assert "mixed.ndjson, line 2: Not valid JSON" in err
    assert "line 3: Patient.birthDate" in err
    assert "line 4:" in err and "Nonsense" in err
    assert "line 5: Patient.unknownElement: Unknown element" in err
    assert "line 6: Patient/good is loaded twice (also line 1 of mixed.ndjson)" in err
    assert stored(tenant) == {}


def test_it_loads_nothing_when_any_file_is_bad(tenant, tmp_path):
    good = write(tmp_path, "good.ndjson", ndjson(patient("p1")))
    bad = write(tmp_path, "bad.ndjson", "[1, 2]\n")
    result = loaders.load(tenant, [loaders.Source.from_path(good), loaders.Source.from_path(bad)])
    assert not result.ok and not result.loaded
    assert [str(p) for p in result.problems] == [
        "bad.ndjson, line 1: A line must hold one JSON object (a FHIR resource)."
    ]
    assert stored(tenant) == {}


def test_it_loads_a_transaction_bundle_and_rewrites_urn_references(tenant, tmp_path):
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a",
                "resource": {"resourceType": "Patient", "name": [{"family": "Urn"}]},
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "fullUrl": "urn:uuid:88f151c0-a954-468a-88bd-5ae15c08e059",
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "weight"},
                    "subject": {"reference": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"},
                },
                "request": {"method": "POST", "url": "Observation"},
            },
            {"resource": patient("fixed-id"), "request": {"method": "PUT", "url": "Patient/fixed-id"}},
        ],
    }
    # Pretty-printed, as most Bundles on disk are: read entry by entry.
    path = write(tmp_path, "bundle.json", json.dumps(bundle, indent=2))
    result = loaders.load(tenant, [loaders.Source.from_path(path)])
    assert result.loaded and result.created == 3
    observation = next(iter(stored(tenant, "Observation").values()))
    assert observation["subject"] == {"reference": "Patient/61ebe359-bfdc-4613-8bf2-c5e300945f0a"}
    assert set(stored(tenant, "Patient")) == {"61ebe359-bfdc-4613-8bf2-c5e300945f0a", "fixed-id"}


def test_it_reports_bad_bundle_entries_by_index(tenant, tmp_path):
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": patient("ok"), "request": {"method": "PUT", "url": "Patient/ok"}},
            {"request": {"method": "DELETE", "url": "Patient/ok"}},
            {"resource": {"resourceType": "Patient", "gender": 5}, "request": {"method": "POST", "url": "Patient"}},
            {"resource": patient("other"), "request": {"method": "PUT", "url": "Patient/mismatch"}},
        ],
    }
    path = write(tmp_path, "batch.json", json.dumps(bundle))
    result = loaders.load(tenant, [loaders.Source.from_path(path)])
    messages = [str(p) for p in result.problems]
    assert messages[0] == "batch.json, entry 1: The entry holds no resource."
    assert messages[1].startswith("batch.json, entry 2: Patient.gender")
    assert messages[2] == "batch.json, entry 3: resource.id 'other' differs from request.url 'Patient/mismatch'."
    assert stored(tenant) == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"resourceType": "Bundle", "type": "searchset", "entry": []}', "only batch, transaction and collection"),
        ('{\n"resourceType": "Bundle", "type": "collection", "entry": [\n{"resource": ', "Not a valid JSON Bundle"),
        ('{\n"resourceType": "Patient",\n"id": "x"\n}', "Neither NDJSON"),
        ("", "The file is empty"),
        ('{"resourceType": "Bundle", "type": "collection"}', "No resources to load"),
    ],
)
def test_it_explains_files_that_are_not_bundles(tenant, tmp_path, text, message):
    path = write(tmp_path, "file.json", text)
    result = loaders.load(tenant, [loaders.Source.from_path(path)])
    assert not result.ok
    assert any(message in p.message for p in result.problems), result.problems


def test_it_replaces_resources_that_already_exist(tenant, tmp_path, in_tenant):
    from sandbox.fhirstore import store

    with in_tenant(tenant):
        store.update("Patient", "p1", patient("p1", "Before"))
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": patient("p1", "After")}]}
    result = loaders.load(tenant, [loaders.Source.from_path(write(tmp_path, "c.json", json.dumps(bundle)))])
    assert (result.created, result.updated) == (0, 1)
    assert stored(tenant, "Patient")["p1"]["name"][0]["family"] == "After"
    assert stored(tenant, "Patient")["p1"]["meta"]["versionId"] == "2"


def test_it_streams_large_files_in_chunks(tenant, tmp_path, monkeypatch):
    """More resources than one chunk, with a read buffer smaller than one entry, all load."""
    monkeypatch.setattr(loaders, "CHUNK", 7)
    monkeypatch.setattr(loaders, "_READ_SIZE", 64)
    entries = [{"resource": patient(f"p{i}", "Streamed" * 20)} for i in range(30)]
    bundle = {"resourceType": "Bundle", "type": "collection", "total": 30, "entry": entries}
    path = write(tmp_path, "big.json", json.dumps(bundle, indent=1))
    result = loaders.load(tenant, [loaders.Source.from_path(path)])
    assert result.loaded and result.created == 30
    assert len(stored(tenant, "Patient")) == 30


def test_load_data_command_explains_a_missing_payer_or_file(tenant, tmp_path):
    with pytest.raises(CommandError, match="No payer named 'nope'"):
        call_command("load_data", "nope", str(tmp_path / "x.ndjson"))
    with pytest.raises(CommandError, match="No such file"):
        call_command("load_data", "acme", str(tmp_path / "x.ndjson"))


def test_it_reports_progress_through_validation_then_writing(tenant, tmp_path, monkeypatch):
    monkeypatch.setattr(loaders, "CHUNK", 10)
    first = write(tmp_path, "a.ndjson", ndjson(*(patient(f"a{i}") for i in range(30))))
    second = write(tmp_path, "b.ndjson", ndjson(*(patient(f"b{i}") for i in range(20))))
    reports = []
    result = loaders.load(
        tenant,
        [loaders.Source.from_path(first), loaders.Source.from_path(second)],
        report=lambda fraction, message: reports.append((fraction, message)),
    )
    assert result.loaded and result.created == 50
    fractions = [fraction for fraction, _ in reports]
    assert fractions == sorted(fractions) and 0 < fractions[0] <= 0.5 and fractions[-1] == 1.0
    validating = [m for f, m in reports if m.startswith("Validating")]
    writing = [m for f, m in reports if m.startswith("Writing")]
    assert validating[-1] == "Validating: 50 resources read"
    assert writing == [f"Writing: {n} of 50 resources" for n in (10, 20, 30, 40, 50)]
    assert all(f <= 0.5 for f, m in reports if m.startswith("Validating"))
