"""Dashboard pages for a payer's members: list, search, detail, add, edit, delete."""

import datetime as dt
import json

import pytest

from sandbox.fhirstore.models import Resource
from tenants.context import tenant_scope

pytestmark = pytest.mark.django_db

MEMBER = {
    "family": "Okafor",
    "given": "Ada Grace",
    "gender": "female",
    "birth_date": "1980-05-06",
    "member_id": "",
    "phone": "(860) 555-0123",
    "email": "ada@example.test",
    "line": "1 Main Street",
    "city": "Hartford",
    "state": "ct",
    "postal_code": "06103",
    "plan_id": "plan-com",
    "relationship": "self",
    "subscriber_id": "",
    "coverage_start": "2024-01-01",
    "coverage_end": "",
}


def _count(tenant, resource_type):
    with tenant_scope(tenant):
        return Resource.objects.filter(resource_type=resource_type, deleted=False).count()


def test_it_lists_members_with_their_member_ids(member_client, seeded):
    response = member_client.get("/payers/acme/data/members/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Patricia Ann Person" in body
    assert "ACM00000001" in body
    assert "4 members" in body


def _names(response):
    return [row.name for row in response.context["rows"]]


def test_it_searches_by_name_and_by_member_id(member_client, seeded):
    by_name = member_client.get("/payers/acme/data/members/", {"q": "rivera"})
    assert _names(by_name) == ["Jordan Lee Rivera", "Jordan Leigh Rivera"]
    by_id = member_client.get("/payers/acme/data/members/", {"q": "acm00000004"})
    assert _names(by_id) == ["Alex Morgan Quinn"]
    nobody = member_client.get("/payers/acme/data/members/", {"q": "zzz"})
    assert _names(nobody) == [] and "No member matches" in nobody.content.decode()


@pytest.mark.parametrize("query", ["a,b", "|", "\\", "%", "x$y", "'; drop table", "ACM|00000001"])
def test_it_treats_search_text_as_text(member_client, seeded, query):
    response = member_client.get("/payers/acme/data/members/", {"q": query})
    assert response.status_code == 200


def test_it_pages_the_member_list(member_client, tenant, monkeypatch):
    from sandbox.seeding import populate, views

    populate.seed_tenant(tenant, members=7, seed=1)
    monkeypatch.setattr(views, "MEMBERS_PER_PAGE", 3)
    first = member_client.get("/payers/acme/data/members/").content.decode()
    assert "Page 1 of 3" in first and "pat-000001" in first and "pat-000004" not in first
    third = member_client.get("/payers/acme/data/members/", {"page": 3}).content.decode()
    assert "pat-000007" in third and "pat-000001" not in third


def test_it_shows_a_member_with_coverage_counts_and_a_member_match_request(member_client, seeded):
    response = member_client.get("/payers/acme/data/members/pat-000001/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "cov-000001" in body and "cov-000001-prior" in body
    assert "ExplanationOfBenefit" in body
    request = json.loads(response.context["member_match_request"])
    parts = {p["name"]: p["resource"] for p in request["parameter"]}
    assert parts["MemberPatient"]["name"][0]["family"] == "Person"
    assert parts["CoverageToMatch"]["subscriberId"] == "ACM00000001"
    assert set(parts) == {"MemberPatient", "CoverageToMatch", "CoverageToLink", "Consent"}


def test_it_adds_a_member_with_coverage(member_client, seeded, read):
    response = member_client.post("/payers/acme/data/members/new/", MEMBER)
    assert response.status_code == 302
    patient_id = response["Location"].rstrip("/").rsplit("/", 1)[1]
    patient = read(seeded, "Patient", patient_id)
    assert patient["name"][0] == {"use": "official", "family": "Okafor", "given": ["Ada", "Grace"]}
    assert patient["address"][0]["state"] == "CT"
    member_id = patient["identifier"][0]["value"]
    assert member_id.startswith("ACMM")
    coverage = read(seeded, "Coverage", f"cov-{patient_id.removeprefix('pat-')}")
    assert coverage["beneficiary"] == {"reference": f"Patient/{patient_id}"}
    assert coverage["subscriberId"] == member_id and coverage["status"] == "active"
    assert coverage["class"][0]["value"] == "CT-COM-HMO" or coverage["class"][0]["name"]
    listed = member_client.get("/payers/acme/data/members/", {"q": "okafor"}).content.decode()
    assert "Ada Grace Okafor" in listed


def test_it_edits_a_member_and_keeps_what_the_form_does_not_manage(member_client, seeded, read):
    form = member_client.get("/payers/acme/data/members/pat-000001/edit/")
    assert form.status_code == 200
    assert form.context["form"].initial["member_id"] == "ACM00000001"
    data = {**MEMBER, "member_id": "ACM00000001", "family": "Person-Smith", "plan_id": "plan-ma"}
    response = member_client.post("/payers/acme/data/members/pat-000001/edit/", data)
    assert response.status_code == 302, response.context["form"].errors
    patient = read(seeded, "Patient", "pat-000001")
    assert patient["name"][0]["family"] == "Person-Smith"
    assert any(e["url"].endswith("us-core-race") for e in patient["extension"])
    coverage = read(seeded, "Coverage", "cov-000001")
    assert coverage["extension"][-1]["valueReference"]["reference"] == "InsurancePlan/plan-ma"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"birth_date": "2999-01-01"}, "birth_date", "in the future"),
        ({"coverage_end": "2020-01-01"}, "coverage_end", "before the start"),
        ({"member_id": "ACM00000002"}, "member_id", "already belongs to Patient/pat-000002"),
        ({"member_id": "bad id!"}, "member_id", "letters, digits"),
        ({"plan_id": "plan-nope"}, "plan_id", "Select a valid choice"),
        ({"family": ""}, "family", "required"),
    ],
)
def test_it_explains_bad_member_input_and_saves_nothing(member_client, seeded, change, field, message):
    before = (_count(seeded, "Patient"), _count(seeded, "Coverage"))
    response = member_client.post("/payers/acme/data/members/new/", {**MEMBER, **change})
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert "nothing was saved" in response.content.decode()
    assert (_count(seeded, "Patient"), _count(seeded, "Coverage")) == before


