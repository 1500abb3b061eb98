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
from pyx_auth.hosts import has_userinfo, is_pyx_origin, parse_origin
from pyx_auth.protocol import EMPTY_ANSWER, bearer_answer, format_answer, parse_request
from pyx_auth.settings import NO_EXPIRES_MIN_TTL, REFRESH_MARGIN, Settings
from pyx_auth.sources import resolve_token
from pyx_auth.sources.trusted_access import workspace_from_uri

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping


def is_pyx_uri(uri: str, settings: Settings) -> bool:
    """Whether a pyx token may be attached to ``uri`` under these settings."""
    origin = parse_origin(uri)
    return origin is not None and is_pyx_origin(
        origin, settings.api, settings.cdn_domain, settings.extra_pyx_hosts
    )


def answer(uri: str, settings: Settings, *, offline: bool) -> str | None:
    """The JSON answer for ``uri``; None only when ``offline`` and the network is needed."""
    if not is_pyx_uri(uri, settings):
        return uv_credentials_answer(uri, settings, offline=offline)
    if has_userinfo(uri):
        raise UsageError(
            "the URI names a user; pyx-auth does not attach pyx tokens to URIs with userinfo"
        )
    if settings.workspace is None:  # Trusted Access tokens are per workspace
        settings.workspace = workspace_from_uri(uri, settings)
    margin = NO_EXPIRES_MIN_TTL if settings.no_expires else REFRESH_MARGIN
    deadline = time.monotonic() + settings.timeout
    token = resolve_token(settings, margin, deadline, offline=offline)
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
    """The cache-hit answer, or None to let the full path decide (and explain any error)."""
    try:
        settings = Settings(environ)
        if settings.warnings:
            return None
        return answer(parse_request(data), settings, offline=True)
    except PyxAuthError:
        return None
