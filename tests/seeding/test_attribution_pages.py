"""Dashboard pages for ATR attribution lists: create, add and remove members, list status."""

import datetime as dt

import pytest

from sandbox.seeding.builders import ATR

pytestmark = pytest.mark.django_db


def _status(group):
    return next(e["valueCode"] for e in group["extension"] if e["url"] == ATR + "ext-attributionListStatus")


def _list_id(seeded, read):
    from sandbox.seeding import attribution_lists
    from tenants.context import tenant_scope

    with tenant_scope(seeded):
        return attribution_lists.attribution_lists()[0]["id"]


def test_it_lists_the_seeded_attribution_lists(member_client, seeded):
    response = member_client.get("/payers/acme/data/attribution/")
    assert response.status_code == 200
    groups = response.context["groups"]
    assert groups and all(g["id"].startswith("atr-") for g in groups)
    assert sum(g["entries"] for g in groups) == 4


def test_it_creates_a_list_for_a_provider_organization(member_client, seeded, read):
    organizations = member_client.get("/payers/acme/data/attribution/").context["form"].fields["organization"].choices
    org_id = organizations[0][0]
    response = member_client.post(
        "/payers/acme/data/attribution/",
        {"organization": org_id, "name": "", "status": "draft", "start": "2026-01-01", "end": "2026-12-31"},
    )
    assert response.status_code == 302
    group_id = response["Location"].rstrip("/").rsplit("/", 1)[1]
    group = read(seeded, "Group", group_id)
    assert group["meta"]["profile"] == [ATR + "atr-group"]
    assert group["actual"] is True and group["type"] == "person" and group["quantity"] == 0
    assert _status(group) == "draft"
    assert group["name"].endswith("attribution list 2026")
    assert {i["system"] for i in group["identifier"]} == {
        "http://hl7.org/fhir/sid/us-npi",
        "urn:oid:2.16.840.1.113883.4.4",
    }


def test_it_adds_a_member_by_member_id_and_removes_them(member_client, seeded, read):
    list_page = member_client.post(
        "/payers/acme/data/attribution/",
        {"organization": "org-0001", "status": "open", "start": "2026-01-01", "end": "2026-12-31"},
    )
    group_id = list_page["Location"].rstrip("/").rsplit("/", 1)[1]
    response = member_client.post(f"/payers/acme/data/attribution/{group_id}/members/", {"member": "acm00000003"})
    assert response.status_code == 302
    group = read(seeded, "Group", group_id)
    (entry,) = group["member"]
    assert entry["entity"]["reference"] == "Patient/pat-000003"
    extensions = {e["url"]: e for e in entry["extension"]}
    assert extensions[ATR + "ext-changeType"]["valueCode"] == "new"
    assert extensions[ATR + "ext-coverageReference"]["valueReference"] == {"reference": "Coverage/cov-000003"}
    assert extensions[ATR + "ext-attributedProvider"]["valueReference"] == {"reference": "Organization/org-0001"}
    assert entry["period"] == {"start": "2026-01-01", "end": "2026-12-31"}
    assert group["quantity"] == 1

    again = member_client.post(f"/payers/acme/data/attribution/{group_id}/members/", {"member": "pat-000003"})
    assert again.status_code == 400 and "already on this list" in again.content.decode()

    removed = member_client.post(f"/payers/acme/data/attribution/{group_id}/members/pat-000003/remove/")
    assert removed.status_code == 302
    group = read(seeded, "Group", group_id)
    assert "member" not in group and group["quantity"] == 0


def test_it_explains_an_unknown_member(member_client, seeded, read):
    group_id = _list_id(seeded, read)
    before = read(seeded, "Group", group_id)
    response = member_client.post(f"/payers/acme/data/attribution/{group_id}/members/", {"member": "NOBODY"})
    assert response.status_code == 400
    assert response.context["member_form"].errors["member"] == ["No member has the id 'NOBODY'."]
    assert read(seeded, "Group", group_id) == before


def test_it_sets_the_list_status(member_client, seeded, read):
    group_id = _list_id(seeded, read)
    response = member_client.post(f"/payers/acme/data/attribution/{group_id}/status/", {"status": "final"})
    assert response.status_code == 302
    assert _status(read(seeded, "Group", group_id)) == "final"
    bad = member_client.post(f"/payers/acme/data/attribution/{group_id}/status/", {"status": "closed"})
    assert bad.status_code == 400 and "Select a valid choice" in bad.content.decode()
    assert _status(read(seeded, "Group", group_id)) == "final"


def test_it_explains_bad_list_input_and_saves_nothing(member_client, seeded):
    before = len(member_client.get("/payers/acme/data/attribution/").context["groups"])
    response = member_client.post(
        "/payers/acme/data/attribution/",
        {"organization": "payer", "status": "draft", "start": "2026-12-31", "end": "2026-01-01"},
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "Select a valid choice" in errors["organization"][0]
    assert "before the start" in errors["end"][0]
    assert len(member_client.get("/payers/acme/data/attribution/").context["groups"]) == before


def test_it_hides_lists_from_non_members(client, seeded, read, other_user):
    group_id = _list_id(seeded, read)
    client.force_login(other_user)
    assert client.get("/payers/acme/data/attribution/").status_code == 404
    assert client.get(f"/payers/acme/data/attribution/{group_id}/").status_code == 404
    assert client.post(f"/payers/acme/data/attribution/{group_id}/status/", {"status": "final"}).status_code == 404
    assert (
        client.post(f"/payers/acme/data/attribution/{group_id}/members/", {"member": "pat-000002"}).status_code == 404
    )


def test_it_finds_no_list_of_another_payer(member_client, seeded, other_seeded, other_tenant, read):
    from sandbox.seeding import attribution_lists
    from tenants.context import tenant_scope

    with tenant_scope(other_tenant):
        foreign = attribution_lists.create_list(
            other_tenant,
            organization_id="org-0001",
            name="Beta only",
            status="open",
            start=dt.date(2026, 1, 1),
            end=dt.date(2026, 12, 31),
        )
    assert member_client.get(f"/payers/acme/data/attribution/{foreign}/").status_code == 404
    response = member_client.post(f"/payers/acme/data/attribution/{foreign}/status/", {"status": "final"})
    assert response.status_code == 404
    assert _status(read(other_tenant, "Group", foreign)) == "open"
