"""Unverified JWT payload decoding, the way uv reads a pyx token's expiry.

The claims are only a cache hint (when to refresh); no authorisation decision rests on
them. Standard library only, because the Bazel cache hit reads ``exp`` on every call; and
``binascii`` rather than ``base64``, which imports ``re`` (~4 ms of start-up).
"""

from __future__ import annotations

import binascii
import math

from pyx_auth import fastjson

ORG_CLAIM = "urn:pyx:org_name"
_URLSAFE_TO_STANDARD = str.maketrans("-_", "+/")


def decode_claims(token: str) -> dict[str, object] | None:
    """The payload of a three-part JWT, or None when uv could not decode it either.

    Like uv, a padded payload (containing ``=``) counts as undecodable.
    """
    parts = token.split(".")
    if len(parts) != 3 or "=" in parts[1]:
        return None
    payload = parts[1]
    try:
        padded = payload.translate(_URLSAFE_TO_STANDARD) + "=" * (-len(payload) % 4)
        claims = fastjson.loads(binascii.a2b_base64(padded).decode())
    except (binascii.Error, ValueError):
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
    if isinstance(exp, float) and not math.isfinite(exp):  # "exp": Infinity parses as JSON
        return None
    return int(exp)
