"""Dashboard pages for formularies: create a plan and a formulary, add and remove drugs, retire."""

import pytest

from sandbox.seeding.builders import USDF

pytestmark = pytest.mark.django_db

FORMULARY = {"name": "Acme Exchange Formulary 2026", "identifier": "", "start": "2026-01-01", "end": "2026-12-31"}


def _ext(resource, name):
    return next(e for e in resource["extension"] if e["url"] == USDF + name)


def _new_formulary(member_client):
    response = member_client.post("/payers/acme/data/formularies/new/", FORMULARY)
    assert response.status_code == 302
    return response["Location"].rstrip("/").rsplit("/", 1)[1]


def test_it_lists_formularies_and_plans(member_client, seeded):
    response = member_client.get("/payers/acme/data/formularies/")
    assert response.status_code == 200
    assert {f["status"] for f in response.context["formularies"]} == {"active", "retired"}
    assert {p["id"] for p in response.context["plans"]} == {"plan-ma", "plan-com"}


def test_it_creates_a_formulary(member_client, seeded, read):
    formulary_id = _new_formulary(member_client)
    assert formulary_id == "formulary-acme-exchange-formulary-2026"
    formulary = read(seeded, "InsurancePlan", formulary_id)
    assert formulary["meta"]["profile"] == [USDF + "usdf-Formulary"]
    assert formulary["status"] == "active" and formulary["period"] == {"start": "2026-01-01", "end": "2026-12-31"}
    page = member_client.get(f"/payers/acme/data/formularies/{formulary_id}/")
    assert page.status_code == 200 and "No drugs yet" in page.content.decode()


def test_it_creates_a_plan_listing_formularies(member_client, seeded, read):
    formulary_id = _new_formulary(member_client)
    response = member_client.post(
        "/payers/acme/data/formularies/plans/new/",
        {
            "name": "Acme Silver",
            "identifier": "CT-SILVER",
            "product_type": "hmo",
            "formularies": [formulary_id],
            "start": "2026-01-01",
            "end": "2026-12-31",
        },
    )
    assert response.status_code == 302
    plan = read(seeded, "InsurancePlan", "plan-ct-silver")
    assert plan["meta"]["profile"] == [USDF + "usdf-PayerInsurancePlan"]
    references = [e["valueReference"]["reference"] for e in plan["coverage"][0]["extension"]]
    assert references == [f"InsurancePlan/{formulary_id}"]
    assert plan["plan"][0]["specificCost"] and plan["ownedBy"]["reference"] == "Organization/payer"


def test_it_adds_a_drug_by_name_with_tier_and_restrictions(member_client, seeded, read):
    formulary_id = _new_formulary(member_client)
    response = member_client.post(
        f"/payers/acme/data/formularies/{formulary_id}/drugs/",
        {
            "drug": "penicillin G 375 MG/ML Injectable Solution",
            "tier": "specialty",
            "prior_authorization": "on",
            "quantity_limit": "on",
            "quantity_note": "10 mL per 30 days",
        },
    )
    assert response.status_code == 302
    item = read(seeded, "Basic", f"item-{formulary_id}-105078")
    assert item["subject"] == {"reference": "MedicationKnowledge/drug-105078"}
    assert _ext(item, "usdf-DrugTierID-extension")["valueCodeableConcept"]["coding"][0]["code"] == "specialty"
    assert _ext(item, "usdf-PriorAuthorization-extension")["valueBoolean"] is True
    assert _ext(item, "usdf-StepTherapyLimit-extension")["valueBoolean"] is False
    assert _ext(item, "usdf-QuantityLimitDetail-extension")["extension"][0]["valueString"] == "10 mL per 30 days"
    assert read(seeded, "MedicationKnowledge", "drug-105078")["code"]["coding"][0]["code"] == "105078"
    page = member_client.get(f"/payers/acme/data/formularies/{formulary_id}/")
    assert [i["rxcui"] for i in page.context["items"]] == ["105078"]


