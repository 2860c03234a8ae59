"""
Certificate authorities: creating CAs, issuing and revoking certificates, publishing CRLs.

Keys are EC P-256 (fast to generate, so a payer's CA and certificates are made in
milliseconds during provisioning). Client certificates carry SAN URIs and the clientAuth
usage as HRex's exchange security asks of mTLS certificates (RFC 8705 with Da Vinci
constraints: PKI-issued, SAN URIs).
"""

import base64
import datetime
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from sandbox.trust import keystore
from sandbox.trust.models import Certificate, CertificateAuthority

ORGANIZATION = "Connectathon payer sandbox"
CA_LIFETIME = datetime.timedelta(days=3650)
LEAF_LIFETIME = datetime.timedelta(days=397)
CRL_LIFETIME = datetime.timedelta(days=1)
# Backdating absorbs clock skew between the sandbox and participants' machines.
BACKDATE = datetime.timedelta(minutes=5)


class CertificateError(ValueError):
    """A certificate, CSR or key supplied by a user is unusable; the message says why."""


def thumbprint(der):
    """RFC 8705 `x5t#S256`: base64url (unpadded) SHA-256 of the DER certificate."""
    return base64.urlsafe_b64encode(hashlib.sha256(bytes(der)).digest()).rstrip(b"=").decode()


def to_pem(der):
    return x509.load_der_x509_certificate(bytes(der)).public_bytes(serialization.Encoding.PEM)


def key_to_pem(key):
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_certificates(data):
    """Parse PEM (one or more certificates) or DER bytes; raises CertificateError."""
    data = bytes(data)
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            certs = x509.load_pem_x509_certificates(data.strip())
        else:
            certs = [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise CertificateError(f"not an X.509 certificate ({exc})") from None
    if not certs:
        raise CertificateError("no certificate found")
    return certs


def _name(common_name, organization=ORGANIZATION):
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization[:64]),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
        ]
    )


def _aware(dt):
    return dt if dt.tzinfo else dt.replace(tzinfo=datetime.UTC)


def create_authority(*, kind, name, tenant=None, entry=None):
    """Create and store a self-signed CA; its key is sealed at rest."""
    now = timezone.now()
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    tp = thumbprint(der)
    return CertificateAuthority.objects.create(
        kind=kind,
        name=name,
        tenant=tenant,
        entry=entry,
        certificate_der=der,
        thumbprint=tp,
        subject_der=subject.public_bytes(),
        key_encrypted=keystore.seal(key, tp),
    )


def add_external_authority(ca_cert, *, entry):
    """Trust an uploaded CA for one participant entry (no key: the sandbox cannot issue from it)."""
    try:
        constraints = ca_cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise CertificateError("the uploaded CA certificate does not have basicConstraints CA:TRUE")
    der = ca_cert.public_bytes(serialization.Encoding.DER)
    tp = thumbprint(der)
    if CertificateAuthority.objects.filter(thumbprint=tp).exists():
        raise CertificateError("this CA is already in the directory")
    return CertificateAuthority.objects.create(
        kind=CertificateAuthority.Kind.EXTERNAL,
        name=ca_cert.subject.rfc4514_string()[:200],
        entry=entry,
        certificate_der=der,
        thumbprint=tp,
        subject_der=ca_cert.subject.public_bytes(),
    )


def authority_certificate(authority):
    return x509.load_der_x509_certificate(bytes(authority.certificate_der))


def authority_key(authority):
    return keystore.unseal(authority.key_encrypted, authority.thumbprint)


def crl_url(authority):
    return settings.SANDBOX_PUBLIC_URL + reverse("directory-ca-crl", args=[authority.pk])


def issue(
    authority,
    *,
    common_name,
    purpose,
    entry=None,
    tenant=None,
    public_key=None,
    uris=(),
    dns_names=(),
    usages=(ExtendedKeyUsageOID.CLIENT_AUTH,),
    not_before=None,
    not_after=None,
    defect="",
):
    """
    Issue an end-entity certificate from `authority` and store it.

    With no `public_key` a new key pair is generated and stored sealed; returns
    (Certificate, private key or None).
    """
    ca_cert = authority_certificate(authority)
    ca_key = authority_key(authority)
    key = None
    if public_key is None:
        key = ec.generate_private_key(ec.SECP256R1())
        public_key = key.public_key()
    now = timezone.now()
    not_before = _aware(not_before or now - BACKDATE)
    not_after = _aware(not_after or now + LEAF_LIFETIME)
    alt_names = [x509.UniformResourceIdentifier(u) for u in uris] + [x509.DNSName(d) for d in dns_names]
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, True, False, True, False, False, False, False), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.CRLDistributionPoints(
                [x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url(authority))], None, None, None)]
            ),
            critical=False,
        )
    )
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    row = store_certificate(cert, purpose=purpose, entry=entry, tenant=tenant, authority=authority, key=key)
    if defect:
        row.defect = defect
        row.save(update_fields=["defect"])
    return row, key


def store_certificate(cert, *, purpose, entry=None, tenant=None, authority=None, key=None, defect=""):
    """Record a certificate (issued here, uploaded or imported); seals `key` when given."""
    der = cert.public_bytes(serialization.Encoding.DER)
    tp = thumbprint(der)
    return Certificate.objects.create(
        purpose=purpose,
        defect=defect,
        entry=entry,
        tenant=tenant,
        authority=authority,
        der=der,
        thumbprint=tp,
        serial=format(cert.serial_number, "x"),
        subject=cert.subject.rfc4514_string()[:300],
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        key_encrypted=keystore.seal(key, tp) if key is not None else b"",
    )


def certificate_key(certificate):
    """The private key of a certificate the sandbox issued with a generated key."""
    return keystore.unseal(certificate.key_encrypted, certificate.thumbprint)


def revoke(certificate, reason="revoked by its owner"):
    """Revoke a certificate. The next request presenting it is refused (the app checks every request)."""
    with transaction.atomic():
        updated = Certificate.objects.filter(pk=certificate.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now(), revocation_reason=reason[:200]
        )
        certificate.refresh_from_db()
        if updated and certificate.authority_id:
            CertificateAuthority.objects.filter(pk=certificate.authority_id).update(crl_number=F("crl_number") + 1)
    return certificate


def build_crl(authority):
    """The CA's current CRL (DER): every revoked certificate it issued, valid for one day."""
    ca_cert = authority_certificate(authority)
    ca_key = authority_key(authority)
    now = timezone.now()
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now - BACKDATE)
        .next_update(now + CRL_LIFETIME)
        .add_extension(x509.CRLNumber(authority.crl_number), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    for row in authority.issued.filter(revoked_at__isnull=False).order_by("revoked_at"):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(int(row.serial, 16)).revocation_date(row.revoked_at).build()
        )
    return builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def pkcs12_bundle(certificate, key, password, chain=()):
    """A PKCS#12 file holding the key, the certificate and its CA, encrypted with `password`."""
    cert = x509.load_der_x509_certificate(bytes(certificate.der))
    return pkcs12.serialize_key_and_certificates(
        certificate.subject.encode()[:64],
        key,
        cert,
        list(chain) or None,
        serialization.BestAvailableEncryption(password.encode()),
    )
