"""Unverified JWT payload decoding, the way uv reads a pyx token's expiry.

The claims are only a cache hint (when to refresh); no authorisation decision rests on
them. Standard library only, because the Bazel cache hit reads ``exp`` on every call; the
payload is decoded here in Python rather than with ``base64`` (which imports ``re``, ~4 ms of
start-up) or ``binascii`` (a shared library to load, ~0.3 ms, for a 30 µs job).
"""

from __future__ import annotations

from pyx_auth import fastjson

ORG_CLAIM = "urn:pyx:org_name"
_BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_BASE64URL_VALUE = {char: value for value, char in enumerate(_BASE64URL)}


def b64url_decode(text: str) -> bytes | None:
    """Unpadded base64url (RFC 4648 §5) decoded as strictly as uv's decoder, or None.

    Any character outside the alphabet, an impossible length or non-zero unused trailing
    bits make it undecodable.
    """
    if len(text) % 4 == 1:
        return None
    number = 0
    try:
        for char in text:
            number = number << 6 | _BASE64URL_VALUE[char]
    except KeyError:
        return None
    spare_bits = len(text) * 6 % 8
    if number & ((1 << spare_bits) - 1):
        return None
    return (number >> spare_bits).to_bytes(len(text) * 6 // 8, "big")


def decode_claims(token: str) -> dict[str, object] | None:
    """The payload of a three-part JWT, or None when uv could not decode it either.

    Like uv, a padded payload (containing ``=``) counts as undecodable.
    """
    parts = token.split(".")
    if len(parts) != 3 or "=" in parts[1]:
        return None
    raw = b64url_decode(parts[1])
    if raw is None:
        return None
    try:
        claims = fastjson.loads(raw.decode())
    except ValueError:
        return None
    return claims if isinstance(claims, dict) else None


def expiry(token: str) -> int | None:
    """The token's ``exp`` in seconds since the epoch, or None when missing or malformed."""
    claims = decode_claims(token)
    if claims is None:
        return None
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return None
    if isinstance(exp, float) and not abs(exp) < float("inf"):  # JSON's Infinity or NaN
        return None
    return int(exp)

