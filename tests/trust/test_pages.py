import json

import pytest

from sandbox.trust.models import Certificate, DirectoryEntry

pytestmark = pytest.mark.django_db


def test_it_lists_a_payers_certificates_for_members(member_client, tenant):
    response = member_client.get("/payers/acme/certificates/")
    assert response.status_code == 200
    assert b"Acme Health CA" in response.content
    assert Certificate.objects.filter(tenant=tenant, purpose="client").exists()


def test_it_hides_a_payers_certificates_from_other_tenants(member_client, other_tenant):
    from django.test import Client

    assert member_client.get("/payers/beta/certificates/").status_code == 404
    cert = Certificate.objects.filter(tenant=other_tenant).first()
    if cert is None:
        from sandbox.trust import certificates

        certificates.ensure_tenant_credentials(other_tenant)
        cert = Certificate.objects.filter(tenant=other_tenant).first()
    assert member_client.get(f"/payers/beta/certificates/{cert.pk}/key.pem").status_code == 404
    assert member_client.get(f"/payers/acme/certificates/{cert.pk}/key.pem").status_code == 404
    assert member_client.post(f"/payers/beta/certificates/{cert.pk}/revoke/").status_code == 404
    assert Client().get("/payers/acme/certificates/").status_code == 302


def test_it_issues_negative_certificates_and_downloads_keys(member_client, tenant):
    member_client.get("/payers/acme/certificates/")
    response = member_client.post("/payers/acme/certificates/negative/", {"defect": "expired"})
    assert response.status_code == 302
    cert = Certificate.objects.get(tenant=tenant, defect="expired")
    key = member_client.get(f"/payers/acme/certificates/{cert.pk}/key.pem")
    assert key.content.startswith(b"-----BEGIN PRIVATE KEY")
    p12 = member_client.get(f"/payers/acme/certificates/{cert.pk}/bundle.p12")
    assert p12["Content-Type"] == "application/x-pkcs12"


def test_it_revokes_from_the_dashboard(member_client, tenant):
    member_client.get("/payers/acme/certificates/")
    cert = Certificate.objects.get(tenant=tenant, purpose="client")
    member_client.post(f"/payers/acme/certificates/{cert.pk}/revoke/")
    cert.refresh_from_db()
    assert cert.is_revoked


def test_it_links_the_certificates_page_from_the_payer_page(member_client, tenant):
    assert b"/payers/acme/certificates/" in member_client.get("/payers/acme/").content


def test_it_registers_a_participant_from_the_form(member_client, user):
    response = member_client.post(
        "/directory/participants/new/",
        {
            "name": "Outside Payer",
            "endpoint_url": "https://outside.example/fhir",
            "naic": "99999",
            "method": "generate",
        },
    )
    entry = DirectoryEntry.objects.get(name="Outside Payer")
    assert response.status_code == 302 and entry.created_by == user
    cert = entry.certificates.get()
    assert member_client.get(f"/directory/entries/{entry.slug}/certificates/{cert.pk}/key.pem").status_code == 200


def test_it_certifies_a_csr_without_seeing_the_key(member_client):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "csr payer")]))
        .sign(key, hashes.SHA256())
    )
    pem = csr.public_bytes(serialization.Encoding.PEM).decode()
    member_client.post("/directory/participants/new/", {"name": "CSR Payer", "method": "csr", "pem": pem})
    cert = DirectoryEntry.objects.get(name="CSR Payer").certificates.get()
    assert not cert.has_key
    issued = x509.load_der_x509_certificate(bytes(cert.der))
    assert issued.public_key().public_numbers() == key.public_key().public_numbers()


def test_it_rejects_a_bad_upload_with_a_message(member_client):
    response = member_client.post(
        "/directory/participants/new/", {"name": "Bad", "method": "certificate", "pem": "nope"}
    )
    assert response.status_code == 200 and b"not an X.509 certificate" in response.content
    assert not DirectoryEntry.objects.filter(name="Bad").exists()


def test_it_lets_only_the_creator_manage_a_participant(member_client, other_user, client):
    member_client.post("/directory/participants/new/", {"name": "Mine", "method": "generate"})
    entry = DirectoryEntry.objects.get(name="Mine")
    cert = entry.certificates.get()
    client.force_login(other_user)
    assert client.get(f"/directory/entries/{entry.slug}/certificates/{cert.pk}/key.pem").status_code == 404
    assert client.post(f"/directory/entries/{entry.slug}/certificates/{cert.pk}/revoke/").status_code == 404


def test_register_participant_command_writes_files_and_prints_json(tmp_path, db, capsys):
    from cryptography.hazmat.primitives.serialization import pkcs12
    from django.core.management import call_command

    call_command(
        "register_participant", "Command Payer", "--out", str(tmp_path), "--endpoint", "https://cmd.example/fhir"
    )
    result = json.loads(capsys.readouterr().out)
    assert result["entry"] == "command-payer"
    files = result["files"]
    assert open(files["key"], "rb").read().startswith(b"-----BEGIN PRIVATE KEY")
    key, cert, extra = pkcs12.load_key_and_certificates(
        open(files["pkcs12"], "rb").read(), result["pkcs12Password"].encode()
    )
    assert cert is not None and key is not None and len(extra) == 1
    assert (tmp_path / "command-payer-key.pem").stat().st_mode & 0o077 == 0


def test_export_and_import_commands_round_trip(tmp_path, tenant, capsys):
    from django.core.management import call_command

    call_command("export_directory", str(tmp_path))
    exported = tmp_path / "bundles" / "mtls-bundle-acme.json"
    assert json.loads(exported.read_text())["id"] == "acme"
    from tests.trust.conftest import FIXTURES

    call_command("import_directory", str(FIXTURES / "directory-bundle_pdex-payer-payer_diamond_2023-01.json"))
    assert DirectoryEntry.objects.filter(slug="diamondonyxhealth2").exists()


def test_it_shows_the_pkcs12_password_only_to_the_participants_creator(member_client, other_user):
    from cryptography.hazmat.primitives.serialization import pkcs12
    from django.test import Client

    from sandbox.trust.views import pkcs12_password

    member_client.post("/directory/participants/new/", {"name": "P12 Payer", "method": "generate"})
    entry = DirectoryEntry.objects.get(name="P12 Payer")
    cert = entry.certificates.get()
    password = pkcs12_password(cert)
    assert password.encode() in member_client.get(f"/directory/entries/{entry.slug}/").content
    data = member_client.get(f"/directory/entries/{entry.slug}/certificates/{cert.pk}/bundle.p12").content
    key, _cert, _chain = pkcs12.load_key_and_certificates(data, password.encode())
    assert key is not None
    stranger = Client()
    stranger.force_login(other_user)
    page = stranger.get(f"/directory/entries/{entry.slug}/")
    assert page.status_code == 200 and password.encode() not in page.content
