"""
Private keys at rest.

Keys are stored as PKCS#8 DER sealed with AES-256-GCM under a key derived from SECRET_KEY by
HKDF-SHA256. AES-GCM rather than PKCS#8 BestAvailableEncryption because the associated data
binds each blob to the row it belongs to (the certificate's thumbprint), so a key copied into
another row does not decrypt, and because decrypting costs microseconds instead of a password
KDF per use. Changing SECRET_KEY makes the stored keys unreadable: reissue certificates then
(the CAs and certificates are re-created on demand).
"""

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

VERSION = b"k1"
_INFO = b"sandbox.trust private-key encryption v1"


class KeyUnavailable(Exception):
    """A stored key cannot be decrypted (SECRET_KEY changed, or the blob belongs to another row)."""


def _aead():
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"sandbox.trust", info=_INFO).derive(
        settings.SECRET_KEY.encode()
    )
    return AESGCM(key)


def seal(private_key, bound_to):
    """Encrypt `private_key` for storage in the row identified by `bound_to` (a thumbprint)."""
    plain = private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    nonce = os.urandom(12)
    return VERSION + nonce + _aead().encrypt(nonce, plain, bound_to.encode())


def unseal(blob, bound_to):
    """Decrypt a key stored by `seal` for the same `bound_to`."""
    blob = bytes(blob)
    if not blob.startswith(VERSION):
        raise KeyUnavailable("No private key is stored for this certificate.")
    nonce, sealed = blob[2:14], blob[14:]
    try:
        plain = _aead().decrypt(nonce, sealed, bound_to.encode())
    except InvalidTag:
        raise KeyUnavailable(
            "The stored private key cannot be decrypted (was SECRET_KEY changed?). Reissue the certificate."
        ) from None
    return serialization.load_der_private_key(plain, password=None)
