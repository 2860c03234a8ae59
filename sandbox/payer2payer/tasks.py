from celery import shared_task

from tenants.models import Tenant
from tenants.tasks import TenantTask


@shared_task(base=TenantTask, bind=True)
def run_exchange_task(self, tenant_id, run_id):
    """Pull a member's history from another payer (payer2payer.exchange.run_exchange)."""
    from sandbox.payer2payer import exchange

    exchange.run_exchange(Tenant.objects.get(pk=tenant_id), run_id)


@shared_task(base=TenantTask, bind=True)
def run_bulk_match_task(self, tenant_id, job_id):
    """Match the members of a $bulk-member-match request (payer2payer.bulk_member_match.run_job)."""
    from sandbox.payer2payer import bulk_member_match

    bulk_member_match.run_job(Tenant.objects.get(pk=tenant_id), job_id)


@shared_task(base=TenantTask, bind=True)
def store_consent_task(self, tenant_id, match_id):
    """Write a matched member's Consent into the store (payer2payer.member_match.store_consent)."""
    from sandbox.payer2payer import member_match
    from sandbox.payer2payer.models import MatchedMember
    from tenants.context import tenant_scope

    with tenant_scope(Tenant.objects.get(pk=tenant_id)):
        match = MatchedMember.objects.select_related("application").filter(pk=match_id).first()
        if match is not None:
            member_match.store_consent(match)
