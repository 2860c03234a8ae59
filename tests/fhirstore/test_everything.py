"""Patient/[id]/$everything with _since, _type and _count."""

from tests.fhirstore.test_search_paging import follow, link


def seed(api, patient):
    api.put_resource(patient)
    api.put_resource({**patient, "id": "p2"})
    for i in range(3):
        api.put_resource(
            {
                "resourceType": "Encounter",
                "id": f"enc{i}",
                "status": "finished",
                "class": {"code": "AMB"},
                "subject": {"reference": "Patient/p1"},
            }
        )
    api.put_resource(
        {
            "resourceType": "Coverage",
            "id": "cov1",
            "status": "active",
            "beneficiary": {"reference": "Patient/p1"},
            "payor": [{"reference": "Organization/o1"}],
        }
    )
    api.put_resource(
        {
            "resourceType": "Encounter",
            "id": "other",
            "status": "finished",
            "class": {"code": "AMB"},
            "subject": {"reference": "Patient/p2"},
        }
    )


def refs(bundle):
    return sorted(f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle.get("entry", []))


def test_it_returns_the_compartment(api, patient):
    """The Patient and what references it as patient/beneficiary, nothing of other patients."""
    seed(api, patient)
    bundle = api.get("Patient/p1/$everything").json()
    assert refs(bundle) == ["Coverage/cov1", "Encounter/enc0", "Encounter/enc1", "Encounter/enc2", "Patient/p1"]
    assert bundle["total"] == 5


def test_it_filters_by_type_and_since(api, patient):
    """_type limits the types; _since drops older resources."""
    seed(api, patient)
    assert refs(api.get("Patient/p1/$everything", {"_type": "Coverage"}).json()) == ["Coverage/cov1"]
    updated = api.put_resource(
        {
            "resourceType": "Encounter",
            "id": "enc1",
            "status": "cancelled",
            "class": {"code": "AMB"},
            "subject": {"reference": "Patient/p1"},
        }
    )
    since = updated["meta"]["lastUpdated"]
    assert refs(api.get("Patient/p1/$everything", {"_since": since}).json()) == ["Encounter/enc1"]
    assert api.get("Patient/p1/$everything", {"_since": "not-a-date"}).status_code == 400
    assert api.get("Patient/p1/$everything", {"_type": "Spaceship"}).status_code == 400


def test_it_pages(api, patient):
    """_count pages the compartment with next links."""
    seed(api, patient)
    first = api.get("Patient/p1/$everything", {"_count": 2}).json()
    second = follow(api, link(first, "next")).json()
    third = follow(api, link(second, "next")).json()
    assert len(refs(first) + refs(second) + refs(third)) == 5
    assert set(refs(first) + refs(second) + refs(third)) == {
        "Coverage/cov1",
        "Encounter/enc0",
        "Encounter/enc1",
        "Encounter/enc2",
        "Patient/p1",
    }


def test_it_404s_unknown_and_other_tenants_patients(api, other_api, patient):
    """Another tenant's patient is unknown here."""
    other_api.put_resource(patient)
    assert api.get("Patient/p1/$everything").status_code == 404


def test_it_needs_a_token(anonymous, api, patient):
    """$everything is never public."""
    api.put_resource(patient)
    assert anonymous.get("Patient/p1/$everything").status_code == 401


def test_it_counts_only_what_it_returns(api, patient):
    """With _since after the Patient's last update, neither entries nor total include the Patient."""
    seed(api, patient)
    updated = api.put_resource(
        {
            "resourceType": "Encounter",
            "id": "enc1",
            "status": "cancelled",
            "class": {"code": "AMB"},
            "subject": {"reference": "Patient/p1"},
        }
    )
    bundle = api.get("Patient/p1/$everything", {"_since": updated["meta"]["lastUpdated"]}).json()
    assert refs(bundle) == ["Encounter/enc1"]
    assert bundle["total"] == 1
