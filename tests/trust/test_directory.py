import json
import zipfile
from io import BytesIO

import pytest

from sandbox.trust import directory
from sandbox.trust.models import Certificate, DirectoryEntry
from tests.trust.conftest import FIXTURES

pytestmark = pytest.mark.django_db

DIAMOND = "directory-bundle_pdex-payer-payer_diamond_2023-01.json"
RUBY = "directory-bundle_pdex-payer-payer_ruby_2023-01.json"
ONYX = "directory-bundle_onyx-Payer-Payer_2022-12_directory-query-urls.json"
CAREEVOLUTION = "directory-bundle_pdex-payer-payer_careevolution_pem-in-base64.json"
SKELETON = "directory-bundle_rdieterle2-Payer-Payer_2022-08.json"
IG_BUNDLE = "pdex-ig_Bundle-example-mtls-endpoint-bundle.json"


def load(name):
    return (FIXTURES / name).read_bytes()


def test_it_imports_base64_der_and_base64_pem_certificates():
    diamond = directory.import_bundle(DIAMOND, load(DIAMOND))
    care = directory.import_bundle(CAREEVOLUTION, load(CAREEVOLUTION))
    assert diamond.slug == "diamondonyxhealth2" and diamond.name == "DiamondOnyxHealth"
    assert care.slug == "careevolution"
    assert diamond.certificates.get().subject.startswith("1.2.840.113549.1.9.1=support@safhir.io,CN=server")
    assert care.certificates.get().subject == "CN=fhir.careevolution.com"
    assert care.endpoint_url.startswith("https://")


def test_it_imports_the_directory_query_extension_urls():
    entry = directory.import_bundle(ONYX, load(ONYX))
    assert entry.certificates.count() == 1


def test_it_round_trips_the_example_bundles_through_export():
    for name in (DIAMOND, CAREEVOLUTION):
        directory.import_bundle(name, load(name))
    files = directory.export_files()
    for name in (DIAMOND, CAREEVOLUTION):
        assert json.loads(files[f"bundles/{name}"]) == json.loads(load(name))


def test_it_exports_a_zip_that_imports_back(tenant):
    directory.import_bundle(DIAMOND, load(DIAMOND))
    archive = directory.export_zip()
    names = zipfile.ZipFile(BytesIO(archive)).namelist()
    assert "payer-directory/bundles/mtls-bundle-acme.json" in names
    assert f"payer-directory/bundles/{DIAMOND}" in names

    DirectoryEntry.objects.filter(kind="imported").delete()
    files = [f for f in directory.files_from_upload("export.zip", archive) if DIAMOND in f[0]]
    report = directory.import_files(files)
    assert report.ok and report.imported[0][1].slug == "diamondonyxhealth2"


def test_it_rejects_a_duplicate_identity_naming_the_entry_and_importing_nothing():
    directory.import_bundle(DIAMOND, load(DIAMOND))
    before = (DirectoryEntry.objects.count(), Certificate.objects.count())
    with pytest.raises(directory.BundleRejected) as excinfo:
        directory.import_bundle(RUBY, load(RUBY))
    message = str(excinfo.value)
    assert "rubicononyxhealth3" in message and "duplicate identity" in message
    assert "DiamondOnyxHealth" in message
    assert (DirectoryEntry.objects.count(), Certificate.objects.count()) == before


def test_it_rejects_an_organization_id_already_in_use(tenant):
    bundle = json.loads(load(DIAMOND))
    bundle["entry"][0]["resource"]["id"] = "acme"
    bundle["entry"][1]["resource"]["managingOrganization"] = {"reference": "Organization/acme"}
    with pytest.raises(directory.BundleRejected, match="Organization 'acme': duplicate identity.*Acme Health"):
        directory.import_bundle("acme.json", json.dumps(bundle))


def test_it_treats_an_older_bundle_of_the_same_organization_as_an_update():
    """The onyx repository's 2022 file and the 2023 copy describe the same payer and certificate."""
    directory.import_bundle(DIAMOND, load(DIAMOND))
    entry = directory.import_bundle(ONYX, load(ONYX))
    assert DirectoryEntry.objects.get(slug="diamondonyxhealth2") == entry
    assert entry.certificates.count() == 1


def test_it_replaces_an_imported_entry_when_the_same_bundle_is_imported_again():
    first = directory.import_bundle(DIAMOND, load(DIAMOND))
    second = directory.import_bundle(DIAMOND, load(DIAMOND))
    assert DirectoryEntry.objects.filter(slug="diamondonyxhealth2").count() == 1
    assert second.pk != first.pk


