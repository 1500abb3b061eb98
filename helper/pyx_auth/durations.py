"""Durations on the command line: ``900``, ``90s``, ``30m``, ``1h``, ``1h30m``."""

from __future__ import annotations

import argparse
import re

_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?")


def parse_duration(text: str) -> int:
    """Seconds in ``900``, ``90s``, ``30m``, ``1h`` or ``1h30m``; argparse ``type=``."""
    match = _DURATION.fullmatch(text.strip().lower())
    if not text.strip() or match is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration; use seconds (900) or 90s, 30m, 1h, 1h30m"
        )
    hours, minutes, seconds = (int(group or 0) for group in match.groups())
    return hours * 3600 + minutes * 60 + seconds
