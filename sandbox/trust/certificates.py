"""
Certificate workflows: a payer's credentials, outside participants, negative-test
certificates, and publishing the listener's trust bundle whenever trust changes.
"""

import datetime
import logging
from contextvars import ContextVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from sandbox.trust import authority as ca
from sandbox.trust.models import Certificate, CertificateAuthority, DirectoryEntry
from sandbox.trust.tls_server import publish_trust_bundle

logger = logging.getLogger(__name__)

PARTICIPANTS_CA_NAME = "Sandbox participants CA"
# A certificate this close to expiry is replaced when a payer's credentials are ensured.
RENEW_BEFORE = datetime.timedelta(days=30)


# -- trust bundle ---------------------------------------------------------------------------


def trust_anchors():
    """
    PEM certificates the TLS listener trusts: every CA of the directory (payers', the
    participants', uploaded ones of active entries) and every pinned certificate of an active
    entry that is not revoked. Revoked certificates issued by a trusted CA still pass the
    handshake; the app refuses them on every request.
    """
    authorities = CertificateAuthority.objects.filter(
        Q(entry__isnull=True) | Q(entry__status=DirectoryEntry.Status.ACTIVE)
    ).order_by("pk")
    pinned = Certificate.objects.filter(
        purpose=Certificate.Purpose.PINNED,
        revoked_at__isnull=True,
        entry__status=DirectoryEntry.Status.ACTIVE,
    ).order_by("pk")
    return [ca.to_pem(a.certificate_der) for a in authorities] + [ca.to_pem(c.der) for c in pinned]


def publish_trust():
    """Rewrite the listener's trust bundle now (running listeners reload it on the next handshake)."""
    anchors = trust_anchors()
    publish_trust_bundle(settings.TLS_DIR, anchors)
    logger.info("Published %d trust anchors to %s", len(anchors), settings.TLS_DIR)


_publication_deferred = ContextVar("trust_publication_deferred", default=False)


def trust_changed():
    """Republish the trust bundle once the current transaction commits (once per transaction)."""
    if _publication_deferred.get():
        return
    connection = transaction.get_connection()
    if any(func is publish_trust for _sids, func, _robust in connection.run_on_commit):
        return
    transaction.on_commit(publish_trust)


# -- authorities ----------------------------------------------------------------------------


def participants_authority():
    """The CA that issues outside participants' certificates (created on first use)."""
    existing = CertificateAuthority.objects.filter(kind=CertificateAuthority.Kind.PARTICIPANTS).first()
    if existing:
        return existing
    try:
        with transaction.atomic():
            created = ca.create_authority(kind=CertificateAuthority.Kind.PARTICIPANTS, name=PARTICIPANTS_CA_NAME)
    except IntegrityError:
        return CertificateAuthority.objects.get(kind=CertificateAuthority.Kind.PARTICIPANTS)
    trust_changed()
    return created


def tenant_authority(tenant):
    """The payer's own CA (created on first use)."""
    existing = CertificateAuthority.objects.filter(kind=CertificateAuthority.Kind.TENANT, tenant=tenant).first()
    if existing:
        return existing
    try:
        with transaction.atomic():
            created = ca.create_authority(
                kind=CertificateAuthority.Kind.TENANT, name=f"{tenant.name} CA", tenant=tenant
            )
    except IntegrityError:
        return CertificateAuthority.objects.get(kind=CertificateAuthority.Kind.TENANT, tenant=tenant)
    trust_changed()
    return created


# -- simulated payers -----------------------------------------------------------------------


def _unique_slug(base):
    base = slugify(base)[:56] or "participant"
    slug, n = base, 2
    while DirectoryEntry.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def _luhn_digit(digits):
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def synthetic_identifiers(tenant):
    """
    NAIC, NPI and TIN for a simulated payer, derived from its id so they are stable and
    unique within the sandbox. The NPI has a valid check digit (Luhn over the 80840 prefix,
    as CMS defines it); NAIC codes from 90000 and TINs starting 99- are not real ones.
    """
    base = f"{tenant.pk % 1_000_000_000:09d}"
    return {
        "naic": f"{90000 + tenant.pk % 10000:05d}",
        "npi": base + _luhn_digit("80840" + base),
        "tin": f"99-{tenant.pk % 10_000_000:07d}",
    }


