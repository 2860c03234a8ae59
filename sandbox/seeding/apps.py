from django.apps import AppConfig


class SeedingConfig(AppConfig):
    """Synthetic data generator, the seeding provisioning step, loaders and the data admin pages."""

    name = "sandbox.seeding"
    label = "seeding"
    verbose_name = "Seeding"

    def ready(self):
        from sandbox.seeding import populate
        from tenants.provisioning import register_step

        # After "Issue certificates" (order 20); the weight reflects that seeding takes longest.
        register_step("Seed synthetic data", populate.seed_step, weight=8, order=30)
