"""
The test's hands inside the listener's database: a Django process (same DATABASE_URL,
SECRET_KEY and data directory as the gunicorn listener) that runs trust operations sent as
JSON lines on stdin and answers one JSON line each. It lets tests/trust/test_listener.py
change trust while the listener runs, on SQLite files and PostgreSQL alike, without sharing
pytest-django's test database.
"""

import datetime
import json
import sys
import tempfile
import traceback

import django


def _pem(cert_row, key):
    from sandbox.trust import authority as ca

    return {
        "cert": ca.to_pem(cert_row.der).decode(),
        "key": ca.key_to_pem(key).decode() if key is not None else None,
        "thumbprint": cert_row.thumbprint,
    }


def create_payer(slug, name):
    from sandbox.trust import certificates
    from tenants.models import Tenant

    tenant = Tenant.objects.create(slug=slug, name=name, status=Tenant.Status.READY)
    certificates.ensure_tenant_credentials(tenant)
    cert, key = certificates.issue_client_certificate(tenant)
    return _pem(cert, key)


def issue_client(slug, seconds=None):
    from django.utils import timezone

    from sandbox.trust import authority as ca
    from sandbox.trust import certificates
    from tenants.models import Tenant

    tenant = Tenant.objects.get(slug=slug)
    if seconds is None:
        cert, key = certificates.issue_client_certificate(tenant)
    else:
        entry = certificates.tenant_entry(tenant)
        cert, key = ca.issue(
            certificates.tenant_authority(tenant),
            common_name=f"{tenant.name} short-lived client",
            purpose="client",
            entry=entry,
            tenant=tenant,
            not_after=timezone.now() + datetime.timedelta(seconds=seconds),
        )
    return _pem(cert, key)


def negative(slug, defect):
    from sandbox.trust import certificates
    from tenants.models import Tenant

    cert, key = certificates.issue_negative_certificate(Tenant.objects.get(slug=slug), defect)
    return _pem(cert, key)


def revoke(thumbprint):
    from sandbox.trust import certificates
    from sandbox.trust.models import Certificate

    certificates.revoke(Certificate.objects.get(thumbprint=thumbprint))
    return {}


def register_participant(name):
    from django.conf import settings

    from sandbox.trust.management.commands.register_participant import register

    out = tempfile.mkdtemp(prefix="participant-", dir=settings.DATA_DIR)
    result = register(name, out, endpoint="https://participant.example/fhir")
    files = result["files"]
    return {
        "cert": open(files["certificate"]).read(),
        "key": open(files["key"]).read(),
        "thumbprint": result["x5t#S256"],
        "entry": result["entry"],
    }


def pin_self_signed(name):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    from django.utils import timezone

    from sandbox.trust import authority as ca
    from sandbox.trust import certificates

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = timezone.now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    if name.startswith("unregistered"):
        return {"cert": pem.decode(), "key": ca.key_to_pem(key).decode()}
    entry, row = certificates.register_participant_certificate(name, pem)
    return {"cert": pem.decode(), "key": ca.key_to_pem(key).decode(), "thumbprint": row.thumbprint, "entry": entry.slug}


def create_resource(slug, resource):
    """Store a FHIR resource in a payer (used by the OAuth end-to-end test); returns its id."""
    from sandbox.fhirstore import store
    from tenants.context import tenant_scope
    from tenants.models import Tenant

    with tenant_scope(Tenant.objects.get(slug=slug)):
        stored, _ = store.create(resource["resourceType"], resource)
    return {"id": stored.fhir_id}


def p2p_pair(old_slug, new_slug, members=6, old_version="2.0"):
    """Seeded payers for a payer-to-payer exchange (new_slug is created unless it exists):
    new_slug's designed unique member had an earlier coverage at old_slug, a PDex old_version
    payer (sandbox.payer2payer.demo). Returns the member's Patient id."""
    from sandbox.payer2payer.demo import link_prior_coverage
    from sandbox.seeding.members import patient_id
    from sandbox.seeding.populate import seed_tenant
    from tenants.models import Tenant

    for slug in (old_slug, new_slug):
        if Tenant.objects.filter(slug=slug).exists():
            continue
        create_payer(slug, slug.replace("-", " ").title())
        seed_tenant(Tenant.objects.get(slug=slug), members=members, seed=3, validate=False)
    Tenant.objects.filter(slug=old_slug).update(pdex_version=old_version)
    link_prior_coverage(Tenant.objects.get(slug=new_slug), old_slug)
    return {"member": patient_id(0)}


def p2p_exchange(new_slug, target, member):
    """Run a payer-to-payer exchange in this process (as a worker would); returns the run."""
    from sandbox.payer2payer import exchange
    from sandbox.payer2payer.management.commands.run_exchange import find_entry
    from tenants.models import Tenant

    tenant = Tenant.objects.get(slug=new_slug)
    run = exchange.start_run(tenant, find_entry(target), member, enqueue=False)
    run = exchange.run_exchange(tenant, run.pk)
    return {
        "status": run.status,
        "summary": run.summary,
        "stored": run.stored,
        "unchanged": run.unchanged,
        "steps": run.steps,
    }


def p2p_received(slug, prefix):
    """{type: count} of the resources a payer holds under ids starting with prefix, and its Provenance."""
    from sandbox.fhirstore.models import Resource
    from tenants.context import tenant_scope
    from tenants.models import Tenant

    with tenant_scope(Tenant.objects.get(slug=slug)):
        rows = Resource.objects.filter(fhir_id__startswith=prefix, deleted=False)
        counts = {}
        for row in rows:
            counts[row.resource_type] = counts.get(row.resource_type, 0) + 1
        versions = sum(row.version_id for row in rows)
        provenance = [r.content for r in rows.filter(resource_type="Provenance", fhir_id__contains="transmitter")]
    return {"counts": counts, "versions": versions, "provenance": provenance}


def publish():
    from sandbox.trust import certificates

    certificates.publish_trust()
    return {}


OPERATIONS = {
    f.__name__: f
    for f in (
        create_payer,
        issue_client,
        negative,
        revoke,
        register_participant,
        pin_self_signed,
        create_resource,
        p2p_pair,
        p2p_exchange,
        p2p_received,
        publish,
    )
}


def main():
    django.setup()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        try:
            result = OPERATIONS[request["op"]](*request.get("args", []))
            # Outside any transaction on_commit hooks ran already; publish anyway so the test
            # never depends on that detail.
            from sandbox.trust import certificates

            certificates.publish_trust()
            print(json.dumps({"ok": True, "result": result}), flush=True)
        except Exception:
            print(json.dumps({"ok": False, "error": traceback.format_exc()}), flush=True)


if __name__ == "__main__":
    main()
