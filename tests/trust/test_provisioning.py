import pytest

from sandbox.trust import authority as ca
from sandbox.trust import certificates
from sandbox.trust.models import Certificate, CertificateAuthority, DirectoryEntry
from sandbox.trust.tls_server import TRUST_BUNDLE
from tenants import provisioning

pytestmark = pytest.mark.django_db


def test_it_issues_certificates_when_a_payer_is_created(settings):
    tenant, job = provisioning.create_payer(name="Gamma Health", slug="gamma")
    provisioning.provision(tenant, job.pk)
    entry = DirectoryEntry.objects.get(tenant=tenant)
    purposes = set(Certificate.objects.filter(tenant=tenant).values_list("purpose", flat=True))
    assert purposes == {"server", "client"}
    authority = CertificateAuthority.objects.get(kind="tenant", tenant=tenant)
    assert ca.to_pem(authority.certificate_der) in (settings.TLS_DIR / TRUST_BUNDLE).read_bytes()
    assert entry.endpoint_url.endswith("/t/gamma/fhir")


def test_it_keeps_the_certificates_when_provisioning_is_retried(settings):
    tenant, job = provisioning.create_payer(name="Gamma Health", slug="gamma")
    provisioning.provision(tenant, job.pk)
    before = set(Certificate.objects.filter(tenant=tenant).values_list("thumbprint", flat=True))
    certificates.issue_certificates_step(tenant, job, lambda *a, **k: None)
    after = set(Certificate.objects.filter(tenant=tenant).values_list("thumbprint", flat=True))
    assert before == after


def test_it_drops_a_deleted_payers_trust(settings, django_capture_on_commit_callbacks):
    tenant, job = provisioning.create_payer(name="Gamma Health", slug="gamma")
    provisioning.provision(tenant, job.pk)
    pem = ca.to_pem(CertificateAuthority.objects.get(tenant=tenant).certificate_der)
    with django_capture_on_commit_callbacks(execute=True):
        provisioning.delete_payer(tenant)
    assert not DirectoryEntry.objects.filter(slug="gamma").exists()
    assert not Certificate.objects.filter(tenant_id=tenant.pk).exists()
    assert pem not in (settings.TLS_DIR / TRUST_BUNDLE).read_bytes()
