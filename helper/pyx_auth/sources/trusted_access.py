"""Trusted Access: the CI job's OIDC identity, exchanged for a pyx token for one workspace.

Applies when a CI identity is present (``oidc.present``: environment lookups only) and no
higher source is configured. The workspace is ``--workspace`` or the request URI's, else
``PYX_WORKSPACE``. Every exchange gets a fresh OIDC token (GitHub's live five minutes, and an
index may refuse a reused one, as PyPI does); only the minted pyx token is cached:

    <store>/trusted-access-<workspace>.json   {"token": ..., "expires": <epoch or null>,
                                               "identity": <digest of the CI job>}
    <store>/trusted-access-<workspace>.lock   taken while minting (single flight)

``identity`` is a digest of what tells this CI job from another (``provider.identity``), so a
self-hosted runner that keeps its home folder never hands one job's token to the next. The
exchange itself (``PyxClient.mint_trusted_access``) and its endpoint and audience, taken from
the closed uv PR #18254, are unconfirmed, hence ``PYX_TRUSTED_ACCESS_PATH`` and
``PYX_TRUSTED_ACCESS_AUDIENCE``.
"""

from __future__ import annotations

from pyx_auth import claims, oidc
from pyx_auth.errors import ConfigError, PyxAuthError
from pyx_auth.hosts import parse_origin, split_uri
from pyx_auth.seahash import uv_digest
from pyx_auth.settings import (
    DEFAULT_TRUSTED_ACCESS_AUDIENCE,
    DEFAULT_TRUSTED_ACCESS_PATH,
    PYX_TRUSTED_ACCESS_AUDIENCE,
    PYX_TRUSTED_ACCESS_PATH,
    PYX_WORKSPACE,
)
from pyx_auth.sources import Source, Token, single_flight
from pyx_auth.store import Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyx_auth.oidc import Provider
    from pyx_auth.settings import Settings

SOURCE_NAME = "Trusted Access"
FILE_PREFIX = "trusted-access-"
MAX_WORKSPACE = 100
_WORKSPACE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
WORKSPACE_RULE = "letters, digits, '-', '_' and '.', starting with a letter or digit"
CDN_FILE_HOSTS = ("files", "files-static")
"""``https://files.<cdn>/<workspace>/...``"""
CDN_VIEW_HOSTS = ("views", "views-static")
"""``https://views.<cdn>/v1/<shard>/<workspace>/<view>/...``"""


def is_workspace(name: str) -> bool:
    """A workspace name that is safe in a file name: it can never leave the store folder."""
    return (
        0 < len(name) <= MAX_WORKSPACE
        and name[0].isalnum()
        and name.isascii()
        and _WORKSPACE_CHARS.issuperset(name)
    )


def workspace_from_uri(uri: str, settings: Settings) -> str | None:
    """The workspace a pyx URI belongs to, or None when the URI does not name one.

    ``{api}/simple/<workspace>/...`` (also on the static API host), ``files.<cdn>/<workspace>/``
    and ``views.<cdn>/v1/<shard>/<workspace>/``. The caller has checked it is a pyx URI.
    """
    origin, parts = parse_origin(uri), split_uri(uri)
    if origin is None or parts is None:
        return None
    segments = parts.path.split("/")[1:]
    host, cdn = origin.host, settings.cdn_domain
    secure = origin.scheme == "https"
    index: int | None = None
    if origin == settings.api or (secure and host in settings.extra_pyx_hosts):
        index = 1 if segments[:1] == ["simple"] else None
    elif secure and host in {f"{prefix}.{cdn}" for prefix in CDN_FILE_HOSTS}:
        index = 0
    elif secure and host in {f"{prefix}.{cdn}" for prefix in CDN_VIEW_HOSTS}:
        index = 2 if segments[:1] == ["v1"] else None
    if index is None or len(segments) <= index + 1:  # a workspace is followed by more path
        return None
    return segments[index] if is_workspace(segments[index]) else None


def configured_workspace(settings: Settings) -> str | None:
    """``--workspace`` or the request URI's workspace, else ``PYX_WORKSPACE``, else None."""
    if settings.workspace is not None:
        return settings.workspace
    raw = settings.environ.get(PYX_WORKSPACE)
    if raw is None:
        return None
    name = raw.strip()
    if not name:
        raise ConfigError(f"{PYX_WORKSPACE} is set but empty; unset it or name a pyx workspace")
    if not is_workspace(name):
        raise ConfigError(f"{PYX_WORKSPACE} must be a pyx workspace name ({WORKSPACE_RULE})")
    return name


def _setting(settings: Settings, name: str, default: str) -> str:
    raw = settings.environ.get(name)
    if raw is None:
        return default
    if not raw.strip():
        raise ConfigError(f"{name} is set but empty; unset it to use {default}")
    return raw.strip()


