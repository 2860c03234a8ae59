from urllib.parse import quote

import pytest

from sandbox.trust import certificates
from sandbox.trust.models import Certificate
from tests.trust.conftest import pem_of

pytestmark = pytest.mark.django_db

WHOAMI = "/directory/mtls/"


def test_it_reads_the_certificate_from_the_gunicorn_socket(client, client_cert, over_tls):
    response = client.get(WHOAMI, **over_tls(client_cert.der))
    assert response.status_code == 200
    body = response.json()
    assert body["verified"] is True
    assert body["identity"]["entry"] == "acme"
    assert body["identity"]["tenant"] == "acme"
    assert body["identity"]["x5t#S256"] == client_cert.thumbprint


def test_it_sets_unforgeable_meta_keys(rf, client_cert, over_tls):
    from sandbox.trust.middleware import ClientCertMiddleware

    seen = {}

    def view(request):
        seen.update({k: v for k, v in request.META.items() if k.startswith("mtls.")})
        seen["mtls"] = request.mtls
        return None

    request = rf.get("/", **over_tls(client_cert.der), **{"mtls.x5t_s256": "forged", "mtls.verify": "SUCCESS"})
    ClientCertMiddleware(view)(request)
    assert seen["mtls.x5t_s256"] == client_cert.thumbprint
    assert seen["mtls.verify"] == "SUCCESS"
    assert seen["mtls.cert_der"] == bytes(client_cert.der)

    seen.clear()
    forged = rf.get("/", **{"mtls.x5t_s256": "forged", "mtls.verify": "SUCCESS"})
    ClientCertMiddleware(view)(forged)
    assert "mtls.x5t_s256" not in seen
    assert seen["mtls.verify"] == "NONE"


def test_it_answers_401_without_a_certificate(client, db):
    response = client.get(WHOAMI)
    assert response.status_code == 401
    assert response.json()["reason"] == "no-certificate"


def test_it_ignores_a_forged_proxy_header_in_socket_mode(client, client_cert):
    header = quote(pem_of(client_cert).decode())
    response = client.get(WHOAMI, HTTP_X_SSL_CLIENT_CERT=header)
    assert response.status_code == 401


def test_it_honours_the_proxy_header_only_from_a_trusted_proxy(client, client_cert, settings):
    settings.MTLS_SOURCE = "proxy"
    settings.MTLS_TRUSTED_PROXIES = ["10.0.0.5"]
    header = quote(pem_of(client_cert).decode())
    trusted = client.get(WHOAMI, HTTP_X_SSL_CLIENT_CERT=header, REMOTE_ADDR="10.0.0.5")
    assert trusted.status_code == 200
    assert trusted.json()["identity"]["entry"] == "acme"

    untrusted = client.get(WHOAMI, HTTP_X_SSL_CLIENT_CERT=header, REMOTE_ADDR="192.0.2.9")
    assert untrusted.status_code == 401
    assert untrusted.json()["reason"] == "no-certificate"


def test_it_strips_the_proxy_header_before_the_view(rf, client_cert, settings):
    from sandbox.trust.middleware import ClientCertMiddleware

    settings.MTLS_SOURCE = "proxy"
    settings.MTLS_TRUSTED_PROXIES = []
    seen = {}
    request = rf.get("/", HTTP_X_SSL_CLIENT_CERT=quote(pem_of(client_cert).decode()), REMOTE_ADDR="192.0.2.9")
    ClientCertMiddleware(lambda r: seen.update(r.META))(request)
    assert "HTTP_X_SSL_CLIENT_CERT" not in seen


def test_it_reports_a_malformed_proxy_certificate(client, settings, db):
    settings.MTLS_SOURCE = "proxy"
    settings.MTLS_TRUSTED_PROXIES = ["10.0.0.5"]
    response = client.get(WHOAMI, HTTP_X_SSL_CLIENT_CERT="not%20a%20pem", REMOTE_ADDR="10.0.0.5")
    assert response.json()["reason"] == "malformed"


@pytest.mark.parametrize("defect", [d for d, _ in certificates.NEGATIVE_KINDS])
def test_it_refuses_bad_certificates_at_the_app(client, tenant, credentials, over_tls, defect):
    cert, _ = certificates.issue_negative_certificate(tenant, defect)
    response = client.get(WHOAMI, **over_tls(cert.der))
    assert response.status_code == 401
    assert response.json()["verified"] is False


def test_require_directory_identity_raises_with_the_reason(rf, tenant, credentials, over_tls):
    from sandbox.trust.identity import MtlsIdentityRequired, require_directory_identity
    from sandbox.trust.middleware import ClientCertMiddleware

    cert, _ = certificates.issue_negative_certificate(tenant, Certificate.Defect.REVOKED)
    captured = {}

    def view(request):
        try:
            require_directory_identity(request)
        except MtlsIdentityRequired as exc:
            captured["reason"] = exc.reason

    ClientCertMiddleware(view)(rf.get("/", **over_tls(cert.der)))
    assert captured["reason"] == "revoked"
