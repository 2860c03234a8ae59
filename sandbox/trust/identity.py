"""
The verified mTLS identity of a request.

`ClientCertMiddleware` (sandbox/trust/middleware.py) calls `verify_client_certificate` on
every request that presents a certificate and stores the result as `request.mtls`. Code that
needs a caller authenticated by the directory (OAuth Dynamic Client Registration over mTLS,
RFC 8705 token binding) uses:

    from sandbox.trust.identity import require_directory_identity, MtlsIdentityRequired

    try:
        identity = require_directory_identity(request)   # MtlsIdentity
    except MtlsIdentityRequired as exc:
        return 401 with exc.reason                       # e.g. "revoked", "not-in-directory"
    identity.entry        # DirectoryEntry (kind tenant | participant | imported)
    identity.tenant       # the simulated payer presenting it, or None for outside participants
    identity.thumbprint   # x5t#S256, for the token's cnf claim
    identity.certificate  # cryptography x509.Certificate

The same facts are in request.META (non-HTTP_ keys, which no client header can produce, and
which django-oauth-toolkit's extract_headers() copies into the oauthlib request):
`mtls.verify` = "SUCCESS" | "FAILED:<reason>" | "NONE", and only on SUCCESS
`mtls.x5t_s256`, `mtls.cert_der` and `mtls.entry_id`.

Verification happens in the app on every request (session resumption and the TLS layer's
union trust store prove nothing about the directory): the certificate must parse, be within
its validity period, not be revoked, carry the clientAuth extended key usage, and either be a
certificate the directory knows (issued by a directory CA, checked with
cryptography's x509.verification, or pinned) or be issued by a CA uploaded for a participant.
"""

from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from sandbox.trust.authority import thumbprint
from sandbox.trust.models import Certificate, CertificateAuthority, DirectoryEntry

META_VERIFY = "mtls.verify"
META_THUMBPRINT = "mtls.x5t_s256"
META_CERT_DER = "mtls.cert_der"
META_ENTRY_ID = "mtls.entry_id"
META_KEYS = (META_VERIFY, META_THUMBPRINT, META_CERT_DER, META_ENTRY_ID)

# Reasons a presented certificate is refused (stable strings: tests and clients match them).
NONE = "no-certificate"
MALFORMED = "malformed"
EXPIRED = "expired"
NOT_YET_VALID = "not-yet-valid"
REVOKED = "revoked"
NO_CLIENT_AUTH = "no-client-auth"
UNKNOWN = "not-in-directory"
BAD_CHAIN = "bad-chain"
ENTRY_OFF = "entry-off"

DESCRIPTIONS = {
    NONE: "No client certificate was presented.",
    MALFORMED: "The client certificate could not be parsed.",
    EXPIRED: "The client certificate has expired.",
    NOT_YET_VALID: "The client certificate is not valid yet.",
    REVOKED: "The client certificate has been revoked.",
    NO_CLIENT_AUTH: "The client certificate lacks the clientAuth extended key usage.",
    UNKNOWN: "The client certificate does not belong to any entry of the endpoint directory.",
    BAD_CHAIN: "The client certificate does not chain to the directory CA that should have issued it.",
    ENTRY_OFF: "The directory entry of this client certificate is switched off.",
}


@dataclass(frozen=True)
class MtlsIdentity:
    """A caller authenticated by its client certificate and found in the directory."""

    entry: DirectoryEntry
    thumbprint: str
    certificate: x509.Certificate
    der: bytes

    @property
    def tenant(self):
        return self.entry.tenant

    def as_dict(self):
        return {
            "entry": self.entry.slug,
            "name": self.entry.name,
            "kind": self.entry.kind,
            "tenant": self.entry.tenant.slug if self.entry.tenant_id else None,
            "x5t#S256": self.thumbprint,
            "subject": self.certificate.subject.rfc4514_string(),
            "notAfter": self.certificate.not_valid_after_utc.isoformat(),
        }


@dataclass(frozen=True)
class ClientCertificate:
    """What the middleware learned about the request's client certificate (`request.mtls`)."""

    presented: bool
    reason: str = NONE
    der: bytes | None = None
    certificate: x509.Certificate | None = None
    thumbprint: str | None = None
    # Set only when verified, so that `request.mtls.entry` can never name the owner of a
    # revoked or expired certificate; `claimed_entry` keeps that for diagnostics.
    entry: DirectoryEntry | None = field(default=None)
    claimed_entry: DirectoryEntry | None = field(default=None)

    @property
    def verified(self):
        return self.reason == "ok"

    @property
    def identity(self):
        """The MtlsIdentity when verified, else None."""
        if not self.verified:
            return None
        return MtlsIdentity(entry=self.entry, thumbprint=self.thumbprint, certificate=self.certificate, der=self.der)

    @property
    def description(self):
        return (
            "Verified against the endpoint directory." if self.verified else DESCRIPTIONS.get(self.reason, self.reason)
        )

    def as_dict(self):
        return {
            "presented": self.presented,
            "verified": self.verified,
            "reason": self.reason,
            "description": self.description,
            "x5t#S256": self.thumbprint,
            "subject": self.certificate.subject.rfc4514_string() if self.certificate else None,
            "entry": self.entry.slug if self.entry else None,
        }


