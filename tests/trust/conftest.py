import pytest
from cryptography.hazmat.primitives import serialization

from sandbox.trust import certificates

FIXTURES = __import__("pathlib").Path(__file__).parent / "fixtures"


class FakeTLSSocket:
    """Stands in for gunicorn's ssl.SSLSocket in environ["gunicorn.socket"]."""

    def __init__(self, der):
        self.der = der

    def getpeercert(self, binary_form=False):
        assert binary_form
        return self.der


@pytest.fixture
def credentials(tenant):
    """Acme's directory entry with its CA, server and client certificates."""
    return certificates.ensure_tenant_credentials(tenant)


@pytest.fixture
def client_cert(credentials):
    return credentials.certificates.get(purpose="client")


@pytest.fixture
def over_tls(client):
    """over_tls(der) -> extra environ making the Django test client look like an mTLS connection."""

    def environ(der):
        return {"gunicorn.socket": FakeTLSSocket(bytes(der) if der is not None else None)}

    return environ


def pem_of(cert_row):
    from sandbox.trust.authority import to_pem

    return to_pem(cert_row.der)


def key_pem(key):
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
