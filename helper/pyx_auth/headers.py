"""What may go into an HTTP header: the one rule for every token, key and refresh token."""

from __future__ import annotations


def is_single_word(value: object) -> bool:
    """A non-empty string of printable ASCII without spaces: what a token or API key looks like.

    Anything else cannot go into an HTTP header as is, and could smuggle in another header.
    """
    return (
        isinstance(value, str)
        and bool(value)
        and value.isascii()
        and value.isprintable()
        and " " not in value
    )
