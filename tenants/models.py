import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from tenants.context import require_tenant

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
# Words that would be confusing or collide with portal paths if used as a payer slug.
RESERVED_SLUGS = frozenset(
    """
    admin api static media accounts account payers payer directory fhir oauth bulk www new login
    logout signup t tenant tenants metadata well-known health status sandbox demo root system public
    """.split()
)


def validate_tenant_slug(value):
    if not 3 <= len(value) <= 40:
        raise ValidationError("A payer slug is 3 to 40 characters long.", code="length")
    if not SLUG_RE.match(value) or "--" in value:
        raise ValidationError(
            "Use lowercase letters, digits and single hyphens, starting and ending with a "
            "letter or digit (for example acme-health).",
            code="format",
        )
    if value in RESERVED_SLUGS:
        raise ValidationError(f"'{value}' is reserved; choose another slug.", code="reserved")


class Tenant(models.Model):
    """A simulated payer: its own FHIR data, certificates, OAuth server and export jobs."""

    class Status(models.TextChoices):
        PROVISIONING = "provisioning", "Being created"
        READY = "ready", "Ready"
        FAILED = "failed", "Creation failed"

    class PdexVersion(models.TextChoices):
        V2_0 = "2.0", "PDex 2.0 (STU2)"
        V2_1 = "2.1", "PDex 2.1 (STU2.1)"
        V2_2 = "2.2", "PDex 2.2 (STU2.2 ballot)"

    slug = models.CharField(max_length=40, unique=True, validators=[validate_tenant_slug])
    name = models.CharField(max_length=200)
    pdex_version = models.CharField(max_length=8, choices=PdexVersion.choices, default=PdexVersion.V2_0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PROVISIONING)
    # US Drug Formulary data may be served without authentication (spec/formulary.md §4.3).
    formulary_public = models.BooleanField(
        default=True, help_text="Serve InsurancePlan, Basic, MedicationKnowledge and Location without a token."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    access_token_lifetime = models.PositiveIntegerField(
        default=300,
        help_text="Seconds an access token is valid (SMART Backend Services recommends 300).",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return f"{self.name} ({self.slug})"

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("payer-detail", args=[self.slug])

    @property
    def is_ready(self):
        return self.status == self.Status.READY

    @property
    def files_dir(self):
        """Directory for this tenant's files (exports, uploads); keyed by id, not slug,
        so a slug reused after a deletion never sees old files."""
        return settings.TENANT_FILES_DIR / str(self.pk)

    def endpoints(self):
        """The URLs a participant configures in their client (the connection card)."""
        web = f"{settings.SANDBOX_PUBLIC_URL}/t/{self.slug}"
        tls = f"{settings.SANDBOX_TLS_PUBLIC_URL}/t/{self.slug}"
        return {
            "fhir_base_url": f"{web}/fhir",
            "tls_fhir_base_url": f"{tls}/fhir",
            "smart_configuration_url": f"{web}/fhir/.well-known/smart-configuration",
            "authorization_url": f"{web}/oauth/authorize",
            "token_url": f"{web}/oauth/token",
            "tls_token_url": f"{tls}/oauth/token",
            "registration_url": f"{tls}/oauth/register",
        }

    def is_member(self, user):
        return user.is_authenticated and self.memberships.filter(user=user).exists()


class MembershipQuerySet(models.QuerySet):
    def owners(self):
        return self.filter(role=Membership.Role.OWNER)


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        MEMBER = "member", "Member"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="payer_memberships")
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(default=timezone.now)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "user"], name="membership_unique_user")]
        ordering = ["created_at"]

    def __str__(self):
        return f"{self.user} in {self.tenant.slug} ({self.role})"


class Invitation(models.Model):
    """An invitation by e-mail for someone who has no account yet; claimed when they sign up."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "email"], name="invitation_unique_email")]

    def __str__(self):
        return f"{self.email} invited to {self.tenant.slug}"


class TenantQuerySet(models.QuerySet):
    def for_tenant(self, tenant):
        return self.filter(tenant=tenant)


class TenantManager(models.Manager.from_queryset(TenantQuerySet)):
    """Filters by the active tenant, and refuses to query when none is active (fail closed)."""

    def get_queryset(self):
        return super().get_queryset().filter(tenant=require_tenant())


class TenantOwned(models.Model):
    """
    Abstract base of every tenant-owned model.

    `objects` is scoped to the active tenant; `unscoped` is for portal code that has already
    checked the user's access and names the tenant itself (`Model.unscoped.for_tenant(t)`).
    On PostgreSQL the table also gets a row-level-security policy (tenants/rls.py).
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, editable=False, related_name="+")

    objects = TenantManager()
    unscoped = TenantQuerySet.as_manager()

    class Meta:
        abstract = True
        base_manager_name = "unscoped"

    def save(self, *args, **kwargs):
        if self.tenant_id is None:
            self.tenant = require_tenant()
        super().save(*args, **kwargs)


class TenantJob(TenantOwned):
    """
    A background job about one payer (creating it, resetting its data, loading an upload), with the
    progress and error the dashboard shows. The Celery task claims it with a conditional
    update, so a duplicate delivery does nothing.
    """

    class Kind(models.TextChoices):
        PROVISION = "provision", "Create payer"
        RESET = "reset", "Reset data to its seed"
        LOAD = "load", "Load uploaded data"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    params = models.JSONField(default=dict, blank=True)
    progress = models.PositiveSmallIntegerField(default=0)
    message = models.CharField(max_length=300, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=100, blank=True, help_text="host:pid of the process that ran it")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "kind", "-created_at"], name="tenantjob_latest")]

    def __str__(self):
        return f"{self.get_kind_display()} #{self.pk} ({self.status})"

    @property
    def is_finished(self):
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)

    def as_progress(self):
        return {
            "id": self.pk,
            "kind": self.kind,
            "status": self.status,
            "progress": self.progress,
            "message": self.message,
            "error": self.error,
        }
