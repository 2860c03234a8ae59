"""
Payer-to-payer state of a simulated payer: its exchange settings, the members other payers
matched (with the consent that lets them read), bulk match jobs, and its own outbound
exchange runs (spec/payer-to-payer.md §3, §4, §7).
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from tenants.models import TenantOwned


class ExchangeSettings(TenantOwned):
    """One row per payer; created with defaults on first use (`for_tenant`)."""

    class MatchOverride(models.TextChoices):
        NORMAL = "normal", "Match for real"
        ONE = "one", "Always one member"
        NONE = "none", "Always no match (422)"
        SEVERAL = "several", "Always several matches (422)"

    class SensitiveData(models.TextChoices):
        # The three compliance situations of the consent decision (payer-to-payer.md §3.3, §7.6).
        EXCLUDED = "excluded", "Sensitive data is never served to other payers"
        LABELLED = "labelled", "Sensitive data is labelled: #regular withholds it, #sensitive includes it"
        UNLABELLED = "unlabelled", "Sensitive data cannot be segmented: only #sensitive consent is accepted"

    match_override = models.CharField(max_length=8, choices=MatchOverride.choices, default=MatchOverride.NORMAL)
    sensitive_data = models.CharField(max_length=12, choices=SensitiveData.choices, default=SensitiveData.LABELLED)
    # HRex 1.1 makes Consent 0..1, PDex payer-to-payer evaluates it: required unless turned off.
    require_consent = models.BooleanField(default=True)
    # A consent whose period does not cover today cannot be complied with (PDex). The Inferno
    # presets carry periods long past, so a payer used with them may turn this into a warning.
    enforce_consent_period = models.BooleanField(default=True)
    # The consent recipient must name the requesting client's organization (NPI/NAIC/TIN).
    strict_recipient = models.BooleanField(default=False)
    data_window_years = models.PositiveSmallIntegerField(
        default=5, help_text="Clinical and claims data with a date of service older than this is withheld."
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="p2p_settings_one_per_tenant")]
        verbose_name_plural = "exchange settings"

    def __str__(self):
        return f"payer-to-payer settings of tenant {self.tenant_id}"

    @classmethod
    def for_tenant(cls, tenant):
        from django.db import connection

        from tenants.context import current_tenant, tenant_scope

        active = current_tenant()
        if active is not None and active.pk == tenant.pk and connection.in_atomic_block:
            # Already inside the payer's scope (a request under /t/<slug>/): no savepoint needed,
            # and SQL written once, as $member-match asks on every request.
            from tenants import row_lookup

            row = row_lookup.get(cls, "tenant_id = %s", [tenant.pk])
            if row is not None:
                return row
        # Its own scope: portal pages call it outside one, and PostgreSQL RLS needs it.
        with tenant_scope(tenant):
            row = cls.unscoped.filter(tenant=tenant).first()
            if row is None:
                row, _ = cls.unscoped.get_or_create(tenant=tenant)
        return row


class MatchedMember(TenantOwned):
    """
    A member this payer matched for a client by $member-match (or bulk match), with the consent
    that decides what the client may read (HRex mm-13: the consent is kept for later checks).
    """

    class Policy(models.TextChoices):
        REGULAR = "regular", "#regular (everything except sensitive data)"
        SENSITIVE = "sensitive", "#sensitive (everything)"

    application = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    patient_id = models.CharField(max_length=64)
    member_identifier = models.CharField(max_length=255, blank=True)
    policy = models.CharField(max_length=12, choices=Policy.choices, default=Policy.REGULAR)
    consent_start = models.DateTimeField(null=True, blank=True)
    consent_end = models.DateTimeField(null=True, blank=True)
    # The Consent as accepted (authoritative), and the FHIR Consent written from it after commit.
    consent = models.JSONField(null=True, blank=True)
    consent_id = models.CharField(max_length=64, blank=True, help_text="The stored Consent resource")
    coverage_to_link = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "application", "patient_id"], name="p2p_match_unique_member")
        ]
        indexes = [models.Index(fields=["tenant", "application"], name="p2p_match_client")]

    def __str__(self):
        return f"Patient/{self.patient_id} for client {self.application_id}"

    def is_active(self, now=None):
        now = now or timezone.now()
        if self.revoked_at is not None:
            return False
        if self.consent_start and self.consent_start > now:
            return False
        return not (self.consent_end and self.consent_end < now)


class BulkMatchJob(TenantOwned):
    """A $bulk-member-match request running asynchronously (PDex 2.1 §bulk member match)."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    application = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, null=True, on_delete=models.CASCADE, related_name="+"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    pdex_version = models.CharField(max_length=8)
    request = models.JSONField()
    request_url = models.URLField(max_length=1000)
    members_total = models.PositiveIntegerField(default=0)
    members_done = models.PositiveIntegerField(default=0)
    # {"MatchedMembers": Group, "NonMatchedMembers": Group, "ConsentConstrainedMembers": Group}
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"bulk member match {self.uuid} ({self.status})"


class ExchangeRun(TenantOwned):
    """One run of this payer acting as the new payer: pulling a member's history from another."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    target = models.ForeignKey("trust.DirectoryEntry", null=True, on_delete=models.SET_NULL, related_name="+")
    target_name = models.CharField(max_length=200)
    patient_id = models.CharField(max_length=64, help_text="The member here whose history is pulled")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    # [{"title", "verdict": ok|fail|info, "explanation", "exchanges": [{method, url, status, ...}]}]
    steps = models.JSONField(default=list, blank=True)
    summary = models.CharField(max_length=500, blank=True)
    stored = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"exchange {self.pk} with {self.target_name} ({self.status})"

    @property
    def is_finished(self):
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)