def tenant_entry(tenant):
    """The payer's directory entry, created or brought up to date with the payer."""
    endpoint = tenant.endpoints()["tls_fhir_base_url"]
    entry = DirectoryEntry.objects.filter(tenant=tenant).first()
    if entry is None:
        entry = DirectoryEntry.objects.create(
            kind=DirectoryEntry.Kind.TENANT,
            tenant=tenant,
            slug=_unique_slug(tenant.slug),
            name=tenant.name,
            operator_name=ca.ORGANIZATION,
            endpoint_url=endpoint,
            **synthetic_identifiers(tenant),
        )
    elif entry.name != tenant.name or entry.endpoint_url != endpoint or not entry.npi:
        entry.name, entry.endpoint_url, entry.updated_at = tenant.name, endpoint, timezone.now()
        for field, value in synthetic_identifiers(tenant).items():
            setattr(entry, field, getattr(entry, field) or value)
        entry.save(update_fields=["name", "endpoint_url", "updated_at", "naic", "npi", "tin"])
    return entry


def _current(entry, purpose):
    return (
        Certificate.objects.usable()
        .filter(entry=entry, purpose=purpose, not_after__gt=timezone.now() + RENEW_BEFORE)
        .order_by("-created_at")
        .first()
    )


def ensure_tenant_credentials(tenant):
    """
    Make sure the payer has its directory entry, its CA, a server certificate (the identity of
    its endpoint, published in the directory) and a client certificate (presented when it
    calls other payers). Idempotent: existing valid certificates are kept.
    """
    with transaction.atomic():
        entry = tenant_entry(tenant)
        authority = tenant_authority(tenant)
        uri = entry.endpoint_url
        if _current(entry, Certificate.Purpose.SERVER) is None:
            host = uri.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
            ca.issue(
                authority,
                common_name=f"{tenant.name} endpoint",
                purpose=Certificate.Purpose.SERVER,
                entry=entry,
                tenant=tenant,
                uris=[uri],
                dns_names=[host] if host and not host[0].isdigit() else [],
                usages=(ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH),
            )
            trust_changed()
        if _current(entry, Certificate.Purpose.CLIENT) is None:
            issue_client_certificate(tenant)
    return entry


def issue_client_certificate(tenant):
    """A new client certificate for the payer, issued by its CA; returns (Certificate, key)."""
    entry = tenant_entry(tenant)
    cert, key = ca.issue(
        tenant_authority(tenant),
        common_name=f"{tenant.name} client",
        purpose=Certificate.Purpose.CLIENT,
        entry=entry,
        tenant=tenant,
        uris=[entry.endpoint_url],
    )
    trust_changed()
    return cert, key


def issue_certificates_step(tenant, job, report):
    """Provisioning step: the new payer's CA, server and client certificates."""
    # The step runs outside a transaction in the worker: publish once, directly, rather than
    # adding commit hooks to whatever transaction a caller may hold.
    token = _publication_deferred.set(True)
    try:
        ensure_tenant_credentials(tenant)
    finally:
        _publication_deferred.reset(token)
    publish_trust()
    report(1.0, "Certificates issued")


def sync_tenant_entries():
    """Give every ready payer without a directory entry its entry and credentials."""
    from tenants.models import Tenant

    missing = Tenant.objects.filter(status=Tenant.Status.READY, directory_entry__isnull=True)
    for tenant in missing:
        ensure_tenant_credentials(tenant)


NEGATIVE_KINDS = [
    (Certificate.Defect.EXPIRED, "Expired yesterday"),
    (Certificate.Defect.NOT_YET_VALID, "Valid only from next month"),
    (Certificate.Defect.REVOKED, "Revoked right after issuance"),
    (Certificate.Defect.UNKNOWN_CA, "Issued by a CA that is not in the directory"),
    (Certificate.Defect.NO_CLIENT_AUTH, "Has extendedKeyUsage serverAuth only"),
]


def issue_negative_certificate(tenant, defect):
    """
    A deliberately bad client certificate for negative testing; returns (Certificate, key).

    Every kind must be refused by a conforming server, and by this sandbox: expired and
    not-yet-valid fail the validity check, revoked the revocation check, unknown-CA never maps
    to a directory entry (it is neither in the trust bundle nor linked to an entry), and
    no-client-auth fails the extendedKeyUsage check.
    """
    Defect = Certificate.Defect
    entry = tenant_entry(tenant)
    now = timezone.now()
    common = {
        "common_name": f"{tenant.name} bad client ({defect})",
        "purpose": Certificate.Purpose.NEGATIVE,
        "entry": entry,
        "tenant": tenant,
        "uris": [entry.endpoint_url],
        "defect": defect,
    }
    if defect == Defect.UNKNOWN_CA:
        return _unknown_ca_certificate(tenant, common["common_name"])
    authority = tenant_authority(tenant)
    if defect == Defect.EXPIRED:
        return ca.issue(
            authority,
            not_before=now - datetime.timedelta(days=30),
            not_after=now - datetime.timedelta(days=1),
            **common,
        )
    if defect == Defect.NOT_YET_VALID:
        return ca.issue(
            authority,
            not_before=now + datetime.timedelta(days=30),
            not_after=now + datetime.timedelta(days=60),
            **common,
        )
    if defect == Defect.NO_CLIENT_AUTH:
        return ca.issue(authority, usages=(ExtendedKeyUsageOID.SERVER_AUTH,), **common)
    if defect == Defect.REVOKED:
        cert, key = ca.issue(authority, **common)
        ca.revoke(cert, "negative-test certificate, revoked at issuance")
        return cert, key
    raise ValueError(f"Unknown negative certificate kind {defect!r}")