@pytest.mark.parametrize(
    ("name", "why"),
    [
        (SKELETON, "no Endpoint entry"),
        (IG_BUNDLE, "Endpoint 'Diamond-mtls-endpoint2' has no usable certificate"),
    ],
)
def test_it_rejects_bundles_without_a_usable_certificate(name, why):
    with pytest.raises(directory.BundleRejected, match=why):
        directory.import_bundle(name, load(name))
    assert not DirectoryEntry.objects.exists()


def test_it_rejects_a_malformed_certificate_naming_the_endpoint_and_extension():
    bundle = json.loads(load(DIAMOND))
    endpoint = bundle["entry"][1]["resource"]
    for ext in endpoint["extension"]:
        for sub in ext.get("extension", []):
            if sub["url"] == "certificate":
                sub["valueBase64Binary"] = sub["valueBase64Binary"][:200]
    with pytest.raises(directory.BundleRejected) as excinfo:
        directory.import_bundle("broken.json", json.dumps(bundle))
    message = str(excinfo.value)
    assert "Endpoint 'diamond-mtls-endpoint2'" in message and "malformed certificate" in message
    assert not DirectoryEntry.objects.exists()


def test_it_rejects_a_placeholder_that_is_not_a_certificate():
    endpoint = json.loads((FIXTURES / "pdex-ig_Endpoint-diamond-mtls-endpoint1.json").read_text())
    with pytest.raises(directory.BundleRejected, match="is not an X.509 certificate"):
        directory.endpoint_certificates(endpoint)


def test_it_reports_each_file_separately():
    report = directory.import_files([(DIAMOND, load(DIAMOND)), (RUBY, load(RUBY)), ("x.json", b"{")])
    assert [n for n, _ in report.imported] == [DIAMOND]
    assert [n for n, _ in report.rejected] == [RUBY, "x.json"]


def test_it_lists_every_payer_with_a_signed_pdex_bundle(tenant, other_tenant):
    slugs = {e.slug for e in directory.entries()}
    assert {"acme", "beta"} <= slugs
    bundle = directory.entry_bundle(DirectoryEntry.objects.get(slug="acme"))
    assert bundle["type"] == "collection" and bundle["timestamp"]
    assert bundle["meta"]["profile"] == [directory.MTLS_BUNDLE_PROFILE]
    assert directory.verify_bundle_signature(bundle)
    tampered = dict(bundle, timestamp="2020-01-01T00:00:00Z")
    assert not directory.verify_bundle_signature(tampered)
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds == ["Organization", "Organization", "Endpoint"]
    endpoint = bundle["entry"][2]["resource"]
    signed = [x for x in endpoint["extension"] if x["url"] == directory.SIGNED_OBJECT]
    assert len(signed) == 2  # server and client certificates
    # What we publish imports elsewhere: the certificates parse from both slots.
    assert len(directory.endpoint_certificates(endpoint)) == 4


def test_it_publishes_naic_npi_and_tin_identifiers(credentials):
    DirectoryEntry.objects.filter(pk=credentials.pk).update(naic="12345", npi="1234567893", tin="12-3456789")
    credentials.refresh_from_db()
    payer = directory.entry_bundle(credentials)["entry"][0]["resource"]
    systems = {i["system"]: i["value"] for i in payer["identifier"]}
    assert systems[directory.NAIC_SYSTEM] == "12345"
    assert systems[directory.NPI_SYSTEM] == "1234567893"
    assert systems[directory.TIN_SYSTEM] == "12-3456789"


def test_it_lets_only_the_importer_replace_an_imported_entry(user, other_user):
    directory.import_bundle(DIAMOND, load(DIAMOND), created_by=user)
    with pytest.raises(directory.BundleRejected, match="imported by another user"):
        directory.import_bundle(DIAMOND, load(DIAMOND), created_by=other_user)
    assert directory.import_bundle(DIAMOND, load(DIAMOND), created_by=user).created_by == user


def test_it_gives_payers_stable_synthetic_identifiers(credentials):
    from sandbox.trust.certificates import _luhn_digit

    assert len(credentials.naic) == 5 and credentials.tin.startswith("99-")
    assert len(credentials.npi) == 10
    assert _luhn_digit("80840" + credentials.npi[:9]) == credentials.npi[9]
    assert _luhn_digit("80840" + "123456789") == "3"  # CMS's worked example: 1234567893
    found = directory.search("Organization", _query(f"{directory.NPI_SYSTEM}|{credentials.npi}"))
    assert [o["id"] for o in found] == ["acme"]


def _query(identifier):
    from django.http import QueryDict

    q = QueryDict(mutable=True)
    q["identifier"] = identifier
    return q
