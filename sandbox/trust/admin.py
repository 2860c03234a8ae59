from django.contrib import admin

from sandbox.trust.models import Certificate, CertificateAuthority, DirectoryEntry


@admin.register(DirectoryEntry)
class DirectoryEntryAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "kind", "status", "endpoint_url", "created_at")
    list_filter = ("kind", "status")
    search_fields = ("name", "slug", "naic", "npi", "tin")
    exclude = ("source_bundle",)


@admin.register(CertificateAuthority)
class CertificateAuthorityAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "tenant", "entry", "crl_number", "created_at")
    list_filter = ("kind",)
    # Keys stay sealed and out of forms; the certificate is public but binary.
    exclude = ("key_encrypted", "certificate_der", "subject_der")
    readonly_fields = ("thumbprint",)


@admin.register(Certificate)
class CertificateAdmin(admin.ModelAdmin):
    list_display = ("subject", "purpose", "defect", "entry", "tenant", "not_after", "revoked_at")
    list_filter = ("purpose", "defect")
    search_fields = ("subject", "thumbprint", "serial")
    exclude = ("key_encrypted", "der")
    readonly_fields = ("thumbprint", "serial", "subject", "not_before", "not_after")
