from django.db import models

from tenants.models import TenantOwned


class FormularySettings(TenantOwned):
    """Per-payer US Drug Formulary settings; a payer without a row uses the defaults."""

    class Version(models.TextChoices):
        V2_0_1 = "2.0.1", "STU2 technical correction 2.0.1 (what Inferno tests)"
        V2_1_0 = "2.1.0", "STU2.1 (2.1.0)"

    usdf_version = models.CharField(max_length=8, choices=Version.choices, default=Version.V2_0_1)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="formulary_settings_one_per_tenant")]
        verbose_name_plural = "formulary settings"

    def __str__(self):
        return f"Formulary settings of {self.tenant_id} (USDF {self.usdf_version})"

    @classmethod
    def for_tenant(cls, tenant):
        """The payer's settings (unsaved defaults when it has none); call inside tenant_scope."""
        return cls.objects.filter(tenant=tenant).first() or cls(tenant=tenant)
