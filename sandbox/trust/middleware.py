"""
ClientCertMiddleware: the presented client certificate becomes `request.mtls`.

Two sources, chosen by settings.MTLS_SOURCE (tech-notes §1):
- "socket": the embedded gunicorn TLS listener; the certificate is read from the TLS socket
  gunicorn puts in the WSGI environ (`gunicorn.socket`), so nothing a client sends in a
  header is consulted.
- "proxy": a TLS-terminating proxy (nginx `ssl_verify_client optional_no_ca`) forwards the
  URL-encoded PEM in X-SSL-Client-Cert. The header is honoured only when the connection comes
  from an address in MTLS_TRUSTED_PROXIES.
In both modes the forwarded-certificate headers are removed from request.META afterwards, so
no later code can be fooled by a client that sent them itself.
"""

import logging
from urllib.parse import unquote_to_bytes

from django.conf import settings

from sandbox.trust import identity

logger = logging.getLogger(__name__)

PROXY_HEADERS = ("HTTP_X_SSL_CLIENT_CERT", "HTTP_X_SSL_CLIENT_VERIFY")


def _from_socket(request):
    sock = request.META.get("gunicorn.socket")
    getpeercert = getattr(sock, "getpeercert", None)
    if getpeercert is None:
        return None
    try:
        return getpeercert(binary_form=True)
    except (OSError, ValueError):
        return None


def _from_proxy(request):
    remote = request.META.get("REMOTE_ADDR", "")
    raw = request.META.get("HTTP_X_SSL_CLIENT_CERT", "")
    if not raw:
        return None, None
    if remote not in settings.MTLS_TRUSTED_PROXIES:
        logger.warning("Ignoring X-SSL-Client-Cert from %s, which is not in MTLS_TRUSTED_PROXIES", remote)
        return None, None
    pem = unquote_to_bytes(raw.strip())
    try:
        return identity.certificate_from_pem(pem), None
    except ValueError:
        return None, identity.ClientCertificate(presented=True, reason=identity.MALFORMED)


class ClientCertMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        meta = request.META
        # A WSGI server never produces these keys from headers, but an app-level test client
        # or a misbehaving server could; only this middleware may set them.
        for key in identity.META_KEYS:
            meta.pop(key, None)

        failed = None
        if settings.MTLS_SOURCE == "proxy":
            der, failed = _from_proxy(request)
        else:
            der = _from_socket(request)
        for header in PROXY_HEADERS:
            meta.pop(header, None)

        mtls = failed or identity.verify_client_certificate(der)
        request.mtls = mtls
        if mtls.verified:
            meta[identity.META_VERIFY] = "SUCCESS"
            meta[identity.META_THUMBPRINT] = mtls.thumbprint
            meta[identity.META_CERT_DER] = mtls.der
            meta[identity.META_ENTRY_ID] = mtls.entry.pk
        elif mtls.presented:
            meta[identity.META_VERIFY] = f"FAILED:{mtls.reason}"
        else:
            meta[identity.META_VERIFY] = "NONE"
        return self.get_response(request)