def test_it_saves_nothing_when_the_store_rejects_the_coverage(member_client, seeded, monkeypatch):
    """A failure after the Patient was written rolls the Patient back too."""
    from sandbox.fhirstore.errors import InvalidResource
    from sandbox.seeding import roster

    def broken(*args, **kwargs):
        raise InvalidResource("The Coverage is not valid FHIR R4 (1 problem(s)).")

    monkeypatch.setattr(roster, "_coverage", broken)
    before = _count(seeded, "Patient")
    response = member_client.post("/payers/acme/data/members/new/", MEMBER)
    assert response.status_code == 200
    assert "not valid FHIR R4" in response.content.decode()
    assert _count(seeded, "Patient") == before


def test_it_deletes_a_member_and_all_their_data(member_client, seeded, read):
    with tenant_scope(seeded):
        compartment = Resource.objects.filter(patient_id="pat-000001", deleted=False).count()
    assert compartment > 20
    confirm = member_client.get("/payers/acme/data/members/pat-000001/delete/")
    assert confirm.status_code == 200 and str(compartment) in confirm.content.decode()
    response = member_client.post("/payers/acme/data/members/pat-000001/delete/")
    assert response.status_code == 302
    with tenant_scope(seeded):
        assert Resource.objects.filter(patient_id="pat-000001", deleted=False).count() == 0
        groups = [
            json.loads(c) for c in Resource.objects.filter(resource_type="Group").values_list("content", flat=True)
        ]
    assert all(m["entity"]["reference"] != "Patient/pat-000001" for group in groups for m in group.get("member", []))
    assert read(seeded, "Patient", "pat-000002") is not None
    assert member_client.get("/payers/acme/data/members/pat-000001/").status_code == 404


def test_deleting_a_twin_keeps_the_subscriber_the_other_twin_points_at(member_client, seeded, read):
    """The designed twins share one policy; its subscriber (a RelatedPerson) sits in twin A's compartment."""
    assert read(seeded, "Coverage", "cov-000003")["subscriber"] == {"reference": "RelatedPerson/rp-000002"}
    assert read(seeded, "RelatedPerson", "rp-000002")["patient"] == {"reference": "Patient/pat-000002"}
    response = member_client.post("/payers/acme/data/members/pat-000002/delete/")
    assert response.status_code == 302
    assert read(seeded, "Patient", "pat-000002") is None
    assert read(seeded, "Coverage", "cov-000002") is None
    subscriber = read(seeded, "RelatedPerson", "rp-000002")
    assert subscriber is not None and subscriber["patient"] == {"reference": "Patient/pat-000003"}
    with tenant_scope(seeded):
        assert Resource.objects.get(resource_type="RelatedPerson", fhir_id="rp-000002").patient_id == "pat-000003"
    # Deleting the other twin now removes the subscriber too: nobody points at it any more.
    assert member_client.post("/payers/acme/data/members/pat-000003/delete/").status_code == 302
    assert read(seeded, "RelatedPerson", "rp-000002") is None


@pytest.mark.parametrize(
    "path",
    [
        "/payers/acme/data/members/",
        "/payers/acme/data/members/new/",
        "/payers/acme/data/members/pat-000001/",
        "/payers/acme/data/members/pat-000001/edit/",
        "/payers/acme/data/members/pat-000001/delete/",
    ],
)
def test_it_hides_member_pages_from_non_members(client, seeded, other_user, path):
    client.force_login(other_user)
    assert client.get(path).status_code == 404
    assert client.post(path, MEMBER).status_code == 404


def test_it_requires_sign_in(client, seeded):
    response = client.get("/payers/acme/data/members/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_it_finds_no_member_of_another_payer(member_client, seeded, other_seeded, other_tenant):
    """A member created in Charlie's payer gives 404 under Alice's, and survives her delete attempt."""
    from sandbox.seeding import roster

    with tenant_scope(other_tenant):
        patient_id = roster.save_member(
            other_tenant,
            {
                **MEMBER,
                "birth_date": dt.date(1980, 5, 6),
                "coverage_start": dt.date(2024, 1, 1),
                "coverage_end": None,
            },
        )
    for suffix in ("", "edit/", "delete/"):
        assert member_client.get(f"/payers/acme/data/members/{patient_id}/{suffix}").status_code == 404
    assert member_client.post(f"/payers/acme/data/members/{patient_id}/delete/").status_code == 404
    with tenant_scope(other_tenant):
        assert Resource.objects.filter(resource_type="Patient", fhir_id=patient_id, deleted=False).exists()
