"""_include and _revinclude (incl. Provenance:target and :iterate), with search.mode."""

import pytest

from tests.fhirstore.conftest import fixture


def by_mode(response):
    assert response.status_code == 200, response.content
    out = {}
    for entry in response.json().get("entry", []):
        resource = entry["resource"]
        out.setdefault(entry["search"]["mode"], []).append(f"{resource['resourceType']}/{resource['id']}")
    return {mode: sorted(refs) for mode, refs in out.items()}


@pytest.fixture
def formulary(api):
    for name in (
        "InsurancePlan-FormularyD1002.json",
        "InsurancePlan-PayerInsurancePlanA1002.json",
        "MedicationKnowledge-FormularyDrug-1000091.json",
        "Basic-FormularyItem-D1002-1000091.json",
        "Location-StateOfCTLocation.json",
    ):
        api.put_resource(fixture(name))


def test_it_includes_referenced_resources(api, formulary):
    """Basic?_include=Basic:subject&_include=Basic:formulary adds both targets as includes."""
    item = fixture("Basic-FormularyItem-D1002-1000091.json")
    response = api.get("Basic?code=formulary-item&_include=Basic:subject&_include=Basic:formulary")
    assert by_mode(response) == {
        "match": [f"Basic/{item['id']}"],
        "include": ["InsurancePlan/FormularyD1002", "MedicationKnowledge/FormularyDrug-1000091"],
    }


def test_it_includes_formulary_coverage(api, formulary):
    """InsurancePlan:formulary-coverage (Inferno USDF) includes the formulary once."""
    response = api.get("InsurancePlan?_id=PayerInsurancePlanA1002&_include=InsurancePlan:formulary-coverage")
    assert by_mode(response)["include"] == ["InsurancePlan/FormularyD1002"]


def test_it_revincludes_provenance(api, patient):
    """Patient?_revinclude=Provenance:target returns the Provenance as include."""
    api.put_resource(patient)
    provenance = fixture("pdex-ig_Provenance-1000001_transmitter.json")
    provenance["target"] = [{"reference": "Patient/p1"}]
    api.put_resource(provenance)
    response = api.get("Patient?_id=p1&_revinclude=Provenance:target")
    assert by_mode(response) == {"match": ["Patient/p1"], "include": [f"Provenance/{provenance['id']}"]}


def test_it_iterates(api, formulary):
    """_include:iterate follows includes of includes (item -> formulary plan -> coverage area)."""
    item = fixture("Basic-FormularyItem-D1002-1000091.json")
    plain = api.get(f"Basic?_id={item['id']}&_include=Basic:formulary&_include=InsurancePlan:coverage-area")
    iterated = api.get(
        "InsurancePlan?_id=PayerInsurancePlanA1002&_include=InsurancePlan:formulary-coverage"
        "&_revinclude:iterate=Basic:formulary"
    )
    assert "Location/StateOfCTLocation" not in by_mode(plain).get("include", [])
    assert f"Basic/{item['id']}" in by_mode(iterated)["include"]


def test_it_rejects_bad_include_values(api):
    """A non-reference or unknown parameter in _include is 400."""
    assert api.get("Basic?_include=Basic:code").status_code == 400
    assert api.get("Basic?_include=Spaceship:x").status_code == 400
    assert api.get("Basic?_include=nonsense").status_code == 400


def test_it_never_includes_another_tenants_resources(api, other_api):
    """Targets and Provenance held by another tenant are not included."""
    other_api.put_resource(fixture("MedicationKnowledge-FormularyDrug-1000091.json"))
    item = fixture("Basic-FormularyItem-D1002-1000091.json")
    api.put_resource(item)
    provenance = fixture("pdex-ig_Provenance-1000001_transmitter.json")
    provenance["target"] = [{"reference": f"Basic/{item['id']}"}]
    other_api.put_resource(provenance)
    response = api.get(f"Basic?_id={item['id']}&_include=Basic:subject&_revinclude=Provenance:target")
    assert by_mode(response) == {"match": [f"Basic/{item['id']}"]}
