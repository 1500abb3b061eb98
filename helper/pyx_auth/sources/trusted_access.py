"""Trusted Access: the CI job's OIDC identity, exchanged for a pyx token for one workspace.

Applies when a CI identity is present (``oidc.present``: environment lookups only) and no
higher source is configured. The workspace is ``--workspace`` or the request URI's, else
``PYX_WORKSPACE`` (``Lookup.workspace``). Every exchange gets a fresh OIDC token (GitHub's
live five minutes, and an index may refuse a reused one, as PyPI does); only the minted pyx
token is cached:

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

from pyx_auth import oidc
from pyx_auth.errors import ConfigError, PyxAuthError
from pyx_auth.seahash import uv_digest
from pyx_auth.settings import CDN_FILE_HOSTS, CDN_VIEW_HOSTS, PYX_WORKSPACE, is_workspace
from pyx_auth.sources.base import StoredToken, Token, is_single_word

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyx_auth.oidc import Provider
    from pyx_auth.protocol import RequestUri
    from pyx_auth.settings import Settings
    from pyx_auth.sources.base import Lookup
    from pyx_auth.store import Store

SOURCE_NAME = "Trusted Access"
FILE_PREFIX = "trusted-access-"


def workspace_from_uri(uri: RequestUri, settings: Settings) -> str | None:
    """The workspace a pyx URI belongs to, or None when the URI does not name one.

    ``{api}/simple/<workspace>/...`` (also on the static API host), ``files.<cdn>/<workspace>/``
    and ``views.<cdn>/v1/<shard>/<workspace>/``. The caller has checked it is a pyx URI.
    """
    origin = uri.origin
    if origin is None:
        return None
    segments = uri.parts.path.split("/")[1:]
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


def cache_file(workspace: str) -> str:
    return f"{FILE_PREFIX}{workspace}.json"


def read_cached(store: Store, file_name: str, identity: str) -> Token | None:
    """The cached token if it was minted for this CI job, else None (missing, corrupt, other)."""
    data = store.read_object(file_name)
    if data is None or data.get("identity") != identity:
        return None
    value, expires = data.get("token"), data.get("expires")
    if not isinstance(value, str) or not is_single_word(value):
        return None
    return _token(value, expires)


def _token(value: str, expires: object) -> Token:
    """The token, expiring at the earlier of its ``exp`` and pyx's ``expires`` (if given)."""
    given = expires if isinstance(expires, int) and not isinstance(expires, bool) else None
    return Token(value, SOURCE_NAME, given)


def missing_workspace(provider: Provider, settings: Settings) -> ConfigError:
    return ConfigError(
        f"Trusted Access ({provider.NAME}) needs the pyx workspace to mint a token for: pass"
        f" --workspace NAME, set {PYX_WORKSPACE}, or use index URLs that name it"
        f" ({settings.api}/simple/WORKSPACE/VIEW)"
    )


def oidc_token(settings: Settings, deadline: float) -> str:
    """A fresh OIDC token from the CI for the configured audience (never cached)."""
    token = oidc.detect(settings.trusted_access_audience, settings.environ, deadline)
    if token is None:  # present() said this is a CI, so its provider answers or raises
        raise ConfigError("no CI identity for Trusted Access")
    return token


def _describe(provider: Provider, workspace: str | None) -> str:
    where = f"workspace {workspace}" if workspace else "no workspace named yet"
    return f"Trusted Access via {provider.NAME} ({where})"


def _status(
    settings: Settings, provider: Provider, workspace: str | None, deadline: float
) -> tuple[dict[str, object], PyxAuthError | None]:
    """The CI provider, the workspace and the claims a fresh OIDC token presents (not the token)."""
    report: dict[str, object] = {"provider": provider.NAME, "workspace": workspace, "claims": None}
    try:
        token = oidc_token(settings, deadline)
    except PyxAuthError as exc:
        return {"trusted_access": report}, exc
    report["claims"] = oidc.shown_claims(token)
    problem = None if workspace else missing_workspace(provider, settings)
    return {"trusted_access": report}, problem


class TrustedAccess(StoredToken):
    """A CI identity and the workspace to mint for."""

    def __init__(self, lookup: Lookup, provider: Provider, workspace: str) -> None:
        super().__init__(lookup, cache_file(workspace))
        self.provider = provider
        self.workspace = workspace
        self.identity = uv_digest(f"{provider.NAME}\n{provider.identity(self.settings.environ)}")

    def read(self) -> Token | None:
        return read_cached(self.store, self.file_name, self.identity)

    def fetch(self, deadline: float) -> Token:
        import json

        from pyx_auth.api import PyxClient

        token = oidc_token(self.settings, deadline)
        with PyxClient(self.settings, deadline) as client:
            value, expires = client.mint_trusted_access(
                self.settings.mint_path(self.workspace),
                token,
                workspace=self.workspace,
                presented=oidc.format_claims(oidc.shown_claims(token)),
                label=f"{SOURCE_NAME} ({self.provider.NAME}): ",
            )
        record = {"token": value, "expires": expires, "identity": self.identity}
        self.store.write(self.file_name, json.dumps(record))
        return _token(value, expires)

    def describe(self) -> str:
        return _describe(self.provider, self.workspace)

    def status(self, deadline: float) -> tuple[dict[str, object], PyxAuthError | None]:
        return _status(self.settings, self.provider, self.workspace, deadline)


class NoWorkspace:
    """A CI identity, but no workspace named: nothing cached, and renewing says what to pass."""

    renews_offline = False

    def __init__(self, lookup: Lookup, provider: Provider) -> None:
        self.settings = lookup.settings
        self.provider = provider

    def cached(self) -> Token | None:
        return None

    def renew(self, margin: float, deadline: float, stale: Token | None) -> Token:
        raise missing_workspace(self.provider, self.settings)

    def describe(self) -> str:
        return _describe(self.provider, None)

    def status(self, deadline: float) -> tuple[dict[str, object], PyxAuthError | None]:
        return _status(self.settings, self.provider, None, deadline)


class TrustedAccessSource:
    name = SOURCE_NAME
    summary = (
        "in CI (GitHub Actions, Buildkite, GitLab, PYX_OIDC_TOKEN[_FILE]): the job's OIDC token"
        " exchanged for a token for the workspace (--workspace, the request URI or"
        " PYX_WORKSPACE); pyx-auth only"
    )

    def bind(self, lookup: Lookup) -> TrustedAccess | NoWorkspace | None:
        provider = oidc.present(lookup.settings.environ)
        if provider is None:
            return None
        workspace = lookup.workspace
        if workspace is None and lookup.uri is not None:
            workspace = workspace_from_uri(lookup.uri, lookup.settings)
        if workspace is None:
            workspace = lookup.settings.workspace
        if workspace is None:
            return NoWorkspace(lookup, provider)
        return TrustedAccess(lookup, provider, workspace)

    def absent(self, lookup: Lookup) -> str:
        return "no CI identity for Trusted Access"


SOURCE = TrustedAccessSource()
