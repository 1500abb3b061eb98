"""Answer one Bazel ``get`` request, with or without leaving the machine.

The same function serves both paths of ``pyx-auth get``: ``cli.main`` first calls it with
``offline=True`` (the cache hit: read the request, the environment and one small file, and
answer; standard library only), and only if that steps aside (returns None) with
``offline=False``, which may refresh under the lock, call pyx and raise errors for the user.
Both paths therefore pick the same source by construction. Non-pyx URIs get what uv's helper
gives them: a credential from uv's ``credentials.toml``, or no headers.
"""

from __future__ import annotations

import time

from pyx_auth import snapshot
from pyx_auth.errors import PyxAuthError, UsageError
from pyx_auth.hosts import is_pyx
from pyx_auth.protocol import EMPTY_ANSWER, bearer_answer, format_answer, is_hostless, parse_request
from pyx_auth.settings import NO_EXPIRES_MIN_TTL, REFRESH_MARGIN, Settings
from pyx_auth.sources import resolve_token

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from pyx_auth.protocol import RequestUri


def answer(uri: RequestUri, settings: Settings, *, offline: bool) -> str | None:
    """The JSON answer for ``uri``; None only when ``offline`` and the network is needed."""
    if is_hostless(uri.parts):
        return EMPTY_ANSWER
    origin = uri.origin
    if origin is None or not is_pyx(origin, settings):
        settings.trace(f"{origin or uri.parts.scheme + ':'} is not a pyx host: uv's answer")
        return uv_credentials_answer(uri.text, settings, offline=offline)
    if uri.parts.userinfo is not None:
        raise UsageError(
            "the URI names a user; pyx-auth does not attach pyx tokens to URIs with userinfo"
        )
    settings.trace(f"{origin} is a pyx host")
    margin = NO_EXPIRES_MIN_TTL if settings.no_expires else REFRESH_MARGIN
    deadline = time.monotonic() + settings.timeout
    token = resolve_token(settings, margin, deadline, uri=uri, offline=offline)
    if token is None:
        return None
    text = bearer_answer(
        token.value, token.expires_at, with_expires=not settings.no_expires, now=time.time()
    )
    snapshot.offer(settings, token, margin, text)  # lets the Bazel stub repeat it, shell only
    return text


def uv_credentials_answer(uri: str, settings: Settings, *, offline: bool) -> str:
    """uv's answer for a non-pyx URI. Offline, uv's file lock is tried once, not waited for."""
    from pyx_auth import uv_credentials  # not needed by the pyx cache hit

    wait = 0.0 if offline else min(settings.lock_timeout, settings.timeout)
    header = uv_credentials.authorization(uri, settings.environ, wait)
    return EMPTY_ANSWER if header is None else format_answer({"Authorization": [header]})


def answer_offline(data: bytes, environ: Mapping[str, str]) -> str | None:
    """The cache-hit answer, or None to let the full path decide (and explain any error).

    Warnings and the debug trace are the full path's to print, so it steps aside for them.
    """
    try:
        settings = Settings(environ)
        if settings.warnings or settings.debug:
            return None
        return answer(parse_request(data), settings, offline=True)
    except PyxAuthError:
        return None
