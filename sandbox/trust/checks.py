"""System checks for the mutual-TLS settings."""

from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def mtls_settings_check(app_configs, **kwargs):
    problems = []
    if settings.MTLS_SOURCE not in ("socket", "proxy"):
        problems.append(
            Error(
                f"MTLS_SOURCE is {settings.MTLS_SOURCE!r}.",
                hint='Use "socket" (the gunicorn TLS listener) or "proxy" (a TLS-terminating proxy).',
                id="trust.E001",
            )
        )
    if settings.MTLS_SOURCE == "proxy" and not settings.MTLS_TRUSTED_PROXIES:
        problems.append(
            Warning(
                "MTLS_SOURCE is proxy but MTLS_TRUSTED_PROXIES is empty, so no client certificate is ever accepted.",
                hint="List the proxy's addresses as seen in REMOTE_ADDR, comma-separated.",
                id="trust.W001",
            )
        )
    return problems
