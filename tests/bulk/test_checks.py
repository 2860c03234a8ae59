"""System checks of the export settings."""

from sandbox.bulk.checks import export_settings_check


def test_it_accepts_the_defaults(settings):
    """LocalStorage and the default sizes pass."""
    assert export_settings_check() == []


def test_it_refuses_a_storage_that_cannot_be_imported(settings):
    """A typo in EXPORT_STORAGE is bulk.E001."""
    settings.EXPORT_STORAGE = "sandbox.bulk.storage.Nope"
    assert [e.id for e in export_settings_check()] == ["bulk.E001"]


def test_it_refuses_s3_without_a_bucket(settings):
    """S3Storage needs boto3 and a bucket (bulk.E002)."""
    settings.EXPORT_STORAGE = "sandbox.bulk.storage.S3Storage"
    settings.EXPORT_S3_BUCKET = ""
    assert {e.id for e in export_settings_check()} == {"bulk.E002"}


def test_it_refuses_non_positive_sizes(settings):
    """A zero file size would never finish a part (bulk.E003)."""
    settings.EXPORT_FILE_MAX_LINES = 0
    assert [e.id for e in export_settings_check()] == ["bulk.E003"]
