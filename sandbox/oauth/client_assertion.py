"""
private_key_jwt client authentication (RFC 7523 §3, SMART Backend Services §"Authenticating
to the token endpoint"; spec note bulk-data-and-attribution.md §5.3).

Every check happens here, before a token is issued; no switch turns any of it off:
`iss` = `sub` = a client of this tenant registered for private_key_jwt, signed with RS384 or
ES384 by exactly one key of its registered JWKS (inline or by URL, `jku` equal to that URL),
`aud` naming this tenant's token endpoint, `exp` at most five minutes out, and a `jti` never
seen before (replay cache in the shared Django cache, so every process sees it).
"""

import hashlib
import ipaddress
import json
import socket
import time
from urllib.parse import urlsplit

import httpx
from django.core.cache import cache
from jwcrypto import jwk, jws
from jwcrypto.common import JWException

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ("RS384", "ES384")
KEY_TYPE = {"RS384": "RSA", "ES384": "EC"}
MAX_LIFETIME = 300
# Inferno signs with exp = now + 300 s; allow for its clock and ours.
CLOCK_SKEW = 60
JWKS_FETCH_TIMEOUT = 5.0
JWKS_MAX_BYTES = 256 * 1024
JWKS_CACHE_SECONDS = 300


class ClientAssertionInvalid(Exception):
    """The assertion is unacceptable; the message says why (it becomes error_description)."""


def _segments(assertion):
    parts = assertion.split(".")
    if len(parts) != 3:
        raise ClientAssertionInvalid("client_assertion is not a signed JWT (expected three dot-separated parts).")
    return parts


def _decode_part(part, what):
    from jwcrypto.common import base64url_decode

    try:
        return json.loads(base64url_decode(part))
    except (ValueError, TypeError):
        raise ClientAssertionInvalid(f"The JWT {what} is not base64url-encoded JSON.") from None


def unverified_claims(assertion):
    """Header and claims before the signature is checked (to find the client and its keys)."""
    header_part, payload_part, _ = _segments(assertion)
    header = _decode_part(header_part, "header")
    claims = _decode_part(payload_part, "payload")
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ClientAssertionInvalid("The JWT header and payload must be JSON objects.")
    return header, claims


def _refuse_unsafe_host(url):
    """A jwks_uri must not make the server fetch link-local addresses (cloud metadata services)."""
    host = urlsplit(url).hostname or ""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        raise ClientAssertionInvalid(f"The host of the client's jwks_uri {url} does not resolve.") from None
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if ip.is_link_local or ip.is_multicast or ip.is_unspecified:
            raise ClientAssertionInvalid(
                f"The client's jwks_uri {url} points at {ip}, which this server will not fetch."
            )


def fetch_jwks(url):
    """The JWKS published at a client's jwks_uri, cached briefly (SMART: not beyond Cache-Control)."""
    key = f"oauth:jwks:{url}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    _refuse_unsafe_host(url)
    try:
        with httpx.Client(timeout=JWKS_FETCH_TIMEOUT, follow_redirects=False) as client:
            with client.stream("GET", url, headers={"Accept": "application/json"}) as response:
                if response.status_code != 200:
                    raise ClientAssertionInvalid(f"The client's jwks_uri {url} answered HTTP {response.status_code}.")
                body = b""
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > JWKS_MAX_BYTES:
                        raise ClientAssertionInvalid(f"The JWKS at {url} is larger than {JWKS_MAX_BYTES} bytes.")
                cache_control = response.headers.get("Cache-Control", "")
    except httpx.HTTPError as exc:
        raise ClientAssertionInvalid(f"The client's jwks_uri {url} could not be fetched: {exc}.") from None
    text = body.decode("utf-8", "replace")
    seconds = JWKS_CACHE_SECONDS
    if "no-store" in cache_control or "no-cache" in cache_control:
        seconds = 0
    elif "max-age=" in cache_control:
        try:
            seconds = min(seconds, int(cache_control.split("max-age=")[1].split(",")[0]))
        except ValueError:
            pass
    if seconds > 0:
        cache.set(key, text, seconds)
    return text


def load_keyset(text, where):
    try:
        return jwk.JWKSet.from_json(text)
    except (JWException, ValueError, TypeError) as exc:
        raise ClientAssertionInvalid(f"The client's JWKS ({where}) is not a valid JWK Set: {exc}.") from None


