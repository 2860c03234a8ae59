import logging

from celery import shared_task
from celery.contrib.django.task import DjangoTask

from tenants.context import activate, deactivate
from tenants.models import Tenant

logger = logging.getLogger(__name__)


class TenantTask(DjangoTask):
    """
    Base for every task about one tenant: the first argument is `tenant_id`, and the body
    runs with that tenant active (pretix's EventTask). The body opens its own tenant_scope
    blocks for database work, so that progress commits while it runs. A tenant deleted
    before the task starts makes the task a no-op.
    """

    abstract = True

    def __call__(self, tenant_id, *args, **kwargs):
        tenant = Tenant.objects.filter(pk=tenant_id).first()
        if tenant is None:
            logger.info("%s: tenant %s no longer exists; nothing to do.", self.name, tenant_id)
            return None
        token = activate(tenant)
        try:
            return super().__call__(tenant_id, *args, **kwargs)
        finally:
            deactivate(token)


@shared_task(base=TenantTask, bind=True)
def provision_tenant_task(self, tenant_id, job_id):
    """Create a simulated payer's contents (tenants.provisioning.provision)."""
    from tenants import provisioning

    provisioning.provision(Tenant.objects.get(pk=tenant_id), job_id)