def test_it_adds_a_drug_by_rxnorm_code_and_removes_it(member_client, seeded, read):
    formulary_id = _new_formulary(member_client)
    url = f"/payers/acme/data/formularies/{formulary_id}/drugs/"
    assert member_client.post(url, {"drug": "105078", "tier": "generic"}).status_code == 302
    again = member_client.post(url, {"drug": "105078", "tier": "generic"})
    assert again.status_code == 400 and "already on this formulary" in again.content.decode()
    removed = member_client.post(f"{url}item-{formulary_id}-105078/remove/")
    assert removed.status_code == 302
    assert read(seeded, "Basic", f"item-{formulary_id}-105078") is None


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"drug": "999999999", "tier": "generic"}, "drug", "not in the sandbox's drug catalog"),
        ({"drug": "zzzz", "tier": "generic"}, "drug", "No drug in the catalog"),
        ({"drug": "tablet", "tier": "generic"}, "drug", "matches"),
        ({"drug": "105078", "tier": "gold"}, "tier", "Select a valid choice"),
        ({"drug": "105078", "tier": "generic", "quantity_note": "30"}, "quantity_note", "Quantity limit"),
    ],
)
def test_it_explains_bad_drug_input_and_saves_nothing(member_client, seeded, read, data, field, message):
    formulary_id = _new_formulary(member_client)
    response = member_client.post(f"/payers/acme/data/formularies/{formulary_id}/drugs/", data)
    assert response.status_code == 400
    assert message in " ".join(response.context["drug_form"].errors[field])
    assert member_client.get(f"/payers/acme/data/formularies/{formulary_id}/").context["items"] == []


def test_it_retires_a_formulary_and_its_items(member_client, seeded, read):
    formulary_id = _new_formulary(member_client)
    member_client.post(f"/payers/acme/data/formularies/{formulary_id}/drugs/", {"drug": "105078", "tier": "generic"})
    response = member_client.post(f"/payers/acme/data/formularies/{formulary_id}/retire/")
    assert response.status_code == 302
    assert read(seeded, "InsurancePlan", formulary_id)["status"] == "retired"
    item = read(seeded, "Basic", f"item-{formulary_id}-105078")
    assert _ext(item, "usdf-AvailabilityStatus-extension")["valueCode"] == "retired"
    late = member_client.post(
        f"/payers/acme/data/formularies/{formulary_id}/drugs/", {"drug": "243670", "tier": "generic"}
    )
    assert late.status_code == 400 and "retired" in late.content.decode()


def test_it_explains_bad_formulary_and_plan_input(member_client, seeded):
    bad = member_client.post("/payers/acme/data/formularies/new/", {**FORMULARY, "end": "2025-01-01"})
    assert bad.status_code == 200 and "before the start" in bad.context["form"].errors["end"][0]
    no_formulary = member_client.post(
        "/payers/acme/data/formularies/plans/new/",
        {"name": "X", "product_type": "hmo", "start": "2026-01-01", "end": "2026-12-31"},
    )
    assert no_formulary.status_code == 200 and "required" in no_formulary.context["form"].errors["formularies"][0]
    assert len(member_client.get("/payers/acme/data/formularies/").context["plans"]) == 2


def test_it_hides_formularies_from_non_members_and_other_payers(
    client, member_client, seeded, other_seeded, other_user
):
    formulary_id = "formulary-ma-2026"
    mine = _new_formulary(member_client)
    # member_client is the same client: from here on it is Charlie's.
    client.force_login(other_user)
    assert client.get("/payers/acme/data/formularies/").status_code == 404
    assert client.get(f"/payers/acme/data/formularies/{formulary_id}/").status_code == 404
    assert client.post(f"/payers/acme/data/formularies/{formulary_id}/retire/").status_code == 404
    # Charlie's own payer is served to him; a formulary id only Alice's payer holds is not.
    assert client.get(f"/payers/beta/data/formularies/{mine}/").status_code == 404
    assert client.post(f"/payers/beta/data/formularies/{mine}/retire/").status_code == 404
    assert client.get(f"/payers/beta/data/formularies/{formulary_id}/").status_code == 200
