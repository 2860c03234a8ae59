from django.apps import AppConfig


class TrustConfig(AppConfig):
    name = "sandbox.trust"
    label = "trust"
    verbose_name = "Trust: certificates and directory"
