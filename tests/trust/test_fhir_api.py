import pytest

from sandbox.trust import directory
from tests.trust.conftest import FIXTURES

pytestmark = pytest.mark.django_db

DIAMOND = "directory-bundle_pdex-payer-payer_diamond_2023-01.json"


@pytest.fixture
def populated(tenant, other_tenant):
    directory.import_bundle(DIAMOND, (FIXTURES / DIAMOND).read_bytes())


def ids(response):
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["type"] == "searchset"
    return [e["resource"]["id"] for e in body["entry"]]


def test_it_serves_bundles_per_payer(client, populated):
    assert set(ids(client.get("/directory/fhir/Bundle"))) >= {"acme", "beta", "example-mtls-endpoint-bundle"}
    response = client.get("/directory/fhir/Bundle/acme")
    assert response.status_code == 200 and response.json()["type"] == "collection"


def test_it_searches_organizations_by_name_and_identifier(client, populated):
    assert ids(client.get("/directory/fhir/Organization?name=acme")) == ["acme"]
    assert ids(client.get("/directory/fhir/Organization?name=diamond")) == ["diamondonyxhealth2"]
    assert ids(client.get("/directory/fhir/Organization?identifier=diamondonyxhealth2")) == ["diamondonyxhealth2"]


def test_it_searches_endpoints_by_organization_name_and_status(client, populated):
    assert ids(client.get("/directory/fhir/Endpoint?organization.name=DiamondOnyx")) == ["diamond-mtls-endpoint2"]
    assert ids(client.get("/directory/fhir/Endpoint?organization.name=Beta")) == ["beta-endpoint"]
    assert "acme-endpoint" in ids(client.get("/directory/fhir/Endpoint?status=active"))
    assert ids(client.get("/directory/fhir/Endpoint?status=off")) == []


def test_it_answers_unknown_parameters_and_ids_with_operation_outcomes(client, populated):
    response = client.get("/directory/fhir/Endpoint?bogus=1")
    assert response.status_code == 400 and response.json()["resourceType"] == "OperationOutcome"
    assert client.get("/directory/fhir/Endpoint/nope").status_code == 404
    assert client.get("/directory/fhir/Patient").status_code == 404


def test_it_shows_the_human_directory(client, populated):
    response = client.get("/directory/")
    assert response.status_code == 200
    assert b"Acme Health" in response.content and b"DiamondOnyxHealth" in response.content


def test_it_serves_ca_certificates_and_crls(client, credentials):
    from cryptography import x509

    from sandbox.trust import certificates

    authority = certificates.tenant_authority(credentials.tenant)
    assert client.get(f"/directory/ca/{authority.pk}.pem").content.startswith(b"-----BEGIN CERTIFICATE")
    crl = client.get(f"/directory/ca/{authority.pk}.crl")
    assert crl["Content-Type"] == "application/pkix-crl"
    x509.load_der_x509_crl(crl.content)


def test_it_downloads_the_export_zip(client, populated):
    response = client.get("/directory/export.zip")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"


def test_it_imports_uploaded_bundles_for_signed_in_users(member_client, db):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    upload = SimpleUploadedFile(DIAMOND, (FIXTURES / DIAMOND).read_bytes(), content_type="application/json")
    assert Client().post("/directory/import/", {"bundle": upload}).status_code == 302  # to the login page
    upload.seek(0)
    response = member_client.post("/directory/import/", {"bundle": upload}, follow=True)
    assert b"imported DiamondOnyxHealth" in response.content
    ruby = "directory-bundle_pdex-payer-payer_ruby_2023-01.json"
    upload = SimpleUploadedFile(ruby, (FIXTURES / ruby).read_bytes())
    response = member_client.post("/directory/import/", {"bundle": upload}, follow=True)
    assert b"rejected, nothing imported" in response.content and b"duplicate identity" in response.content


def test_it_reads_an_imported_bundle_by_its_entry_slug(client, populated):
    response = client.get("/directory/fhir/Bundle/diamondonyxhealth2")
    assert response.status_code == 200
    assert response.json()["id"] == "example-mtls-endpoint-bundle"


def test_it_leaves_payers_being_created_out_of_the_directory(client, tenant):
    from tenants.models import Tenant

    Tenant.objects.filter(pk=tenant.pk).update(status=Tenant.Status.FAILED)
    assert ids(client.get("/directory/fhir/Organization?name=acme")) == []
