from django.apps import AppConfig
from django.db.models.signals import post_migrate


class TenantsConfig(AppConfig):
    name = "tenants"
    label = "tenants"
    verbose_name = "Simulated payers"

    def ready(self):
        from tenants import rls

        # Runs after every migrate, including the test database's, so each tenant-owned
        # table any app adds gets its row-level security policy without a migration of its own.
        post_migrate.connect(rls.install_policies, dispatch_uid="tenants.rls.install_policies")
