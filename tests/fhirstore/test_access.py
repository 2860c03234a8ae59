"""The FHIR authorisation layer: who may do what without scopes (issue 6 adds those)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from sandbox.oauth.tokens import mint_token
from tenants.context import tenant_scope
from tests.fhirstore.conftest import Api, fixture


def test_it_needs_a_token_for_member_data(anonymous, api, patient):
    """No token: 401 with WWW-Authenticate: Bearer and an OperationOutcome."""
    api.put_resource(patient)
    for response in (
        anonymous.get("Patient/p1"),
        anonymous.get("Patient"),
        anonymous.get("Patient/p1/_history"),
        anonymous.get("_history"),
    ):
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert response.json()["resourceType"] == "OperationOutcome"


def test_it_has_no_anonymous_write_path(anonymous, tenant, patient):
    """Create, update, delete, transaction and even formulary writes need a caller."""
    drug = fixture("MedicationKnowledge-FormularyDrug-1000091.json")
    assert anonymous.post("Patient", patient).status_code == 401
    assert anonymous.put("Patient/p1", patient).status_code == 401
    assert anonymous.put(f"MedicationKnowledge/{drug['id']}", drug).status_code == 401
    assert anonymous.delete("Patient/p1").status_code == 401
    assert anonymous.post("", {"resourceType": "Bundle", "type": "transaction", "entry": []}).status_code == 401


def test_it_rejects_unknown_expired_and_other_tenants_tokens(client, tenant, other_tenant, api, patient):
    """A token must exist in this tenant and be unexpired; the error says invalid_token."""
    api.put_resource(patient)
    foreign = mint_token(other_tenant, "system/*.read").token
    expired = mint_token(tenant, "system/*.read")
    with tenant_scope(tenant):
        expired.expires = timezone.now() - timedelta(seconds=1)
        expired.save()
    for value in ("garbage", foreign, expired.token):
        response = Api(client, "acme", value).get("Patient/p1")
        assert response.status_code == 401
        assert 'error="invalid_token"' in response["WWW-Authenticate"]
    basic = client.get("/t/acme/fhir/Patient/p1", HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz")
    assert basic.status_code == 401


def test_it_accepts_a_signed_in_member(member_client, api, patient):
    """A session of a member of the tenant can read and write."""
    api.put_resource(patient)
    member = Api(member_client, "acme")
    assert member.get("Patient/p1").status_code == 200
    assert member.post("Patient", patient).status_code == 201


def test_it_refuses_a_signed_in_non_member(client, other_user, tenant, api, patient):
    """Being signed in is not enough: the user must belong to this tenant."""
    api.put_resource(patient)
    client.force_login(other_user)
    assert Api(client, "acme").get("Patient/p1").status_code == 401


def test_it_serves_formulary_types_publicly(anonymous, api):
    """InsurancePlan, Basic, MedicationKnowledge and Location read and search without a token."""
    for name in (
        "InsurancePlan-FormularyD1002.json",
        "MedicationKnowledge-FormularyDrug-1000091.json",
        "Basic-FormularyItem-D1002-1000091.json",
        "Location-StateOfCTLocation.json",
    ):
        resource = api.put_resource(fixture(name))
        assert anonymous.get(f"{resource['resourceType']}/{resource['id']}").status_code == 200
        assert anonymous.get(resource["resourceType"]).status_code == 200
    assert (
        anonymous.post(
            "Basic/_search", "code=formulary-item", content_type="application/x-www-form-urlencoded"
        ).status_code
        == 200
    )


def test_it_closes_formulary_types_when_the_tenant_says_so(anonymous, api, tenant):
    """formulary_public=False makes formulary reads need a token too."""
    plan = api.put_resource(fixture("InsurancePlan-FormularyD1002.json"))
    tenant.formulary_public = False
    tenant.save()
    assert anonymous.get(f"InsurancePlan/{plan['id']}").status_code == 401
    assert api.get(f"InsurancePlan/{plan['id']}").status_code == 200


def test_it_keeps_public_searches_inside_public_types(anonymous, api, patient):
    """Anonymous chains and _has into member types are 401; includes of member types are dropped."""
    api.put_resource(patient)
    item = fixture("Basic-FormularyItem-D1002-1000091.json")
    api.put_resource(item)
    provenance = fixture("pdex-ig_Provenance-1000001_transmitter.json")
    provenance["target"] = [{"reference": f"Basic/{item['id']}"}]
    api.put_resource(provenance)
    assert anonymous.get("Basic", {"subject:Patient.name": "nun"}).status_code == 401
    assert anonymous.get("Location", {"_has:Provenance:target:agent": "x"}).status_code == 401
    bundle = anonymous.get(f"Basic?_id={item['id']}&_revinclude=Provenance:target").json()
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["Basic"]
    authorised = api.get(f"Basic?_id={item['id']}&_revinclude=Provenance:target").json()
    assert [e["resource"]["resourceType"] for e in authorised["entry"]] == ["Basic", "Provenance"]


@pytest.mark.parametrize("path", ["Patient", "Patient/p1", "Patient/p1/_history/1", "_history"])
def test_it_gives_another_tenants_token_nothing(client, other_tenant, api, patient, path):
    """Every endpoint refuses a token of another tenant."""
    api.put_resource(patient)
    foreign = Api(client, "acme", mint_token(other_tenant, "system/*.read").token)
    assert foreign.get(path).status_code == 401
