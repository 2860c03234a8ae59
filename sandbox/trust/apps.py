from django.apps import AppConfig
from django.db.models.signals import post_delete, post_migrate


class TrustConfig(AppConfig):
    name = "sandbox.trust"
    label = "trust"
    verbose_name = "Trust: certificates and directory"

    def ready(self):
        from sandbox.trust import certificates
        from tenants.models import Tenant
        from tenants.provisioning import register_step

        register_step("Issue certificates", certificates.issue_certificates_step, weight=1, order=20)
        # runsandbox migrates before starting the listener, so the listener starts with the
        # trust in the database even if the bundle file was lost.
        post_migrate.connect(_publish_after_migrate, sender=self, dispatch_uid="trust.publish_after_migrate")
        # A deleted payer's CA and certificates leave the trust bundle at once.
        post_delete.connect(_trust_changed, sender=Tenant, dispatch_uid="trust.tenant_deleted")


def _publish_after_migrate(sender, using="default", **kwargs):
    from django.db import connections

    from sandbox.trust import certificates

    if "trust_certificateauthority" in connections[using].introspection.table_names():
        certificates.publish_trust()


def _trust_changed(sender, **kwargs):
    from sandbox.trust import certificates

    certificates.trust_changed()
