from django.apps import AppConfig


class SeedingConfig(AppConfig):
    """Synthetic data generator and (later) the loaders for participants' own data."""

    name = "sandbox.seeding"
    label = "seeding"
    verbose_name = "Seeding"