def _unknown_ca_certificate(tenant, common_name):
    # The throwaway CA exists only in memory: nothing in the directory can vouch for it.
    from cryptography.hazmat.primitives import hashes

    now = timezone.now()
    rogue_key = ec.generate_private_key(ec.SECP256R1())
    rogue = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Unknown CA (not in any directory)")])
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])]))
        .issuer_name(rogue)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - ca.BACKDATE)
        .not_valid_after(now + datetime.timedelta(days=90))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(rogue_key, hashes.SHA256())
    )
    row = ca.store_certificate(
        cert, purpose=Certificate.Purpose.NEGATIVE, tenant=tenant, key=key, defect=Certificate.Defect.UNKNOWN_CA
    )
    return row, key


def tenant_certificates(tenant):
    return Certificate.objects.filter(tenant=tenant).select_related("authority", "entry")


# -- outside participants -------------------------------------------------------------------


def _participant_entry(name, *, endpoint_url="", naic="", npi="", tin="", created_by=None):
    return DirectoryEntry.objects.create(
        kind=DirectoryEntry.Kind.PARTICIPANT,
        slug=_unique_slug(name),
        name=name,
        operator_name=name,
        endpoint_url=endpoint_url,
        naic=naic,
        npi=npi,
        tin=tin,
        created_by=created_by,
    )


def register_participant(name, *, endpoint_url="", naic="", npi="", tin="", created_by=None, csr_pem=None):
    """
    Add an outside participant to the directory with a client certificate from the
    participants' CA. With `csr_pem` the certificate certifies the CSR's key (the sandbox never
    sees the private key); otherwise a key pair is generated. Returns (entry, Certificate, key or None).
    """
    public_key = None
    if csr_pem:
        try:
            csr = x509.load_pem_x509_csr(csr_pem.encode() if isinstance(csr_pem, str) else csr_pem)
        except ValueError as exc:
            raise ca.CertificateError(f"not a PEM certificate signing request ({exc})") from None
        if not csr.is_signature_valid:
            raise ca.CertificateError("the CSR's signature does not verify")
        public_key = csr.public_key()
    with transaction.atomic():
        entry = _participant_entry(name, endpoint_url=endpoint_url, naic=naic, npi=npi, tin=tin, created_by=created_by)
        cert, key = ca.issue(
            participants_authority(),
            common_name=name,
            purpose=Certificate.Purpose.PARTICIPANT,
            entry=entry,
            public_key=public_key,
            uris=[endpoint_url] if endpoint_url else [],
        )
        trust_changed()
    return entry, cert, key


def register_participant_certificate(name, cert_pem, **fields):
    """Add a participant whose own certificate (self-signed or from any CA) is pinned as-is."""
    certs = ca.load_certificates(cert_pem.encode() if isinstance(cert_pem, str) else cert_pem)
    leaf = certs[0]
    tp = ca.thumbprint(leaf.public_bytes(serialization.Encoding.DER))
    if Certificate.objects.filter(thumbprint=tp).exists():
        raise ca.CertificateError("this certificate is already in the directory")
    with transaction.atomic():
        entry = _participant_entry(name, **fields)
        cert = ca.store_certificate(leaf, purpose=Certificate.Purpose.PINNED, entry=entry)
        trust_changed()
    return entry, cert


def register_participant_authority(name, ca_pem, **fields):
    """Add a participant whose CA is trusted: any certificate it issues maps to this entry."""
    certs = ca.load_certificates(ca_pem.encode() if isinstance(ca_pem, str) else ca_pem)
    with transaction.atomic():
        entry = _participant_entry(name, **fields)
        authority = ca.add_external_authority(certs[0], entry=entry)
        trust_changed()
    return entry, authority


def revoke(certificate, reason="revoked by its owner"):
    """Revoke and republish trust (pinned certificates leave the trust bundle)."""
    ca.revoke(certificate, reason)
    trust_changed()
    return certificate


def set_entry_status(entry, status):
    """Switch a directory entry on or off; an entry that is off is no identity and leaves the trust bundle."""
    DirectoryEntry.objects.filter(pk=entry.pk).update(status=status, updated_at=timezone.now())
    entry.refresh_from_db()
    trust_changed()
    return entry
