"""Another tenant's ids are invisible everywhere: read, search, include, history, chain, transaction."""

from tests.fhirstore.conftest import fixture


def test_it_isolates_the_same_ids_in_two_tenants(api, other_api, patient):
    """Both tenants hold Patient/p1; each sees only its own, in every interaction."""
    api.put_resource(patient)
    other_api.put_resource({**patient, "gender": "male", "identifier": [{"value": "OTHER"}]})
    other_api.put_resource(
        {
            "resourceType": "Encounter",
            "id": "e-other",
            "status": "finished",
            "class": {"code": "AMB"},
            "subject": {"reference": "Patient/p1"},
        }
    )
    assert api.get("Patient/p1").json()["gender"] == "female"
    assert api.get("Patient", {"identifier": "OTHER"}).json()["total"] == 0
    assert api.get("Encounter", {"patient": "Patient/p1"}).json()["total"] == 0
    assert api.get("Patient?_id=p1&_revinclude=Encounter:patient").json()["entry"][-1]["search"]["mode"] == "match"
    assert api.get("Encounter/e-other").status_code == 404
    assert api.get("Encounter/e-other/_history").status_code == 404
    assert api.get("Encounter/_history").json().get("entry") is None
    system_history = api.get("_history").json()
    assert {e["fullUrl"].rsplit("/", 2)[-2] for e in system_history["entry"]} == {"Patient"}
    assert api.get("Encounter", {"patient.identifier": "OTHER"}).json()["total"] == 0
    assert api.get("Patient", {"_has:Encounter:patient:status": "finished"}).json()["total"] == 0
    assert api.get("Patient/p1/$everything").json()["total"] == 1


def test_it_keeps_transaction_references_local(api, other_api):
    """A transaction referencing an id that exists only in another tenant cannot include it."""
    other_api.put_resource(fixture("MedicationKnowledge-FormularyDrug-1000091.json"))
    item = fixture("Basic-FormularyItem-D1002-1000091.json")
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": item, "request": {"method": "PUT", "url": f"Basic/{item['id']}"}},
            {"request": {"method": "GET", "url": "MedicationKnowledge/FormularyDrug-1000091"}},
        ],
    }
    assert api.post("", bundle).status_code == 404
    assert api.get(f"Basic/{item['id']}").status_code == 404
