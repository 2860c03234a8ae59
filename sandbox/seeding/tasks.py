from celery import shared_task

from tenants.models import Tenant
from tenants.tasks import TenantTask


@shared_task(base=TenantTask, bind=True)
def reset_tenant_task(self, tenant_id, job_id):
    """Reset a payer's FHIR data to its seed (sandbox.seeding.populate.reset_tenant)."""
    from sandbox.seeding import populate

    populate.reset_tenant(Tenant.objects.get(pk=tenant_id), job_id)


@shared_task(base=TenantTask, bind=True)
def load_upload_task(self, tenant_id, job_id):
    """Load files uploaded from the dashboard into a payer (sandbox.seeding.uploads.run_load)."""
    from sandbox.seeding import uploads

    uploads.run_load(Tenant.objects.get(pk=tenant_id), job_id)
