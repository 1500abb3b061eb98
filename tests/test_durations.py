"""Durations as users type them for --min-ttl."""

from __future__ import annotations

import argparse

import pytest

from pyx_auth.durations import parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("900", 900), ("90s", 90), ("30m", 1800), ("1h", 3600), ("1h30m", 5400), (" 2H ", 7200)],
)
def test_parse_duration_accepts_common_forms(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "1d", "-5", "1.5h", "m"])
def test_parse_duration_rejects_other_text(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration(text)
