"""
Where finished export files live, behind a small interface chosen by the EXPORT_STORAGE
setting (a dotted path, as django.contrib.sessions chooses its backend).

The worker always builds files in a local working directory under `Tenant.files_dir`,
because resuming a killed job truncates part files back to their last checkpoint, which
object stores cannot do. `publish` then makes a finished file downloadable:

- `LocalStorage` (default): the working directory *is* the store; nothing moves.
- `S3Storage`: uploads to an S3-compatible bucket (AWS, MinIO, Ceph) with boto3, which is an
  optional dependency imported only when this backend is configured. It is not covered by
  the test suite (no S3 service or boto3 in the test environment). Settings:
  EXPORT_S3_BUCKET, EXPORT_S3_PREFIX, EXPORT_S3_ENDPOINT_URL; credentials come from boto3's
  usual environment variables.

Files are read back through `open`, so downloads stay authorised by the sandbox (the
manifest says requiresAccessToken: true) whatever the backend.
"""

import shutil
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.utils.module_loading import import_string


def work_dir(tenant, job_uuid):
    """The local directory where a job's files are built (and kept, for LocalStorage)."""
    return Path(tenant.files_dir) / "exports" / str(job_uuid)


class ExportStorage:
    """Base class: how finished files are kept, read and removed."""

    def publish(self, tenant, job_uuid, name, path):
        """Make the finished local file `path` downloadable as `name` of the job."""
        raise NotImplementedError

    def open(self, tenant, job_uuid, name):
        """A binary file object for reading, or None when the file is gone."""
        raise NotImplementedError

    def delete_job(self, tenant, job_uuid):
        """Remove every file of a job, the working directory included."""
        shutil.rmtree(work_dir(tenant, job_uuid), ignore_errors=True)


class LocalStorage(ExportStorage):
    def publish(self, tenant, job_uuid, name, path):
        return None

    def open(self, tenant, job_uuid, name):
        path = work_dir(tenant, job_uuid) / name
        try:
            return path.open("rb")
        except FileNotFoundError:
            return None


class S3Storage(ExportStorage):
    """S3-compatible object storage (optional; needs boto3). Untested in this repository."""

    def __init__(self):
        import boto3  # optional dependency, only for this backend

        self.bucket = settings.EXPORT_S3_BUCKET
        self.prefix = settings.EXPORT_S3_PREFIX.strip("/")
        self.client = boto3.client("s3", endpoint_url=settings.EXPORT_S3_ENDPOINT_URL or None)

    def _key(self, tenant, job_uuid, name):
        return "/".join(p for p in (self.prefix, str(tenant.pk), str(job_uuid), name) if p)

    def publish(self, tenant, job_uuid, name, path):
        self.client.upload_file(str(path), self.bucket, self._key(tenant, job_uuid, name))
        Path(path).unlink(missing_ok=True)

    def open(self, tenant, job_uuid, name):
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(tenant, job_uuid, name))["Body"]
        except self.client.exceptions.NoSuchKey:
            return None

    def delete_job(self, tenant, job_uuid):
        prefix = self._key(tenant, job_uuid, "")
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})
        super().delete_job(tenant, job_uuid)


@lru_cache(maxsize=4)
def _load(path):
    return import_string(path)()


def get_storage():
    return _load(settings.EXPORT_STORAGE)
