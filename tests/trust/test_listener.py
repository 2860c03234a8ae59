"""
Real TLS handshakes against a gunicorn listener started by the test (sandbox.trust.gunicorn_tls,
`--cert-reqs 1`), while a controller process changes trust in the listener's database.
"""

import socket
import time
from urllib.parse import quote

import pytest

from sandbox.trust.models import Certificate
from tests.trust.listener import Listener, whoami

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def listener():
    running = Listener().start()
    try:
        running.payer = running.call("create_payer", "acme", "Acme Health")
        yield running
    finally:
        running.stop()


def test_it_recognises_a_directory_certificate_as_its_entry(listener):
    status, body = whoami(listener, listener.payer)
    assert status == 200, body
    assert body["verified"] is True
    assert body["identity"]["entry"] == "acme"
    assert body["identity"]["tenant"] == "acme"
    assert body["identity"]["x5t#S256"] == listener.payer["thumbprint"]


def test_it_serves_tenant_paths_over_tls(listener):
    with listener.client(listener.payer) as client:
        response = client.get("/t/acme/")
    assert response.status_code == 200 and response.json()["slug"] == "acme"


def test_it_lets_a_client_without_a_certificate_reach_the_app(listener):
    status, body = whoami(listener)
    assert status == 401 and body["reason"] == "no-certificate"


def test_it_never_turns_an_unknown_certificate_into_an_identity(listener):
    unknown = listener.call("pin_self_signed", "unregistered self-signed")
    status, detail = whoami(listener, unknown)
    assert status == "handshake", detail


@pytest.mark.parametrize("defect", [d.value for d in Certificate.Defect if d])
def test_it_refuses_every_kind_of_bad_certificate(listener, defect):
    bad = listener.call("negative", "acme", defect)
    status, body = whoami(listener, bad)
    # OpenSSL refuses some at the handshake (unknown CA, validity, purpose); the app refuses the rest.
    expected = {"revoked": (401, "revoked")}.get(defect, ("handshake", None))
    assert status == expected[0], body
    if status != "handshake":
        assert body["verified"] is False and body["reason"] == expected[1], body


def test_it_refuses_a_revoked_certificate_from_the_next_request_on(listener):
    fresh = listener.call("issue_client", "acme")
    with listener.client(fresh) as client:
        status, body = whoami(listener, client=client)
        assert status == 200, body
        listener.call("revoke", fresh["thumbprint"])
        # Same keep-alive connection: the app checks the certificate on every request.
        status, body = whoami(listener, client=client)
        assert (status, body["reason"]) == (401, "revoked")
    status, body = whoami(listener, fresh)
    assert status == 401 and body["reason"] == "revoked"


def test_it_refuses_an_expired_certificate_from_the_next_request_on(listener):
    short = listener.call("issue_client", "acme", 3)
    with listener.client(short) as client:
        status, body = whoami(listener, client=client)
        assert status == 200, body
        time.sleep(4)
        status, body = whoami(listener, client=client)
        assert status == 401 and body["reason"] == "expired"
    status, _ = whoami(listener, short)
    assert status in ("handshake", 401)


def test_it_does_not_let_session_resumption_skip_the_checks(listener):
    fresh = listener.call("issue_client", "acme")
    context = listener.ssl_context(fresh)

    def get(session=None):
        with socket.create_connection(("127.0.0.1", listener.port)) as raw:
            with context.wrap_socket(raw, server_hostname="localhost", session=session) as tls:
                tls.sendall(b"GET /directory/mtls/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                data = b""
                while chunk := tls.recv(65536):
                    data += chunk
                return data.split(b" ", 2)[1], tls.session, tls.session_reused

    status, session, _ = get()
    assert status == b"200"
    listener.call("revoke", fresh["thumbprint"])
    status, _, _reused = get(session)
    assert status == b"401"


def test_it_accepts_a_participant_registered_while_it_runs(listener):
    participant = listener.call("register_participant", "Late Joiner Health")
    status, body = whoami(listener, participant)
    assert status == 200, body
    assert body["identity"]["entry"] == participant["entry"]
    assert body["identity"]["tenant"] is None


def test_it_accepts_a_pinned_certificate_uploaded_while_it_runs(listener):
    pinned = listener.call("pin_self_signed", "Pinned Payer")
    status, body = whoami(listener, pinned)
    assert status == 200, body
    assert body["identity"]["entry"] == pinned["entry"]
    listener.call("revoke", pinned["thumbprint"])
    # A revoked pin leaves the trust bundle: the next handshake fails.
    status, _ = whoami(listener, pinned)
    assert status == "handshake"


def test_it_ignores_a_forged_proxy_header_in_socket_mode(listener):
    forged = quote(listener.payer["cert"])
    status, body = whoami(listener, None, **{"X-SSL-Client-Cert": forged})
    assert status == 401 and body["reason"] == "no-certificate"


@pytest.fixture(scope="module")
def proxied():
    """The plain-HTTP app behind a (pretend) nginx: MTLS_SOURCE=proxy, only 127.0.0.2 trusted."""
    running = Listener({"MTLS_SOURCE": "proxy", "MTLS_TRUSTED_PROXIES": "127.0.0.2"}, tls=False).start()
    try:
        running.payer = running.call("create_payer", "acme", "Acme Health")
        yield running
    finally:
        running.stop()


def test_it_ignores_a_proxy_header_from_an_untrusted_address(proxied):
    forged = quote(proxied.payer["cert"])
    status, body = whoami(proxied, None, **{"X-SSL-Client-Cert": forged})
    assert status == 401 and body["reason"] == "no-certificate"


def test_it_honours_the_proxy_header_from_a_trusted_proxy(proxied):
    import httpx

    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=f"http://127.0.0.1:{proxied.port}", transport=transport) as client:
        response = client.get("/directory/mtls/", headers={"X-SSL-Client-Cert": quote(proxied.payer["cert"])})
    assert response.status_code == 200, response.text
    assert response.json()["identity"]["entry"] == "acme"
