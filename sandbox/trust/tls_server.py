"""
The TLS listener's own side: its server certificate, and a client-certificate trust store
that changes without a restart.

Imported by the gunicorn configuration (sandbox/trust/gunicorn_tls.py) in the master process,
before Django is set up, so nothing here may touch Django.

Trust is published by the application as one PEM bundle file (every CA and pinned client
certificate of the directory). Each handshake calls the SNI callback, which is called even
without SNI; the callback swaps in a context rebuilt when the bundle's file identity changed.
The TLS layer only proves possession of a key that chains to something in the union of all
trust; which tenant and client a certificate may act as is always decided by the app
(tech-notes §1).
"""

import datetime
import ipaddress
import os
import ssl
import tempfile
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVER_CERT = "server.pem"
SERVER_KEY = "server-key.pem"
LISTENER_CA = "listener-ca.pem"
LISTENER_CA_KEY = "listener-ca-key.pem"
TRUST_BUNDLE = "client-trust.pem"

DEFAULT_NAMES = ("localhost",)
DEFAULT_IPS = ("127.0.0.1", "::1")


def _write_private(path, data):
    """Write a file readable by its owner only, atomically."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_public(path, data):
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _key_pem(key):
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_ca(tls_dir):
    cert_path, key_path = tls_dir / LISTENER_CA, tls_dir / LISTENER_CA_KEY
    if cert_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if cert.not_valid_after_utc > datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=30):
            return cert, serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    now = datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Connectathon payer sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Sandbox TLS listener CA"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(key_path, _key_pem(key))
    _write_public(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _covers(cert, names, ips):
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    have_names = set(san.get_values_for_type(x509.DNSName))
    have_ips = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    return set(names) <= have_names and {str(ipaddress.ip_address(i)) for i in ips} <= have_ips


def ensure_server_certificate(tls_dir, names=DEFAULT_NAMES, ips=DEFAULT_IPS):
    """
    Make sure `tls_dir` holds a server certificate for `names` and `ips`, issued by the
    sandbox's listener CA (so that participants can trust one CA file); create or renew it
    when missing, close to expiry, or not covering the names. Returns the three paths
    (certificate chain, key, CA).
    """
    tls_dir = Path(tls_dir)
    tls_dir.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = tls_dir / SERVER_CERT, tls_dir / SERVER_KEY
    now = datetime.datetime.now(datetime.UTC)
    if cert_path.exists() and key_path.exists():
        current = x509.load_pem_x509_certificates(cert_path.read_bytes())[0]
        if current.not_valid_after_utc > now + datetime.timedelta(days=7) and _covers(current, names, ips):
            return cert_path, key_path, tls_dir / LISTENER_CA

    ca_cert, ca_key = _load_ca(tls_dir)
    key = ec.generate_private_key(ec.SECP256R1())
    alt_names = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Connectathon payer sandbox"),
                    x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else ips[0]),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=397))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(key_path, _key_pem(key))
    chain = cert.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(serialization.Encoding.PEM)
    _write_public(cert_path, chain)
    return cert_path, key_path, tls_dir / LISTENER_CA


def publish_trust_bundle(tls_dir, pem_certificates):
    """Replace the client trust bundle atomically; running listeners pick it up on the next handshake."""
    tls_dir = Path(tls_dir)
    tls_dir.mkdir(parents=True, exist_ok=True)
    data = b"".join(p if isinstance(p, bytes) else p.encode() for p in pem_certificates)
    _write_public(tls_dir / TRUST_BUNDLE, data)


class ReloadingServerContext:
    """Builds the listener's SSLContext and rebuilds it whenever the trust bundle changes."""

    def __init__(self, certfile, keyfile, trust_bundle):
        self.certfile = certfile
        self.keyfile = keyfile
        self.trust_bundle = Path(trust_bundle)
        self._lock = threading.Lock()
        self._version = object()
        self._context = None

    def _bundle_version(self):
        try:
            st = self.trust_bundle.stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def build(self):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.certfile, self.keyfile)
        # Ask for a certificate but let clients without one through: the app answers them
        # (401 with a reason) instead of a bare handshake failure.
        context.verify_mode = ssl.CERT_OPTIONAL
        # Directory entries may pin a CA-issued leaf without its CA (tech-notes §1).
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        # No resumption: every connection is verified against the trust in force now,
        # so a revoked certificate cannot ride on an old session.
        context.options |= ssl.OP_NO_TICKET
        context.num_tickets = 0
        if self.trust_bundle.exists() and self.trust_bundle.stat().st_size > 0:
            context.load_verify_locations(cafile=str(self.trust_bundle))
        return context

    def current(self):
        version = self._bundle_version()
        if version != self._version or self._context is None:
            with self._lock:
                if version != self._version or self._context is None:
                    self._context = self.build()
                    self._version = version
        return self._context

    def sni_callback(self, ssl_object, server_name, initial_context):
        ssl_object.context = self.current()

    def listening_context(self):
        """The context handed to the server: it only swaps itself for the current one."""
        context = self.build()
        context.sni_callback = self.sni_callback
        return context
