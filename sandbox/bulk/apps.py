from django.apps import AppConfig


class BulkConfig(AppConfig):
    name = "sandbox.bulk"
    label = "bulk"
    verbose_name = "Bulk Data export"
