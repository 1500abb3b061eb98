"""Where a pyx access token comes from, in one fixed order; the entry point is ``resolve_token``.

    resolve_token(settings: Settings, margin: float, deadline: float, *,
                  workspace: str | None = None, uri: RequestUri | None = None,
                  offline: bool = False) -> Token | None

A token valid for ``margin`` more seconds (``settings.REFRESH_MARGIN`` normally, more for
``--min-ttl``) from the first source that is configured, renewing it under the store's lock
if needed, within ``deadline`` (``time.monotonic()`` seconds). ``workspace`` is what the
caller was told (``--workspace``); else Trusted Access takes the one ``uri`` (the Bazel
request, already parsed) names, else ``PYX_WORKSPACE``. ``offline=True`` (the Bazel cache
hit) returns None instead of touching network or locks; otherwise the answer is a
``Token`` or a ``PyxAuthError``. ``active`` gives the configured ``Credential`` itself
(``status`` uses it), ``no_credentials`` the error for none.

``SOURCES`` is the order, the same as uv 0.12.6's so that both tools pick the same
credential; the first source that is configured answers, and later ones are not consulted
even if it fails:

1. ``PYX_AUTH_TOKEN`` (then the deprecated ``UV_AUTH_TOKEN``): a ready token, used as given.
2. ``PYX_API_KEY`` (then the deprecated ``UV_API_KEY``): exchanged for a token, cached in
   uv's store under the key's digest.
3. Trusted Access, only when a CI identity is present (GitHub Actions, Buildkite, GitLab CI,
   or ``PYX_OIDC_TOKEN``/``_FILE``): a fresh OIDC token exchanged for a pyx token for the
   workspace, cached per workspace. pyx-auth only; uv 0.12.6 has no Trusted Access.
4. An API key in the system keyring, stored by ``pyx-auth login --api-key``: found through
   a marker file in the store, and the keyring is asked only when a token must be minted.
5. uv's OAuth login, ``<store>/tokens.json``: refreshed with its single-use refresh token.

A new source is one module with a ``SOURCE`` object (the contract is in ``sources.base``)
and its name in ``SOURCES``; ``--help`` lists ``sources()`` as they are. Source modules import
only the standard library at import time, so the Bazel cache hit can ask them.
"""

from __future__ import annotations

import time

from pyx_auth.errors import CredentialError, NoCredentialsError
from pyx_auth.settings import REFRESH_MARGIN
from pyx_auth.sources.base import Lookup, Token, minutes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    from pyx_auth.protocol import RequestUri
    from pyx_auth.settings import Settings
    from pyx_auth.sources.base import Credential, Source

__all__ = ["SOURCES", "Lookup", "Token", "active", "no_credentials", "resolve_token", "sources"]

SOURCES = ("env_token", "api_key", "trusted_access", "keyring_key", "oauth_store")
"""The modules of ``pyx_auth.sources``, in order; each has a ``SOURCE``. Imported as the
chain reaches them, so an API-key cache hit never imports the CI or login modules."""


def sources() -> Iterator[Source]:
    """The sources in their order."""
    for name in SOURCES:
        source: Source = __import__(f"pyx_auth.sources.{name}", fromlist=["SOURCE"]).SOURCE
        yield source


def active(lookup: Lookup) -> Credential | None:
    """The credential of the first source that is configured, or None."""
    for source in sources():
        credential = source.bind(lookup)
        if credential is not None:
            lookup.settings.trace(f"source: {credential.describe()}")
            return credential
        lookup.settings.trace(f"skipped {source.name}: {source.absent(lookup)}")
    return None


def no_credentials(lookup: Lookup) -> NoCredentialsError:
    """The error for "nothing configured", listing what was checked and the next step."""
    checked = "; ".join(source.absent(lookup) for source in sources())
    return NoCredentialsError(
        f"no pyx credentials: set PYX_API_KEY or run `pyx-auth login` (checked: {checked})"
    )


def resolve_token(
    settings: Settings,
    margin: float,
    deadline: float,
    *,
    workspace: str | None = None,
    uri: RequestUri | None = None,
    offline: bool = False,
) -> Token | None:
    """A token valid for ``margin`` more seconds from the first source that is configured.

    With ``offline`` (the Bazel fast path) return None instead of touching network or locks.
    """
    lookup = Lookup(settings, workspace, uri)
    credential = active(lookup)
    if credential is None:
        if offline:
            return None
        raise no_credentials(lookup)
    token = credential.cached()
    now = time.time()
    if token is not None and token.fresh(now, margin):
        settings.trace(f"cache hit: {token.left(now)} left")
        return token
    if settings.debug:
        state = "nothing cached" if token is None else f"only {token.left(now)} left"
        settings.trace(f"cache miss: {state}, {minutes(margin)} wanted")
    if offline and not credential.renews_offline:
        return None
    token = credential.renew(margin, deadline, token)
    if margin > REFRESH_MARGIN and not token.fresh(time.time(), margin):
        # Asked for more than the usual margin (--min-ttl, PYX_AUTH_NO_EXPIRES): say so rather
        # than hand out a token that dies early. pyx's tokens live about an hour.
        raise CredentialError(
            f"the token from {token.source} is valid for {token.left(time.time())}, less than"
            f" the {minutes(margin)} asked for; ask for less (--min-ttl)"
        )
    return token
