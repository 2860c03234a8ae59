"""Provider access over the synthetic generator's data: its ATR lists, members, coverage and NPIs."""

import json

import pytest

from sandbox.fhirstore import store
from sandbox.seeding.generator import generate_payer
from tests.attribution.conftest import NPI, Bulk, Fhir, ids, ref
from tests.attribution.test_export import by_type, run

pytestmark = pytest.mark.slow

ATR_STATUS = "http://hl7.org/fhir/us/davinci-atr/StructureDefinition/ext-attributionListStatus"


@pytest.fixture
def seeded(tenant, in_tenant):
    resources = list(generate_payer(slug="acme", name="Acme Health", members=16, seed=7))
    with in_tenant(tenant):
        store.bulk_load(resources, validate=False)  # the generator is validated in tests/seeding
    return tenant, resources


def _npi(group):
    return next(i["value"] for i in group["identifier"] if i["system"] == NPI)


def test_a_seeded_provider_finds_reconciles_and_downloads_its_list(client, seeded, system_token):
    tenant, resources = seeded
    groups = [r for r in resources if r["resourceType"] == "Group" and r["id"].startswith("atr-")]
    group = next(
        g
        for g in groups
        if any(e["valueCode"] == "open" for e in g["extension"] if e["url"] == ATR_STATUS)
        and any(not m.get("inactive") for m in g.get("member", []))
    )
    npi = _npi(group)
    fhir = Fhir(client, "acme", system_token(tenant, npi))
    assert ids(fhir.get("Group", {"identifier": f"{NPI}|{npi}"}).json()) == sorted(
        g["id"] for g in groups if _npi(g) == npi
    )
    other = next(g for g in groups if _npi(g) != npi)
    assert fhir.get(f"Group/{other['id']}").status_code == 404

    # A covered member of another list can be attributed to this one.
    listed = {m["entity"]["reference"] for m in group.get("member", [])}
    candidate = next(
        m["entity"]["reference"]
        for m in other.get("member", [])
        if not m.get("inactive") and m["entity"]["reference"] not in listed
    )
    added = fhir.operation(f"Group/{group['id']}/$member-add", patientReference=ref(candidate))
    assert added.status_code == 200, added.content

    active = {m["entity"]["reference"].split("/")[1] for m in group.get("member", []) if not m.get("inactive")}
    active.add(candidate.split("/")[1])
    bulk = Bulk(client, tenant, fhir.headers["HTTP_AUTHORIZATION"].split()[1])
    out = by_type(bulk, run(bulk, f"Group/{group['id']}/$davinci-data-export"))
    assert set(out["Patient"]) <= active and candidate.split("/")[1] in out["Patient"]
    exported = json.dumps(out)
    for pid in {m["entity"]["reference"].split("/")[1] for m in other.get("member", [])} - active:
        assert f'"{pid}"' not in exported
