"""uv's store digest: SeaHash vectors checked against the Rust build (pyx-and-uv.md §8)."""

from __future__ import annotations

import pytest

from pyx_auth.seahash import seahash, uv_digest


def test_seahash_reference_vector() -> None:
    assert seahash(b"to be or not to be") == 1988685042348123509


@pytest.mark.parametrize(
    ("text", "digest"),
    [
        ("https://api.pyx.dev/", "3859a629b26fda96"),
        ("https://api.pyx.dev", "c0adcf5ae007ffe1"),
        ("http://localhost:8000/", "2ad478e2fd671e80"),
        ("https://astral-sh-staging-api.pyx.dev/", "9ac656de4808e019"),
        ("sk-pyx-test", "7d547ab2e8ca1a67"),
        ("", "0bab66a7fafb426b"),
        ("a", "c03b703334de0815"),
    ],
)
def test_uv_digest_matches_uv(text: str, digest: str) -> None:
    assert uv_digest(text) == digest
