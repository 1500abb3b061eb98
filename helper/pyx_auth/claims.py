"""Unverified JWT payload decoding, the way uv reads a pyx token's expiry.

The claims are only a cache hint (when to refresh); no authorisation decision rests on
them. Standard library only, because the Bazel cache hit reads ``exp`` on every call.
"""

from __future__ import annotations

import base64
import binascii
import json

ORG_CLAIM = "urn:pyx:org_name"


def decode_claims(token: str) -> dict[str, object] | None:
    """The payload of a three-part JWT, or None when uv could not decode it either.

    Like uv, a padded payload (containing ``=``) counts as undecodable.
    """
    parts = token.split(".")
    if len(parts) != 3 or "=" in parts[1]:
        return None
    payload = parts[1]
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        claims = json.loads(raw)
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
    return int(exp)
