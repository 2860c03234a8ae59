"""What a provider's user and system tokens may see: its own lists and attributed members only."""

import pytest

from sandbox.oauth.tokens import mint_token
from tests.attribution.conftest import NPI, NPI_A, NPI_B, TIN, Fhir, ids, ref


def test_it_finds_only_the_providers_own_lists(provider_a):
    """Group?identifier= (NPI, TIN), name, managing-entity and a bare search list A's lists only (ATR §6.3)."""
    assert ids(provider_a.get("Group").json()) == ["atr-a", "atr-a-final"]
    assert ids(provider_a.get("Group", {"identifier": f"{NPI}|{NPI_A}"}).json()) == ["atr-a", "atr-a-final"]
    assert ids(provider_a.get("Group", {"identifier": f"{TIN}|111111111", "_summary": "true"}).json()) == [
        "atr-a",
        "atr-a-final",
    ]
    assert ids(provider_a.get("Group", {"managing-entity": "Organization/payer"}).json()) == ["atr-a", "atr-a-final"]
    assert ids(provider_a.get("Group", {"name": "Alpha Family Practice list"}).json()) == ["atr-a"]


def test_it_hides_another_providers_list(provider_a, provider_b):
    """B's list does not exist for A: search finds nothing and read, history and operations say 404."""
    assert provider_a.get("Group", {"identifier": f"{NPI}|{NPI_B}"}).json()["total"] == 0
    assert provider_a.get("Group", {"name": "Beta"}).json()["total"] == 0
    assert provider_a.get("Group/atr-b").status_code == 404
    assert provider_a.get("Group/atr-b/_history").status_code == 404
    assert provider_b.get("Group/atr-b").status_code == 200
    assert ids(provider_b.get("Group").json()) == ["atr-b"]


def test_it_limits_member_data_to_the_attribution(provider_a):
    """A reads its attributed members (p1, p2); not B's member, an unattributed or an opted-out one."""
    assert provider_a.get("Patient/p1").status_code == 200
    for pid in ("p3", "p4", "p5"):
        assert provider_a.get(f"Patient/{pid}").status_code == 404, pid
        assert provider_a.get(f"Patient/{pid}/$everything").status_code == 404, pid
    assert ids(provider_a.get("Patient").json()) == ["p1", "p2"]
    assert ids(provider_a.get("Observation").json()) == ["obs-p1", "obs-p2", "old-obs-p1", "old-obs-p2"]
    assert ids(provider_a.get("Coverage", {"beneficiary": "Patient/p4"}).json()) == []
    assert provider_a.get("Consent/opt-out-p3").status_code == 404
    # Directory data outside every compartment stays readable.
    assert provider_a.get("Organization/org-b").status_code == 200


def test_it_keeps_includes_inside_the_attribution(provider_a):
    """_revinclude / _include cannot reach other members' data."""
    bundle = provider_a.get("Group", {"_include": "Group:member"}).json()
    assert {e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"} == {"p1", "p2"}
    bundle = provider_a.get("Organization", {"_id": "payer", "_revinclude": "Coverage:payor"}).json()
    assert sorted(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Coverage") == [
        "cov-p1",
        "cov-p2",
    ]


def test_it_refuses_writes_history_and_batches(provider_a):
    """Lists change only through ATR operations; history exists only for the provider's lists."""
    assert provider_a.post("Patient", {"resourceType": "Patient"}).status_code == 403
    assert provider_a.get("Patient/p1/_history").status_code == 403
    assert provider_a.get("Patient/p1/_history/1").status_code == 403
    assert provider_a.get("Group/_history").status_code == 403
    assert provider_a.get("Group/atr-a/_history").status_code == 200
    assert provider_a.get("Group/atr-a/_history/1").status_code == 200
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [{"request": {"method": "GET", "url": "Patient/p4"}}]}
    assert provider_a.post("", batch).status_code == 403


def test_it_applies_the_same_limits_to_a_provider_users_token(client, data, user_token):
    """Authorization code (provider staff) tokens speak for the user's organization."""
    fhir = Fhir(client, "acme", user_token(data, NPI_B))
    assert ids(fhir.get("Group").json()) == ["atr-b"]
    assert fhir.get("Patient/p1").status_code == 404
    assert fhir.get("Patient/p4").status_code == 200


