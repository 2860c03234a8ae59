import datetime

import pytest
from django.utils import timezone

from sandbox.trust import authority as ca
from sandbox.trust import certificates, identity
from sandbox.trust.models import Certificate

pytestmark = pytest.mark.django_db


def test_it_recognises_a_payer_client_certificate_as_its_directory_entry(credentials, client_cert):
    result = identity.verify_client_certificate(client_cert.der)
    assert result.verified
    assert result.entry == credentials
    assert result.identity.tenant.slug == "acme"
    assert result.identity.thumbprint == client_cert.thumbprint


@pytest.mark.parametrize(
    ("defect", "reason"),
    [
        (Certificate.Defect.EXPIRED, identity.EXPIRED),
        (Certificate.Defect.NOT_YET_VALID, identity.NOT_YET_VALID),
        (Certificate.Defect.REVOKED, identity.REVOKED),
        (Certificate.Defect.UNKNOWN_CA, identity.UNKNOWN),
        (Certificate.Defect.NO_CLIENT_AUTH, identity.NO_CLIENT_AUTH),
    ],
)
def test_it_refuses_every_kind_of_bad_certificate(tenant, credentials, defect, reason):
    cert, key = certificates.issue_negative_certificate(tenant, defect)
    assert key is not None
    result = identity.verify_client_certificate(cert.der)
    assert not result.verified
    assert result.reason == reason
    assert result.identity is None
    assert result.entry is None


def test_it_never_turns_an_unknown_certificate_into_an_identity(tenant, credentials):
    cert, _ = certificates.issue_negative_certificate(tenant, Certificate.Defect.UNKNOWN_CA)
    assert cert.entry is None
    assert identity.verify_client_certificate(cert.der).entry is None


def test_it_refuses_a_revoked_certificate_from_the_next_check_on(client_cert):
    assert identity.verify_client_certificate(client_cert.der).verified
    certificates.revoke(client_cert)
    revoked = identity.verify_client_certificate(client_cert.der)
    assert revoked.reason == identity.REVOKED
    assert revoked.entry is None and revoked.claimed_entry == client_cert.entry


def test_it_refuses_a_certificate_once_it_expires(client_cert):
    later = client_cert.not_after + datetime.timedelta(seconds=1)
    assert identity.verify_client_certificate(client_cert.der, now=later).reason == identity.EXPIRED


def test_it_refuses_a_certificate_whose_issuer_signature_does_not_verify(tenant, credentials, other_tenant):
    """A certificate row claiming the wrong CA is not trusted on the row's word."""
    cert, _ = certificates.issue_client_certificate(tenant)
    other_ca = certificates.tenant_authority(other_tenant)
    Certificate.objects.filter(pk=cert.pk).update(authority=other_ca)
    assert identity.verify_client_certificate(cert.der).reason == identity.BAD_CHAIN


def test_it_accepts_a_pinned_self_signed_participant_certificate():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Self Signed Payer")])
    now = timezone.now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    entry, row = certificates.register_participant_certificate(
        "Self Signed Payer", cert.public_bytes(ca.serialization.Encoding.PEM)
    )
    result = identity.verify_client_certificate(row.der)
    assert result.verified and result.entry == entry
    certificates.set_entry_status(entry, "off")
    assert identity.verify_client_certificate(row.der).reason == identity.ENTRY_OFF


def test_it_maps_certificates_of_an_uploaded_ca_to_the_participant(tenant):
    # A CA made elsewhere: reuse the sandbox's issuing code, then forget its key.
    outside = ca.create_authority(kind="external", name="Outside Health CA")
    pem = ca.to_pem(outside.certificate_der)
    leaf, _ = ca.issue(outside, common_name="Outside Health client", purpose="participant")
    der = bytes(leaf.der)
    leaf.delete()
    outside.delete()
    entry, authority = certificates.register_participant_authority("Outside Health", pem)
    result = identity.verify_client_certificate(der)
    assert result.verified and result.entry == entry


def test_it_reports_garbage_as_malformed():
    assert identity.verify_client_certificate(b"\x30\x03garbage").reason == identity.MALFORMED


def test_it_keeps_private_keys_encrypted_at_rest(client_cert):
    from cryptography.hazmat.primitives import serialization

    blob = bytes(client_cert.key_encrypted)
    plain = ca.certificate_key(client_cert).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert plain not in blob and b"PRIVATE KEY" not in blob
    other = Certificate.objects.exclude(pk=client_cert.pk).first()
    from sandbox.trust import keystore

    with pytest.raises(keystore.KeyUnavailable):
        keystore.unseal(blob, other.thumbprint)


def test_it_publishes_a_crl_listing_revoked_certificates(client_cert):
    from cryptography import x509

    certificates.revoke(client_cert)
    authority = client_cert.authority
    authority.refresh_from_db()
    crl = x509.load_der_x509_crl(ca.build_crl(authority))
    assert crl.get_revoked_certificate_by_serial_number(int(client_cert.serial, 16)) is not None
    assert crl.is_signature_valid(ca.authority_certificate(authority).public_key())


def test_it_keeps_credentials_when_ensured_twice(tenant, credentials):
    before = set(Certificate.objects.values_list("pk", flat=True))
    certificates.ensure_tenant_credentials(tenant)
    assert set(Certificate.objects.values_list("pk", flat=True)) == before


def test_it_puts_every_directory_ca_and_pinned_certificate_in_the_trust_bundle(credentials, settings):
    from sandbox.trust.tls_server import TRUST_BUNDLE

    certificates.publish_trust()
    bundle = (settings.TLS_DIR / TRUST_BUNDLE).read_bytes()
    authority = certificates.tenant_authority(credentials.tenant)
    assert ca.to_pem(authority.certificate_der) in bundle
