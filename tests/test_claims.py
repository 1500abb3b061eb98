"""Reading a token's expiry without verifying it, exactly as strictly as uv does."""

from __future__ import annotations

import base64
import json

from pyx_auth.claims import decode_claims, expiry


def _jwt(payload: object, *, pad: bool = False) -> str:
    body = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
    if not pad:
        body = body.rstrip("=")
    return f"eyJhbGciOiJIUzI1NiJ9.{body}.c2lnbmF0dXJl"


def test_expiry_reads_exp() -> None:
    assert expiry(_jwt({"exp": 1_900_000_000, "sub": "x"})) == 1_900_000_000


def test_expiry_missing_exp_is_none() -> None:
    assert expiry(_jwt({"sub": "x"})) is None


def test_expiry_non_numeric_exp_is_none() -> None:
    assert expiry(_jwt({"exp": "soon"})) is None
    assert expiry(_jwt({"exp": True})) is None


def test_decode_claims_rejects_padded_payload_like_uv() -> None:
    payload = {"exp": 1_900_000_000, "a": "b"}
    padded = _jwt(payload, pad=True)
    assert "=" in padded
    assert decode_claims(padded) is None


def test_decode_claims_rejects_wrong_segment_count_and_garbage() -> None:
    assert decode_claims("a.b") is None
    assert decode_claims("a.b.c.d") is None
    assert decode_claims("x.!!!.y") is None
    assert decode_claims("x.bm90IGpzb24.y") is None  # "not json"


def test_decode_claims_rejects_non_object_payload() -> None:
    assert decode_claims(_jwt([1, 2])) is None