NO_CERTIFICATE = ClientCertificate(presented=False)


class MtlsIdentityRequired(PermissionDenied):
    """The request has no verified directory identity; `reason` is one of the reason strings."""

    def __init__(self, reason, description):
        super().__init__(description)
        self.reason = reason
        self.description = description


def require_directory_identity(request):
    """Return the request's MtlsIdentity or raise MtlsIdentityRequired (for DCR and token binding)."""
    mtls = getattr(request, "mtls", NO_CERTIFICATE)
    if not mtls.verified:
        raise MtlsIdentityRequired(mtls.reason, mtls.description)
    return mtls.identity


def _has_client_auth(cert):
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return ExtendedKeyUsageOID.CLIENT_AUTH in usages or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in usages


def _chains_to(leaf, anchor_der, now):
    # Permissive end-entity policy: web-PKI EE rules reject ordinary client certificates
    # (critical SAN with a subject, no AKI on self-signed pins); tech-notes §1.
    anchor = x509.load_der_x509_certificate(bytes(anchor_der))
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store([anchor]))
        .time(now)
        .extension_policies(
            ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
            ee_policy=verification.ExtensionPolicy.permit_all(),
        )
        .build_client_verifier()
    )
    try:
        verifier.verify(leaf, [])
    except verification.VerificationError:
        return False
    return True


def verify_client_certificate(der, now=None):
    """Check a presented DER certificate against the directory; returns a ClientCertificate."""
    if not der:
        return NO_CERTIFICATE
    der = bytes(der)
    now = now or timezone.now()
    tp = thumbprint(der)
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return ClientCertificate(presented=True, reason=MALFORMED, der=der, thumbprint=tp)

    def verdict(reason, entry=None):
        return ClientCertificate(
            presented=True,
            reason=reason,
            der=der,
            certificate=cert,
            thumbprint=tp,
            entry=entry if reason == "ok" else None,
            claimed_entry=entry,
        )

    row = Certificate.objects.select_related("entry", "authority").filter(thumbprint=tp).first()
    if row is not None and row.is_revoked:
        return verdict(REVOKED, row.entry)
    if cert.not_valid_before_utc > now:
        return verdict(NOT_YET_VALID, row.entry if row else None)
    if cert.not_valid_after_utc <= now:
        return verdict(EXPIRED, row.entry if row else None)
    if not _has_client_auth(cert):
        return verdict(NO_CLIENT_AUTH, row.entry if row else None)

    if row is not None and row.entry is not None:
        entry = row.entry
        if row.authority is not None:
            if not _chains_to(cert, row.authority.certificate_der, now):
                return verdict(BAD_CHAIN, entry)
        elif row.purpose != Certificate.Purpose.PINNED or not _chains_to(cert, row.der, now):
            # A pinned certificate is its own anchor; anything else without an issuer is unknown.
            return verdict(UNKNOWN)
    else:
        entry = _entry_of_external_issuer(cert, now)
        if entry is None:
            return verdict(UNKNOWN)
    if not entry.is_active:
        return verdict(ENTRY_OFF, entry)
    return verdict("ok", entry)


def _entry_of_external_issuer(cert, now):
    """A participant's uploaded CA that issued `cert`, if any (its certificates are not stored)."""
    issuer = cert.issuer.public_bytes()
    for authority in CertificateAuthority.objects.filter(
        kind=CertificateAuthority.Kind.EXTERNAL, entry__isnull=False
    ).select_related("entry"):
        if bytes(authority.subject_der) == issuer and _chains_to(cert, authority.certificate_der, now):
            return authority.entry
    return None


def certificate_from_pem(pem_bytes):
    """DER of the first certificate in a PEM text (as forwarded by a TLS-terminating proxy)."""
    cert = x509.load_pem_x509_certificate(pem_bytes)
    return cert.public_bytes(serialization.Encoding.DER)


__all__ = [
    "ClientCertificate",
    "MtlsIdentity",
    "MtlsIdentityRequired",
    "require_directory_identity",
    "verify_client_certificate",
]