def test_it_shows_nothing_to_a_user_who_is_no_longer_provider_staff(client, data, user_token, in_tenant):
    """A user token whose ProviderUser row was removed speaks for no organization (fail closed)."""
    from sandbox.oauth.models import ProviderUser

    fhir = Fhir(client, "acme", user_token(data, NPI_A))
    with in_tenant(data):
        ProviderUser.objects.all().delete()
    assert fhir.get("Group").json()["total"] == 0
    assert fhir.get("Patient/p1").status_code == 404


def test_it_leaves_clients_that_are_not_providers_alone(client, data):
    """A payer-side client (not tied to a provider) keeps its scope-only access."""
    fhir = Fhir(client, "acme", mint_token(data, "system/*.read").token)
    assert ids(fhir.get("Group").json()) == ["atr-a", "atr-a-final", "atr-b"]
    assert fhir.get("Patient/p4").status_code == 200


@pytest.mark.django_db
def test_it_gives_another_tenant_nothing(client, data, other_tenant, system_token, provider_a):
    """acme's provider token is unknown at beta; beta's provider sees none of acme's lists."""
    token = provider_a.headers["HTTP_AUTHORIZATION"]
    assert client.get("/t/beta/fhir/Group", HTTP_AUTHORIZATION=token).status_code == 401
    beta = Fhir(client, "beta", system_token(other_tenant, NPI_A))
    assert beta.get("Group/atr-a").status_code == 404
    assert beta.get("Group").json()["total"] == 0
    response = beta.operation("Group/atr-a/$member-add", patientReference=ref("Patient/p5"))
    assert response.status_code == 404


def test_it_leaves_opted_out_members_off_the_lists_a_provider_reads(client, provider_a, data):
    """PDex: opted-out members are left out of attribution lists, with no trace (read, search, history, ops)."""

    def member_ids(group):
        return sorted(m["entity"]["reference"] for m in group.get("member", []))

    group = provider_a.get("Group/atr-a").json()
    assert member_ids(group) == ["Patient/p1", "Patient/p2"] and group["quantity"] == 2
    assert "p3" not in provider_a.get("Group", {"_id": "atr-a"}).content.decode()
    assert "p3" not in provider_a.get("Group/atr-a/_history").content.decode()
    assert "p3" not in provider_a.get("Group/atr-a/_history/1").content.decode()
    added = provider_a.operation("Group/atr-a/$member-add", patientReference=ref("Patient/p5")).json()
    assert member_ids(added) == ["Patient/p1", "Patient/p2", "Patient/p5"]
    # The payer's own clients see the list as stored.
    payer = Fhir(client, "acme", mint_token(data, "system/*.read").token)
    assert "Patient/p3" in member_ids(payer.get("Group/atr-a").json())


def test_it_finds_a_pdex_provider_group_by_its_characteristic(client, data, system_token, in_tenant):
    """A PDexProviderGroup naming the provider in characteristic.valueReference (by NPI) is its list."""
    import json

    from sandbox.fhirstore import store

    path = "/work/shared/spec/examples/bulk-and-attribution/pdex-stu2.2draft-Group-Example-PDex-Provider-Group.json"
    with open(path) as fh:
        group = json.load(fh)
    group["identifier"] = []
    group["member"] = [{"entity": {"reference": "Patient/p5"}}]
    group.pop("managingEntity")
    with in_tenant(data):
        store.bulk_load([group])
    fhir = Fhir(client, "acme", system_token(data, "0123456789"))
    assert ids(fhir.get("Group").json()) == ["Example-PDex-Provider-Group"]
    assert fhir.get("Patient/p5").status_code == 200


def test_it_refuses_reverse_chains_through_other_lists(provider_a):
    """Patient?_has:Group:member:... would reveal who is on another provider's list."""
    response = provider_a.get("Patient", {"_has:Group:member:_id": "atr-b"})
    assert response.status_code == 403
