"""Where a pyx access token comes from, in one fixed order.

``SOURCES`` is the order, the same as uv 0.12.6's so that both tools pick the same
credential; the first source that *applies* (is configured) answers, and later ones are
not consulted even if it fails:

1. ``PYX_AUTH_TOKEN`` (then the deprecated ``UV_AUTH_TOKEN``): a ready token, used as given.
2. ``PYX_API_KEY`` (then the deprecated ``UV_API_KEY``): exchanged for a token, cached in
   uv's store under the key's digest.
3. Trusted Access, only when a CI identity is present (GitHub Actions, Buildkite, GitLab CI,
   or ``PYX_OIDC_TOKEN``/``_FILE``): a fresh OIDC token exchanged for a pyx token for the
   workspace, cached per workspace. pyx-auth only; uv 0.12.6 has no Trusted Access.
4. An API key in the system keyring, stored by ``pyx-auth login --api-key``: found through
   a marker file in the store, and the keyring is asked only when a token must be minted.
5. uv's OAuth login, ``<store>/tokens.json``: refreshed with its single-use refresh token.

Each source is a small class with one contract: ``applies`` says whether it is configured
(raising ``ConfigError`` for a set-but-empty variable), ``cached`` returns what env or disk
hold without any network, and ``renew`` gets a token that is fresh for the margin asked
for, under the store's lock. Source modules import only the standard library at import
time, so the Bazel fast path can ask them for cached tokens.
"""

from __future__ import annotations

import time

from pyx_auth import claims
from pyx_auth.errors import CredentialError, NetworkError, NoCredentialsError
from pyx_auth.settings import REFRESH_MARGIN
from pyx_auth.store import lock_file_for

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from pyx_auth.settings import Settings
    from pyx_auth.store import Store


class Token:
    """An access token and what is known about it; ``str()`` never shows the value."""

    __slots__ = ("expires_at", "source", "value")

    def __init__(self, value: str, source: str) -> None:
        self.value = value
        self.source = source
        self.expires_at = claims.expiry(value)

    def __repr__(self) -> str:
        return f"<Token from {self.source}, exp={self.expires_at}>"

    def fresh(self, now: float, margin: float) -> bool:
        """Valid for ``margin`` more seconds; a token without ``exp`` is stale, as in uv."""
        return self.expires_at is not None and self.expires_at - now >= margin


class Source:
    """One place a token can come from. Subclasses override all but ``renews_offline``."""

    name = "source"
    renews_offline = False
    """True when ``renew`` needs neither network nor lock, so the fast path may call it."""

    def applies(self, settings: Settings) -> bool:
        raise NotImplementedError

    def cached(self, settings: Settings) -> Token | None:
        raise NotImplementedError

    def renew(self, settings: Settings, margin: float, deadline: float) -> Token:
        raise NotImplementedError

    def describe(self, settings: Settings) -> str:
        """One line for ``status`` and the no-credentials message; never a secret."""
        raise NotImplementedError


REFRESH_FLOOR = 2.0
"""Seconds of the budget kept for the request itself, however long the lock took."""


def single_flight(
    settings: Settings,
    *,
    store: Store,
    file_name: str,
    margin: float,
    deadline: float,
    read: Callable[[], Token | None],
    fetch: Callable[[], Token],
) -> Token:
    """Fetch a token once however many processes ask: lock, re-read, fetch only if still stale.

    ``file_name`` is the token file; its uv lock file is taken. ``fetch`` must write the store.
    """
    floor = min(REFRESH_FLOOR, settings.timeout / 2)
    timeout = min(settings.lock_timeout, max(deadline - time.monotonic() - floor, 0.0))
    with store.lock(lock_file_for(file_name), timeout, holder_patience=settings.lock_timeout):
        token = read()
        if token is not None and token.fresh(time.time(), margin):
            return token
        if deadline - time.monotonic() < floor:
            # A refresh cut short may spend a single-use refresh token and lose its successor.
            raise NetworkError(
                "the wait for another process's refresh used up the time budget"
                " (PYX_AUTH_TIMEOUT); try again"
            )
        return fetch()


def minutes(seconds: float) -> str:
    """``12 min``: a remaining or past lifetime for messages."""
    return f"{max(seconds, 0) / 60:.0f} min"


def _sources() -> tuple[Source, ...]:
    from pyx_auth.sources.api_key import ApiKeySource
    from pyx_auth.sources.env_token import EnvTokenSource
    from pyx_auth.sources.keyring_key import KeyringKeySource
    from pyx_auth.sources.oauth_store import OAuthStoreSource
    from pyx_auth.sources.trusted_access import TrustedAccessSource

    return (
        EnvTokenSource(),
        ApiKeySource(),
        TrustedAccessSource(),
        KeyringKeySource(),
        OAuthStoreSource(),
    )


SOURCES = _sources()


def active_source(settings: Settings) -> Source | None:
    """The first source that applies, or None."""
    for source in SOURCES:
        if source.applies(settings):
            return source
    return None


def no_credentials(settings: Settings) -> NoCredentialsError:
    """The error for "nothing configured", listing what was checked and the next step."""
    checked = "; ".join(source.describe(settings) for source in SOURCES)
    return NoCredentialsError(
        f"no pyx credentials: set PYX_API_KEY or run `pyx-auth login` (checked: {checked})"
    )


def resolve_token(
    settings: Settings, margin: float, deadline: float, *, offline: bool = False
) -> Token | None:
    """A token valid for ``margin`` more seconds from the first source that applies.

    With ``offline`` (the Bazel fast path) return None instead of touching network or locks.
    """
    source = active_source(settings)
    if source is None:
        if offline:
            return None
        raise no_credentials(settings)
    token = source.cached(settings)
    if token is not None and token.fresh(time.time(), margin):
        return token
    if offline and not source.renews_offline:
        return None
    token = source.renew(settings, margin, deadline)
    if margin > REFRESH_MARGIN and not token.fresh(time.time(), margin):
        # Asked for more than the usual margin (--min-ttl, PYX_AUTH_NO_EXPIRES): say so rather
        # than hand out a token that dies early. pyx's tokens live about an hour.
        left = (
            "an unknown time"
            if token.expires_at is None
            else minutes(token.expires_at - time.time())
        )
        raise CredentialError(
            f"the token from {token.source} is valid for {left}, less than the"
            f" {minutes(margin)} asked for; ask for less (--min-ttl)"
        )
    return token