def audience(settings: Settings) -> str:
    """The audience OIDC tokens are requested for (``pyx:trusted-access``)."""
    return _setting(settings, PYX_TRUSTED_ACCESS_AUDIENCE, DEFAULT_TRUSTED_ACCESS_AUDIENCE)


def mint_path(settings: Settings, workspace: str) -> str:
    """The exchange endpoint's path for ``workspace``, below the API origin."""
    template = _setting(settings, PYX_TRUSTED_ACCESS_PATH, DEFAULT_TRUSTED_ACCESS_PATH)
    if "{workspace}" not in template:
        raise ConfigError(
            f"{PYX_TRUSTED_ACCESS_PATH} must contain {{workspace}}, as in"
            f" {DEFAULT_TRUSTED_ACCESS_PATH}"
        )
    return template.replace("{workspace}", workspace)


def cache_file(workspace: str) -> str:
    return f"{FILE_PREFIX}{workspace}.json"


def _identity(provider: Provider, settings: Settings) -> str:
    return uv_digest(f"{provider.NAME}\n{provider.identity(settings.environ)}")


def read_cached(store: Store, file_name: str, identity: str) -> Token | None:
    """The cached token if it was minted for this CI job, else None (missing, corrupt, other)."""
    data = store.read_object(file_name)
    if data is None or data.get("identity") != identity:
        return None
    value, expires = data.get("token"), data.get("expires")
    if not isinstance(value, str) or not claims.is_single_word(value):
        return None
    return _token(value, expires)


def _token(value: str, expires: object) -> Token:
    """The token, expiring at the earlier of its ``exp`` and pyx's ``expires`` (if given)."""
    token = Token(value, SOURCE_NAME)
    if isinstance(expires, int) and not isinstance(expires, bool):
        token.expires_at = expires if token.expires_at is None else min(token.expires_at, expires)
    return token


def missing_workspace(provider: Provider, settings: Settings) -> ConfigError:
    return ConfigError(
        f"Trusted Access ({provider.NAME}) needs the pyx workspace to mint a token for: pass"
        f" --workspace NAME, set {PYX_WORKSPACE}, or use index URLs that name it"
        f" ({settings.api}/simple/WORKSPACE/VIEW)"
    )


class TrustedAccessSource(Source):
    name = SOURCE_NAME

    def _provider(self, settings: Settings) -> Provider:
        provider = oidc.present(settings.environ)
        assert provider is not None, "used only when applies() is true"
        return provider

    def applies(self, settings: Settings) -> bool:
        return oidc.present(settings.environ) is not None

    def cached(self, settings: Settings) -> Token | None:
        workspace = configured_workspace(settings)
        if workspace is None:
            return None
        identity = _identity(self._provider(settings), settings)
        return read_cached(Store.for_settings(settings), cache_file(workspace), identity)

    def renew(self, settings: Settings, margin: float, deadline: float) -> Token:
        provider = self._provider(settings)
        workspace = configured_workspace(settings)
        if workspace is None:
            raise missing_workspace(provider, settings)
        audience(settings)  # a bad setting fails here, before any lock or request
        path = mint_path(settings, workspace)
        store = Store.for_settings(settings)
        file_name = cache_file(workspace)
        identity = _identity(provider, settings)

        def mint() -> Token:
            import json

            from pyx_auth.api import PyxClient

            oidc_token = self.oidc_token(settings, deadline)
            with PyxClient(settings, deadline) as client:
                value, expires = client.mint_trusted_access(
                    path,
                    oidc_token,
                    workspace=workspace,
                    presented=oidc.format_claims(oidc.shown_claims(oidc_token)),
                    label=f"{SOURCE_NAME} ({provider.NAME}): ",
                )
            record = {"token": value, "expires": expires, "identity": identity}
            store.write(file_name, json.dumps(record))
            return _token(value, expires)

        return single_flight(
            settings,
            store=store,
            file_name=file_name,
            margin=margin,
            deadline=deadline,
            read=lambda: read_cached(store, file_name, identity),
            fetch=mint,
        )

    def oidc_token(self, settings: Settings, deadline: float) -> str:
        """A fresh OIDC token from the CI for the configured audience (never cached)."""
        token = oidc.detect(audience(settings), settings.environ, deadline)
        assert token is not None, "a present provider answers or raises"
        return token

    def describe(self, settings: Settings) -> str:
        provider = oidc.present(settings.environ)
        if provider is None:
            return "no CI identity for Trusted Access"
        try:
            workspace = configured_workspace(settings)
        except PyxAuthError:
            workspace = None
        where = f"workspace {workspace}" if workspace else "no workspace named yet"
        return f"Trusted Access via {provider.NAME} ({where})"
