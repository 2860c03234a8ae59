"""System checks of the export settings (bulk.E001-E003)."""

from django.conf import settings
from django.core.checks import Error, register
from django.utils.module_loading import import_string


@register()
def export_settings_check(app_configs=None, **kwargs):
    errors = []
    try:
        backend = import_string(settings.EXPORT_STORAGE)
    except ImportError as exc:
        return [Error(f"EXPORT_STORAGE={settings.EXPORT_STORAGE} cannot be imported: {exc}", id="bulk.E001")]
    if backend.__name__ == "S3Storage":
        try:
            import boto3  # noqa: F401
        except ImportError:
            errors.append(Error("EXPORT_STORAGE is S3Storage but boto3 is not installed.", id="bulk.E002"))
        if not settings.EXPORT_S3_BUCKET:
            errors.append(Error("EXPORT_STORAGE is S3Storage but EXPORT_S3_BUCKET is empty.", id="bulk.E002"))
    if settings.EXPORT_FILE_MAX_LINES < 1 or settings.EXPORT_FILE_MAX_BYTES < 1 or settings.EXPORT_CHUNK_IDS < 1:
        errors.append(
            Error("EXPORT_FILE_MAX_LINES, EXPORT_FILE_MAX_BYTES and EXPORT_CHUNK_IDS must be positive.", id="bulk.E003")
        )
    return errors