def client_keyset(application, header):
    """The registered keys to verify with: the jku set (must be the registered URL), the
    registered jwks_uri, or the inline JWKS."""
    jku = header.get("jku")
    if jku:
        if not application.client_jwks_uri or jku != application.client_jwks_uri:
            raise ClientAssertionInvalid(
                f"The JWT header's jku {jku} is not the jwks_uri registered for client {application.client_id}."
            )
        return load_keyset(fetch_jwks(jku), jku)
    if application.client_jwks_uri:
        return load_keyset(fetch_jwks(application.client_jwks_uri), application.client_jwks_uri)
    if application.client_jwks:
        return load_keyset(application.client_jwks, "registered inline")
    raise ClientAssertionInvalid(f"Client {application.client_id} has no registered JWKS (jwks or jwks_uri).")


def select_key(keyset, alg, kid):
    if not kid:
        raise ClientAssertionInvalid("The JWT header has no kid; SMART requires it to pick the key.")
    wanted = KEY_TYPE[alg]
    matches = [k for k in keyset["keys"] if k.get("kid") == kid and k.get("kty") == wanted]
    if not matches:
        raise ClientAssertionInvalid(f"No {wanted} key with kid '{kid}' is registered for this client.")
    if len(matches) > 1:
        raise ClientAssertionInvalid(f"Several {wanted} keys with kid '{kid}' are registered; kids must be unique.")
    return matches[0]


def verify(assertion, *, load_client, audiences, now=None):
    """
    Verify a client assertion; returns (application, claims) or raises ClientAssertionInvalid.

    `load_client(client_id)` returns this tenant's Application or None; `audiences` are the
    token endpoint URLs the assertion may name in `aud`.
    """
    now = time.time() if now is None else now
    header, claims = unverified_claims(assertion)

    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise ClientAssertionInvalid(f"The JWT is signed with alg '{alg}'; this server accepts RS384 and ES384.")
    iss, sub = claims.get("iss"), claims.get("sub")
    if not iss or iss != sub:
        raise ClientAssertionInvalid("The JWT's iss and sub must both be the client_id.")
    application = load_client(iss)
    if application is None:
        raise ClientAssertionInvalid(f"No client '{iss}' is registered with this payer.")
    if application.token_endpoint_auth_method != "private_key_jwt":
        method = application.token_endpoint_auth_method or "client_secret_basic"
        raise ClientAssertionInvalid(
            f"Client {iss} is registered for {method}, not private_key_jwt; authenticate with that method."
        )

    key = select_key(client_keyset(application, header), alg, header.get("kid"))
    try:
        token = jws.JWS()
        token.deserialize(assertion)
        token.verify(key, alg=alg)
    except (JWException, ValueError) as exc:
        raise ClientAssertionInvalid(
            f"The JWT signature does not verify with key '{header.get('kid')}': {exc}."
        ) from None

    aud = claims.get("aud")
    aud_values = aud if isinstance(aud, list) else [aud]
    if not any(a in audiences for a in aud_values):
        raise ClientAssertionInvalid(f"The JWT's aud {aud!r} is not this token endpoint; use {audiences[0]}.")
    exp = claims.get("exp")
    if not isinstance(exp, int | float):
        raise ClientAssertionInvalid("The JWT has no numeric exp claim.")
    if exp < now - CLOCK_SKEW:
        raise ClientAssertionInvalid(f"The JWT expired {int(now - exp)} seconds ago.")
    if exp - now > MAX_LIFETIME + CLOCK_SKEW:
        raise ClientAssertionInvalid(
            f"The JWT's exp is {int(exp - now)} seconds away; SMART allows at most {MAX_LIFETIME}."
        )
    jti = claims.get("jti")
    if not jti or not isinstance(jti, str):
        raise ClientAssertionInvalid("The JWT has no jti claim.")
    replay_key = "oauth:jti:" + hashlib.sha256(f"{application.tenant_id}\0{iss}\0{jti}".encode()).hexdigest()
    if not cache.add(replay_key, 1, timeout=int(exp - now) + 2 * CLOCK_SKEW):
        raise ClientAssertionInvalid(f"The JWT with jti '{jti}' has been used before; make a new one per request.")
    return application, claims
