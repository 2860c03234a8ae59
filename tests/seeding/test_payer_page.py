"""The payer page: data links, designed test members with ready-made requests, and the create form's seeding fields."""

import html
import json

import pytest

from sandbox.fhirstore.models import Resource
from sandbox.seeding.designed import request_match_keys
from tenants.context import tenant_scope
from tenants.models import Tenant, TenantJob

pytestmark = pytest.mark.django_db


def test_it_documents_the_designed_members_with_copyable_requests(member_client, seeded):
    response = member_client.get("/payers/acme/")
    assert response.status_code == 200
    body = response.content.decode()
    for key in ("unique", "ambiguous", "sensitive", "no-match"):
        assert f'id="designed-{key}"' in body
        assert f'id="copy-{key}"' in body
    assert "/t/acme/fhir/Patient/$member-match" in body
    assert 'href="/payers/acme/data/members/"' in body
    # The copy button carries the exact request JSON.
    start = body.index('data-copy="', body.index('id="designed-unique"')) + len('data-copy="')
    request = json.loads(html.unescape(body[start : body.index('"', start)]))
    assert request["resourceType"] == "Parameters"
    demographics, identifiers = request_match_keys(request)
    assert demographics[:2] == ("person", "patricia") and "ACM00000001" in identifiers


def test_it_hides_the_data_card_until_the_payer_is_ready(member_client, tenant):
    Tenant.objects.filter(pk=tenant.pk).update(status=Tenant.Status.PROVISIONING)
    body = member_client.get("/payers/acme/").content.decode()
    assert 'id="designed-members"' not in body and 'id="data-card"' not in body


def test_it_creates_a_payer_with_members_and_seed_from_the_form(
    member_client, seeding_only, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = member_client.post(
            "/payers/new/", {"name": "Form Health", "slug": "", "pdex_version": "2.0", "members": "6", "seed": "42"}
        )
    assert response.status_code == 302
    tenant = Tenant.objects.get(slug="form-health")
    assert tenant.status == Tenant.Status.READY
    with tenant_scope(tenant):
        job = TenantJob.objects.get(kind=TenantJob.Kind.PROVISION)
        assert job.params == {"members": 6, "seed": 42}
        assert Resource.objects.filter(resource_type="Patient").count() == 6


@pytest.mark.parametrize(
    ("members", "message"),
    [("3", "greater than or equal to 4"), ("100001", "less than or equal to 100000"), ("many", "whole number")],
)
def test_it_explains_a_bad_member_count(member_client, members, message):
    response = member_client.post("/payers/new/", {"name": "Bad Health", "pdex_version": "2.0", "members": members})
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors["members"])
    assert not Tenant.objects.filter(slug="bad-health").exists()
