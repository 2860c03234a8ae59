"""
System checks that refuse an unsafe production configuration.

The embedded defaults suit a laptop; these checks make sure the same defaults never reach a
deployment unnoticed. They run with every management command (migrate, runsandbox, check).
"""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


def _is_sqlite():
    return settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")


@register(Tags.security)
def production_settings_check(app_configs, **kwargs):
    problems = []
    production = not settings.DEBUG

    if production and settings.SECRET_KEY == settings.INSECURE_SECRET_KEY:
        problems.append(
            Error(
                "DEBUG is off but SECRET_KEY is the embedded development placeholder.",
                hint="Set SECRET_KEY (or SECRET_KEY_FILE) to a long random value.",
                id="sandbox.E001",
            )
        )
    if _is_sqlite() and settings.WEB_CONCURRENCY > 1:
        problems.append(
            Error(
                f"SQLite is configured with WEB_CONCURRENCY={settings.WEB_CONCURRENCY} web workers.",
                hint="SQLite serialises writers; run one web worker, or use PostgreSQL via DATABASE_URL.",
                id="sandbox.E002",
            )
        )
    if production and settings.CELERY_TASK_ALWAYS_EAGER:
        problems.append(
            Error(
                "CELERY_TASK_ALWAYS_EAGER is on outside development.",
                hint="Bulk Data needs a real asynchronous worker: kick-off must answer 202 at once. "
                "Eager Celery is for unit tests only.",
                id="sandbox.E003",
            )
        )
    if settings.MTLS_SOURCE not in ("socket", "proxy"):
        problems.append(
            Error(
                f"MTLS_SOURCE={settings.MTLS_SOURCE!r} is not one of 'socket' or 'proxy'.",
                id="sandbox.E004",
            )
        )
    if settings.MTLS_SOURCE == "proxy" and not settings.MTLS_TRUSTED_PROXIES:
        problems.append(
            Error(
                "MTLS_SOURCE=proxy but MTLS_TRUSTED_PROXIES is empty, so no client certificate would ever be accepted.",
                hint="List the addresses of the TLS-terminating proxies, e.g. MTLS_TRUSTED_PROXIES=127.0.0.1.",
                id="sandbox.E005",
            )
        )
    if production and _is_sqlite():
        problems.append(
            Warning(
                "DEBUG is off and the database is SQLite, the embedded default.",
                hint="Deploy on PostgreSQL: DATABASE_URL=postgres://... (docs/deploy.md).",
                id="sandbox.W001",
            )
        )
    if production and settings.CELERY_BROKER_URL.startswith("filesystem://"):
        problems.append(
            Warning(
                "DEBUG is off and Celery uses the filesystem broker, which works on one machine only.",
                hint="Set CELERY_BROKER_URL=redis://... (docs/deploy.md).",
                id="sandbox.W002",
            )
        )
    if production and "*" in settings.ALLOWED_HOSTS:
        problems.append(
            Warning("ALLOWED_HOSTS contains '*'.", hint="List the sandbox's host names.", id="sandbox.W003")
        )
    if production and not settings.SANDBOX_PUBLIC_URL.startswith("https://"):
        problems.append(
            Warning(
                f"SANDBOX_PUBLIC_URL={settings.SANDBOX_PUBLIC_URL} is not https; bearer tokens would travel in clear.",
                id="sandbox.W004",
            )
        )
    return problems
