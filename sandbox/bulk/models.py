"""
Export jobs and their files (Bulk Data Access v2.0.0, spec/bulk-data-and-attribution.md §1-§4).

An ExportJob is the source of truth for a kick-off: its parameters, the client that started
it, the transactionTime, progress, the worker's checkpoint and the outcome. ExportFile rows
exist only once a job is complete; they are what the manifest lists.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from sandbox.bulk.querysets import ExportJobQuerySet
from tenants.context import require_tenant
from tenants.models import TenantManager, TenantOwned


class ExportJobManager(TenantManager.from_queryset(ExportJobQuerySet)):
    pass


class ExportJob(TenantOwned):
    class Level(models.TextChoices):
        SYSTEM = "system", "System ($export)"
        PATIENT = "patient", "All patients (Patient/$export)"
        GROUP = "group", "Group (Group/[id]/$export)"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled or deleted"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    level = models.CharField(max_length=16, choices=Level.choices)
    # The operation name the client called ("export", "davinci-data-export", ...).
    operation = models.CharField(max_length=64, default="export")
    group_id = models.CharField(max_length=64, blank=True)
    application = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    client_name = models.CharField(max_length=255, blank=True)
    request_url = models.TextField()
    params = models.JSONField(default=dict, blank=True)
    # OperationOutcome issues for parameters ignored under Prefer: handling=lenient (§1.4).
    issues = models.JSONField(default=list, blank=True)
    transaction_time = models.DateTimeField()

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    resources_written = models.PositiveBigIntegerField(default=0)
    message = models.CharField(max_length=300, blank=True)
    error = models.TextField(blank=True)
    error_status = models.PositiveSmallIntegerField(default=500)
    # The worker's checkpoint: which rows are done and how long each part file was then.
    state = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    claimed_by = models.CharField(max_length=100, blank=True, help_text="host:pid of the worker")
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()

    objects = ExportJobManager()
    unscoped = ExportJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="bulk_job_latest"),
            models.Index(fields=["status", "expires_at"], name="bulk_job_expiry"),
        ]

    def __str__(self):
        return f"Export {self.uuid} ({self.status})"

    @property
    def is_active(self):
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    @property
    def is_expired(self):
        return self.expires_at <= timezone.now()

    def parameter_summary(self):
        """The kick-off parameters that were given, as `name=value` strings (for the dashboard)."""
        out = []
        for name in ("_type", "_since", "_until", "_elements", "_typeFilter", "patient", "_outputFormat"):
            value = self.params.get(name)
            if not value or (name == "_outputFormat" and value == "application/fhir+ndjson"):
                continue
            if isinstance(value, dict):
                value = ",".join(f"{t}?{q}" for t, queries in value.items() for q in queries)
            elif isinstance(value, list):
                value = ",".join(value)
            out.append(f"{name}={value}")
        return out

    def x_progress(self):
        """The X-Progress header (free text under 100 characters, Bulk Data §2.2)."""
        if self.status == self.Status.QUEUED:
            return "queued, waiting for a worker"
        return f"{self.progress}% complete, {self.resources_written} resources"[:99]


class ExportFile(TenantOwned):
    class Kind(models.TextChoices):
        OUTPUT = "output", "output"
        DELETED = "deleted", "deleted"
        ERROR = "error", "error"

    job = models.ForeignKey(ExportJob, on_delete=models.CASCADE, related_name="files")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.OUTPUT)
    resource_type = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    count = models.PositiveBigIntegerField(default=0)
    size = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["pk"]
        constraints = [models.UniqueConstraint(fields=["job", "name"], name="bulk_file_unique_name")]

    def __str__(self):
        return self.name


class ExportPolicy(TenantOwned):
    """Per-payer export settings; a payer without a row uses the defaults from settings."""

    expiry_minutes = models.PositiveIntegerField(
        help_text="Minutes a finished export (manifest and files) stays available before it is pruned."
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="bulk_policy_one_per_tenant")]
        verbose_name_plural = "export policies"

    def __str__(self):
        return f"Export policy of tenant {self.tenant_id}"

    @classmethod
    def expiry_minutes_for(cls, tenant=None):
        """The payer's expiry in minutes; call inside its tenant_scope (row-level security)."""
        tenant = tenant or require_tenant()
        row = cls.unscoped.for_tenant(tenant).first()
        return row.expiry_minutes if row else settings.EXPORT_EXPIRY_MINUTES
