import json
import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from sandbox.trust import authority as ca
from sandbox.trust import certificates
from sandbox.trust.views import pkcs12_password


class Command(BaseCommand):
    help = (
        "Add an outside participant to the endpoint directory, issue its key and certificate from the "
        "participants' CA, write PEM files and a PKCS#12 to DIR, and print JSON."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="Organization name shown in the directory.")
        parser.add_argument("--out", required=True, help="Directory to write the files to (created if missing).")
        parser.add_argument("--endpoint", default="", help="The participant's mTLS endpoint URL.")
        parser.add_argument("--csr", help="Certify this PEM CSR instead of generating a key.")
        parser.add_argument("--naic", default="")
        parser.add_argument("--npi", default="")
        parser.add_argument("--tin", default="")

    def handle(self, *args, name, out, endpoint, csr, naic, npi, tin, **options):
        result = register(name, out, endpoint=endpoint, csr=csr, naic=naic, npi=npi, tin=tin)
        self.stdout.write(json.dumps(result, indent=2))


def register(name, out, *, endpoint="", csr=None, naic="", npi="", tin=""):
    """Register the participant and write its files; returns the JSON-able summary (tested directly)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    csr_pem = Path(csr).read_bytes() if csr else None
    try:
        entry, cert, key = certificates.register_participant(
            name, endpoint_url=endpoint, naic=naic, npi=npi, tin=tin, csr_pem=csr_pem
        )
    except ca.CertificateError as exc:
        raise CommandError(str(exc)) from None
    certificates.publish_trust()
    stem = entry.slug
    authority = cert.authority
    files = {"certificate": out / f"{stem}.pem", "ca": out / "participants-ca.pem"}
    files["certificate"].write_bytes(ca.to_pem(cert.der))
    files["ca"].write_bytes(ca.to_pem(authority.certificate_der))
    result = {
        "entry": entry.slug,
        "name": entry.name,
        "x5t#S256": cert.thumbprint,
        "notAfter": cert.not_after.isoformat(),
    }
    if key is not None:
        files["key"] = out / f"{stem}-key.pem"
        files["pkcs12"] = out / f"{stem}.p12"
        _write_private(files["key"], ca.key_to_pem(key))
        password = pkcs12_password(cert)
        _write_private(files["pkcs12"], ca.pkcs12_bundle(cert, key, password, [ca.authority_certificate(authority)]))
        result["pkcs12Password"] = password
    result["files"] = {k: str(v) for k, v in files.items()}
    return result


def _write_private(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
