from pathlib import Path

from django.apps import AppConfig


class SandboxConfig(AppConfig):
    """The project package as an app: runsandbox, and the production-safety system checks."""

    name = "sandbox"
    label = "sandbox"
    verbose_name = "Sandbox"

    def ready(self):
        from django.conf import settings

        from sandbox import checks  # noqa: F401  (registers the checks)

        # The filesystem broker's folders must exist in every process that sends or receives.
        for folder in getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}).values():
            if isinstance(folder, str) and folder.startswith(str(settings.CELERY_BROKER_DIR)):
                Path(folder).mkdir(parents=True, exist_ok=True)
