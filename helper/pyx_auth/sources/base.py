"""The contract every token source keeps, and the one refresh template the cached ones share.

A source is a module-level object with a ``name``, a one-line ``summary`` for ``--help``,
``bind(lookup)`` and ``absent(lookup)``. ``bind`` returns None when the source is not
configured, else a ``Credential`` bound to what it found (the variable's value, the store
file its token is cached in), so nothing is located twice and no method depends on another
having run first. A credential whose token lives in one store file subclasses
``StoredToken`` and writes only ``read`` and ``fetch``; the lock, the re-read and the time
floor are here, once. Standard library only, for the Bazel cache hit.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod

from pyx_auth import claims
from pyx_auth.errors import ConfigError, NetworkError, PyxAuthError
from pyx_auth.settings import REFRESH_MARGIN
from pyx_auth.store import Store, lock_file_for

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol

    from pyx_auth.protocol import RequestUri
    from pyx_auth.settings import Settings

    class Source(Protocol):
        """One place a token can come from; one object per ``sources/<name>.py``."""

        name: str
        summary: str
        """What it is, for the list of sources in ``pyx-auth --help``."""

        def bind(self, lookup: Lookup) -> Credential | None:
            """The configured credential, or None; ``ConfigError`` for a set-but-bad value."""

        def absent(self, lookup: Lookup) -> str:
            """Why it is not configured ("PYX_API_KEY not set"); never a secret."""

    class Credential(Protocol):
        """A configured source, bound to its value and store file."""

        renews_offline: bool
        """True when ``renew`` needs neither network nor lock, so the fast path may call it."""

        def cached(self) -> Token | None:
            """What env or disk hold, without network or lock."""

        def renew(self, margin: float, deadline: float, stale: Token | None) -> Token:
            """A token fresh for ``margin`` seconds; ``stale`` is what ``cached`` gave."""

        def describe(self) -> str:
            """One line for ``status`` and the trace; never a secret."""

        def status(self, deadline: float) -> tuple[dict[str, object], PyxAuthError | None]:
            """Extra ``status`` fields, and what makes the credential unusable (or None)."""


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


def single_word_variable(found: tuple[str, str], what: str, fix: str) -> tuple[str, str]:
    """A credential variable's (name, value), stripped; ``ConfigError`` unless one word.

    ``what`` names what it should hold ("a pyx token"), ``fix`` how to get that right.
    """
    variable, value = found[0], found[1].strip()
    if not value:
        raise ConfigError(f"{variable} is set but empty; unset it or set it to {what}")
    if not is_single_word(value):
        raise ConfigError(
            f"{variable} contains spaces, control or non-ASCII characters; {what} is one word"
            f" ({fix})"
        )
    return variable, value


REFRESH_FLOOR = 2.0
"""Seconds of the budget kept for the request itself, however long the lock took."""


class Token:
    """An access token and what is known about it; ``str()`` never shows the value."""

    __slots__ = ("expires_at", "source", "value")

    def __init__(self, value: str, source: str, expires: int | None = None) -> None:
        self.value = value
        self.source = source
        exp = claims.expiry(value)
        if expires is not None:
            exp = expires if exp is None else min(exp, expires)
        self.expires_at = exp
        """The JWT's ``exp``, or the earlier ``expires`` pyx gave with it."""

    def __repr__(self) -> str:
        return f"<Token from {self.source}, exp={self.expires_at}>"

    def fresh(self, now: float, margin: float) -> bool:
        """Valid for ``margin`` more seconds; a token without ``exp`` is stale, as in uv."""
        return self.expires_at is not None and self.expires_at - now >= margin

    def left(self, now: float) -> str:
        """Its remaining life for messages and the trace: ``12 min``, or ``an unknown time``."""
        return "an unknown time" if self.expires_at is None else minutes(self.expires_at - now)


def minutes(seconds: float) -> str:
    """``12 min``: a remaining or past lifetime for messages."""
    return f"{max(seconds, 0) / 60:.0f} min"


class Lookup:
    """One request for a token: the settings, the workspace asked for, the request URI if
    any, and the store folder, located at most once (an env token never needs it)."""

    __slots__ = ("_store", "settings", "uri", "workspace")

    def __init__(
        self, settings: Settings, workspace: str | None = None, uri: RequestUri | None = None
    ) -> None:
        self.settings = settings
        self.workspace = workspace
        """``--workspace``; Trusted Access falls back to the URI's, then ``PYX_WORKSPACE``."""
        self.uri = uri
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store.for_settings(self.settings)
        return self._store


class StoredToken(ABC):
    """A credential whose token is cached in one store file, renewed under its uv lock file."""

    renews_offline = False

    def __init__(self, lookup: Lookup, file_name: str) -> None:
        self.settings = lookup.settings
        self.store = lookup.store
        self.file_name = file_name

    @abstractmethod
    def read(self) -> Token | None:
        """The cached token, or None if the file is missing or holds nothing usable."""

    @abstractmethod
    def fetch(self, deadline: float) -> Token:
        """Get a new token from pyx and write the store; called under the lock only."""

    @abstractmethod
    def describe(self) -> str: ...

    def cached(self) -> Token | None:
        return self.read()

    def status(self, deadline: float) -> tuple[dict[str, object], PyxAuthError | None]:
        return {}, None

    def renew(self, margin: float, deadline: float, stale: Token | None) -> Token:
        """Fetch once however many processes ask: lock, re-read, fetch only if still needed.

        Under the lock, a token another process wrote meanwhile (not ``stale``) is used as
        long as it has not expired: the usual margin is a reason to refresh early, not to
        refresh again. A longer minimum (``--min-ttl``) must still be met.
        """
        settings = self.settings
        floor = min(REFRESH_FLOOR, settings.timeout / 2)
        timeout = min(settings.lock_timeout, deadline - time.monotonic() - floor)  # <= 0: one try
        lock = lock_file_for(self.file_name)
        started = time.monotonic()
        with self.store.lock(lock, timeout, holder_patience=settings.lock_timeout):
            settings.trace(
                f"took the lock {self.store.path(lock)} after {time.monotonic() - started:.2f} s",
            )
            token = self.read()
            now = time.time()
            if token is not None and (
                token.fresh(now, margin) or (_changed(token, stale) and _usable(token, margin, now))
            ):
                settings.trace(f"another process renewed it: {token.left(now)} left")
                return token
            if deadline - time.monotonic() < floor:
                # A refresh cut short may spend a single-use refresh token and lose its successor.
                raise NetworkError(
                    "the wait for another process's refresh used up the time budget"
                    " (PYX_AUTH_TIMEOUT); try again"
                )
            return self.fetch(deadline)


def _changed(token: Token, stale: Token | None) -> bool:
    return stale is None or token.value != stale.value


def _usable(token: Token, margin: float, now: float) -> bool:
    """Not expired, and only the usual margin asked for (not an explicit longer minimum)."""
    return margin <= REFRESH_MARGIN and token.fresh(now, 0.0)
