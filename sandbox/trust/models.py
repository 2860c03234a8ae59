"""
Trust: certificate authorities, certificates and the endpoint directory.

These tables are global, not TenantOwned: everything in them except the private keys is
published (the directory lists every CA and certificate to every participant, and the mTLS
middleware looks a presented certificate up before any tenant is known). A tenant's rows
carry a nullable `tenant` foreign key, so deleting the payer deletes them; private keys are
AES-GCM encrypted at rest (sandbox/trust/keystore.py) and only handed out by views that
checked membership.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from tenants.models import Tenant


class DirectoryEntry(models.Model):
    """One payer or participant in the mTLS endpoint directory (one PDex mtls-bundle)."""

    class Kind(models.TextChoices):
        TENANT = "tenant", "Simulated payer"
        PARTICIPANT = "participant", "Registered participant"
        IMPORTED = "imported", "Imported bundle"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        OFF = "off", "Off"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    # The FHIR id of the payer Organization; also the bundle id and the export file stem.
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    operator_name = models.CharField(max_length=200, blank=True)
    endpoint_url = models.URLField(max_length=500, blank=True)
    naic = models.CharField("NAIC", max_length=20, blank=True)
    npi = models.CharField("NPI", max_length=20, blank=True)
    tin = models.CharField("TIN", max_length=20, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    tenant = models.OneToOneField(
        Tenant, null=True, blank=True, on_delete=models.CASCADE, related_name="directory_entry"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Imported entries keep the bundle as received so that export gives it back unchanged.
    source_bundle = models.JSONField(null=True, blank=True)
    source_name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "slug"]
        verbose_name_plural = "directory entries"

    def __str__(self):
        return f"{self.name} ({self.slug})"

    @property
    def is_active(self):
        return self.status == self.Status.ACTIVE


class CertificateAuthority(models.Model):
    """A CA whose certificates the directory trusts: a tenant's, the participants', or an uploaded one."""

    class Kind(models.TextChoices):
        TENANT = "tenant", "Payer CA"
        PARTICIPANTS = "participants", "Participants CA"
        EXTERNAL = "external", "Uploaded CA"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=200)
    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    # Set for an uploaded CA: the participant whose certificates it issues.
    entry = models.ForeignKey(
        DirectoryEntry, null=True, blank=True, on_delete=models.CASCADE, related_name="authorities"
    )
    certificate_der = models.BinaryField()
    thumbprint = models.CharField(max_length=64, unique=True)
    subject_der = models.BinaryField()
    key_encrypted = models.BinaryField(blank=True, default=b"")
    crl_number = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["kind", "name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant"], condition=Q(kind="tenant"), name="trust_one_ca_per_tenant"),
            models.UniqueConstraint(
                fields=["kind"], condition=Q(kind="participants"), name="trust_one_participants_ca"
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def can_issue(self):
        return bool(self.key_encrypted)


class CertificateQuerySet(models.QuerySet):
    def usable(self):
        return self.filter(revoked_at__isnull=True)


class Certificate(models.Model):
    """An end-entity certificate known to the directory, with its key when the sandbox issued it."""

    class Purpose(models.TextChoices):
        SERVER = "server", "Server (endpoint identity)"
        CLIENT = "client", "Client (calling other payers)"
        PARTICIPANT = "participant", "Participant client"
        PINNED = "pinned", "Pinned (uploaded or imported)"
        NEGATIVE = "negative", "Deliberately bad (negative testing)"

    class Defect(models.TextChoices):
        NONE = "", "None"
        EXPIRED = "expired", "Expired"
        NOT_YET_VALID = "not-yet-valid", "Not yet valid"
        REVOKED = "revoked", "Revoked"
        UNKNOWN_CA = "unknown-ca", "Issued by an unknown CA"
        NO_CLIENT_AUTH = "no-client-auth", "Lacks the clientAuth usage"

    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    defect = models.CharField(max_length=16, choices=Defect.choices, blank=True, default="")
    # Null for a certificate that must never become a directory identity (unknown-CA test certs).
    entry = models.ForeignKey(
        DirectoryEntry, null=True, blank=True, on_delete=models.CASCADE, related_name="certificates"
    )
    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    authority = models.ForeignKey(
        CertificateAuthority, null=True, blank=True, on_delete=models.CASCADE, related_name="issued"
    )
    der = models.BinaryField()
    thumbprint = models.CharField(max_length=64, unique=True)  # x5t#S256 (base64url SHA-256 of the DER)
    serial = models.CharField(max_length=64)
    subject = models.CharField(max_length=300)
    not_before = models.DateTimeField()
    not_after = models.DateTimeField()
    key_encrypted = models.BinaryField(blank=True, default=b"")
    revoked_at = models.DateTimeField(null=True, blank=True)
    revocation_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = CertificateQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["authority", "serial"], name="trust_cert_serial")]

    def __str__(self):
        return f"{self.subject} ({self.get_purpose_display()})"

    @property
    def is_revoked(self):
        return self.revoked_at is not None

    @property
    def is_expired(self):
        return self.not_after <= timezone.now()

    @property
    def has_key(self):
        return bool(self.key_encrypted)
