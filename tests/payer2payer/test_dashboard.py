"""The payer-to-payer page: settings as the old payer, exchange runs as the new payer."""

import pytest
from django.test import Client, override_settings

from sandbox.payer2payer.models import ExchangeRun, ExchangeSettings
from sandbox.trust import certificates
from tenants.context import tenant_scope
from tests.factories import MembershipFactory, TenantFactory

pytestmark = pytest.mark.django_db


def test_it_shows_the_page_to_members_only(member_client, tenant, other_tenant):
    assert Client().get(f"/payers/{tenant.slug}/exchange/").status_code == 302  # sign in first
    assert member_client.get(f"/payers/{tenant.slug}/exchange/").status_code == 200
    assert member_client.get(f"/payers/{other_tenant.slug}/exchange/").status_code == 404


def test_it_links_from_the_payer_page(member_client, tenant):
    assert f"/payers/{tenant.slug}/exchange/" in member_client.get(f"/payers/{tenant.slug}/").content.decode()


def test_it_saves_the_settings(member_client, tenant):
    response = member_client.post(
        f"/payers/{tenant.slug}/exchange/settings/",
        {"match_override": "several", "sensitive_data": "unlabelled", "data_window_years": "7"},
    )
    assert response.status_code == 302
    row = ExchangeSettings.for_tenant(tenant)
    assert (row.match_override, row.sensitive_data, row.data_window_years) == ("several", "unlabelled", 7)
    assert row.require_consent is False  # an unticked box


@override_settings(CELERY_TASK_ALWAYS_EAGER=False)
def test_it_starts_a_run_and_shows_its_report(member_client, tenant, user):
    old = MembershipFactory(user=user, tenant=TenantFactory(slug="old-health", name="Old Health")).tenant
    entry = certificates.tenant_entry(old)
    response = member_client.post(
        f"/payers/{tenant.slug}/exchange/start/", {"target": entry.pk, "patient_id": "pat-000001"}
    )
    assert response.status_code == 302
    with tenant_scope(tenant):
        run = ExchangeRun.objects.get()
    assert (run.target_id, run.patient_id, run.status) == (entry.pk, "pat-000001", "queued")
    page = member_client.get(response["Location"])
    assert page.status_code == 200 and "Old Health" in page.content.decode()


def test_it_offers_only_other_active_entries(member_client, tenant):
    certificates.tenant_entry(tenant)
    page = member_client.get(f"/payers/{tenant.slug}/exchange/").content.decode()
    assert f'value="{certificates.tenant_entry(tenant).pk}"' not in page
