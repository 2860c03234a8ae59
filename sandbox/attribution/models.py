"""
Provider-access settings and records of a payer (spec/bulk-data-and-attribution.md §6-§7).

The attribution lists themselves are FHIR Groups in the store; these rows hold what is not
FHIR: which organization a system client speaks for, the payer's provider-access settings, and
the log of list changes made by providers that the payer's dashboard shows.
"""

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils import timezone

from tenants.models import TenantOwned


class AttributionSettings(TenantOwned):
    """Per-payer provider-access settings; a payer without a row uses the defaults."""

    # CMS-0057-F: provider access covers data dated on or after 2016-01-01 (§7.5).
    data_window_start = models.DateField(default=dt.date(2016, 1, 1))
    # PDex 2.2 draft: provider-delta SHALL carry _since; off, a delta without it runs as a download.
    require_since_for_delta = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="attribution_settings_one_per_tenant")]
        verbose_name_plural = "attribution settings"

    def __str__(self):
        return f"Provider access settings of {self.tenant_id}"

    @classmethod
    def for_tenant(cls, tenant):
        """The payer's settings (unsaved defaults when it has none); call inside tenant_scope."""
        return cls.objects.filter(tenant=tenant).first() or cls(tenant=tenant)


class ProviderClient(TenantOwned):
    """
    Ties an OAuth client (SMART Backend Services) to one provider organization, named by its
    NPI. A client with this tie is a provider's system client: it sees only that
    organization's attribution lists and their members (PDex Provider Access §7.3).
    """

    application = models.OneToOneField(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.CASCADE, related_name="provider_client"
    )
    organization_npi = models.CharField("organization NPI", max_length=10)
    organization_name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]

    def __str__(self):
        return f"{self.application_id} for NPI {self.organization_npi}"


class AttributionChange(TenantOwned):
    """One change a provider (or payer staff) made to an attribution list through ATR operations."""

    class Operation(models.TextChoices):
        MEMBER_ADD = "member-add", "$member-add"
        MEMBER_REMOVE = "member-remove", "$member-remove"
        CONFIRM = "confirm-attribution-list", "$confirm-attribution-list"

    group_id = models.CharField(max_length=64)
    operation = models.CharField(max_length=32, choices=Operation.choices)
    # "" for a confirmation.
    patient_id = models.CharField(max_length=64, blank=True)
    version_id = models.PositiveIntegerField()
    organization_npi = models.CharField(max_length=10, blank=True)
    # Who called: "client <client_id>", "user <username>" or "payer staff <username>".
    actor = models.CharField(max_length=255)
    detail = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["tenant", "group_id", "created_at"], name="attribution_change_group")]

    def __str__(self):
        return f"{self.operation} on Group/{self.group_id} v{self.version_id}"
