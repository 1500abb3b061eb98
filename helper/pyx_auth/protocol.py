"""Bazel's credential-helper protocol: the request it sends and the answers it accepts.

Bazel runs ``<helper> get``, writes ``{"uri": "..."}`` (Gson, HTML-safe escapes, no newline)
and closes stdin; it reads stdout after exit and accepts ``{"headers": {name: [values]}}``
with an optional ``"expires"`` that must match ``yyyy-MM-dd'T'HH:mm:ssXXX`` exactly: no
fractional seconds, no ``null``. See ``bazel-credential-helpers.md`` §2-§4. Pure functions.
"""

from __future__ import annotations

import time

from pyx_auth import fastjson
from pyx_auth.errors import UsageError
from pyx_auth.hosts import DEFAULT_PORTS, origin_of, split_uri

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyx_auth.hosts import Origin, SplitUri

MAX_REQUEST_KIB = 64
MAX_REQUEST_BYTES = MAX_REQUEST_KIB * 1024
EXPIRES_EARLY = 60
"""Seconds before the token's ``exp`` that ``expires`` names, so Bazel asks again in time."""
EMPTY_ANSWER = '{"headers":{}}'
MAX_EXPIRES_AHEAD = 365 * 24 * 3600
"""``expires`` is at most a year ahead: Bazel's ``CredentialCacheExpiry`` overflows on one more
than ~292 years ahead and then caches nothing. A longer-lived token is asked for again."""


class RequestUri:
    """The request's URI, split once: its text, its components, and its origin (None when it
    has no host, as ``mailto:`` has none)."""

    __slots__ = ("origin", "parts", "text")

    def __init__(self, text: str, parts: SplitUri, origin: Origin | None) -> None:
        self.text = text
        self.parts = parts
        self.origin = origin


def parse_request(data: bytes) -> RequestUri:
    """The ``uri`` of a ``get`` request, or ``UsageError`` saying what is wrong with it."""
    if len(data) > MAX_REQUEST_BYTES:
        raise UsageError(f"the request on stdin is larger than {MAX_REQUEST_KIB} KiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError("the request on stdin is not UTF-8") from None
    if not text.strip():
        raise UsageError('no request on stdin; Bazel sends {"uri": "https://..."}')
    try:
        request = fastjson.loads(text)
    except ValueError:
        raise UsageError(
            'the request on stdin is not JSON; expected {"uri": "https://..."}'
        ) from None
    if not isinstance(request, dict):
        raise UsageError('the request on stdin is not a JSON object; expected {"uri": "..."}')
    uri = request.get("uri")
    if not isinstance(uri, str):
        raise UsageError('the request has no "uri" string')
    parsed = absolute_uri(uri)
    if parsed is None:
        raise UsageError(
            'the request\'s "uri" is not an absolute URI; expected {"uri": "https://host/..."}'
        )
    return parsed


def is_absolute_uri(uri: str) -> bool:
    """Whether ``absolute_uri`` accepts ``uri``."""
    return absolute_uri(uri) is not None


def absolute_uri(uri: str) -> RequestUri | None:
    """``uri`` split, if it has a scheme, printable characters only, and a host for http(s).

    What ``java.net.URI`` can produce: no spaces or control characters, no backslash (which
    other parsers read as ``/``, moving the host), no lone surrogates.
    """
    if "\\" in uri or any(ord(char) < 0x21 or ord(char) == 0x7F for char in uri):
        return None
    try:
        uri.encode()
    except UnicodeEncodeError:  # a lone surrogate, sent as a \ud800 escape
        return None
    parts = split_uri(uri)
    if parts is None:
        return None
    origin = origin_of(parts)
    if origin is None and parts.scheme in DEFAULT_PORTS and not is_hostless(parts):
        return None
    return RequestUri(uri, parts, origin)


def is_hostless(parts: SplitUri) -> bool:
    """``https:///path``: what Bazel sends an unscoped helper for a URI without a host.

    Not a pyx URI; it gets no headers, as uv answers it.
    """
    return parts.scheme in DEFAULT_PORTS and parts.host == "" and parts.path.startswith("/")


def format_expires(timestamp: float) -> str:
    """UTC, whole seconds, ``Z``: the one form every Bazel version parses."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(timestamp)))


def format_answer(headers: dict[str, list[str]], expires_at: float | None = None) -> str:
    """One line of compact JSON; ``expires`` only when given, never ``null``."""
    answer: dict[str, object] = {"headers": headers}
    if expires_at is not None:
        answer["expires"] = format_expires(expires_at)
    return fastjson.dumps(answer)


def bearer_answer(token: str, token_exp: int | None, *, with_expires: bool, now: float) -> str:
    """The answer for a pyx URI; ``expires`` is ``exp`` minus a minute, never past ``exp``,
    and never more than ``MAX_EXPIRES_AHEAD`` from ``now``.

    A token with less than a minute left (a fixed ``PYX_AUTH_TOKEN``) expires in at most a
    second, never in the past, so Bazel asks again on its next download.
    """
    expires_at = None
    if with_expires and token_exp is not None:
        earliest = min(token_exp, int(now) + 1)
        expires_at = min(max(token_exp - EXPIRES_EARLY, earliest), int(now) + MAX_EXPIRES_AHEAD)
    return format_answer({"Authorization": [f"Bearer {token}"]}, expires_at)
