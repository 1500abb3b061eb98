"""Every environment variable pyx-auth reads, and the settings derived from them.

The environment is read once, at the CLI edge, into a ``Settings``; everything below gets
the settings passed in. Standard library only: the Bazel fast path builds one on every call.
"""

from __future__ import annotations

from pyx_auth.errors import ConfigError
from pyx_auth.hosts import (
    Origin,
    canonical_url,
    check_api_url,
    check_cdn_domain,
    normalize_host,
    parse_origin,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

# Names exactly as uv spells them (uv 0.12.6, crates/uv-static/src/env_vars.rs).
PYX_API_URL = "PYX_API_URL"
PYX_CDN_DOMAIN = "PYX_CDN_DOMAIN"
PYX_AUTH_TOKEN = "PYX_AUTH_TOKEN"
UV_AUTH_TOKEN = "UV_AUTH_TOKEN"
PYX_API_KEY = "PYX_API_KEY"
UV_API_KEY = "UV_API_KEY"
PYX_CREDENTIALS_DIR = "PYX_CREDENTIALS_DIR"
UV_CREDENTIALS_DIR = "UV_CREDENTIALS_DIR"
UV_LOCK_TIMEOUT = "UV_LOCK_TIMEOUT"
XDG_DATA_HOME = "XDG_DATA_HOME"
# pyx-auth's own.
PYX_AUTH_NO_EXPIRES = "PYX_AUTH_NO_EXPIRES"
PYX_AUTH_TIMEOUT = "PYX_AUTH_TIMEOUT"
PYX_AUTH_DEBUG = "PYX_AUTH_DEBUG"
# Trusted Access (CI identity -> pyx token); pyx-auth's own, since uv never shipped it.
PYX_WORKSPACE = "PYX_WORKSPACE"
PYX_TRUSTED_ACCESS_AUDIENCE = "PYX_TRUSTED_ACCESS_AUDIENCE"
PYX_TRUSTED_ACCESS_PATH = "PYX_TRUSTED_ACCESS_PATH"
PYX_OIDC_TOKEN = "PYX_OIDC_TOKEN"
PYX_OIDC_TOKEN_FILE = "PYX_OIDC_TOKEN_FILE"
PYX_OIDC_TOKEN_VAR = "PYX_OIDC_TOKEN_VAR"
# Set by CI systems; they decide Trusted Access, masking and whether to try a keyring.
CI = "CI"
GITHUB_ACTIONS = "GITHUB_ACTIONS"
GITLAB_CI = "GITLAB_CI"
BUILDKITE = "BUILDKITE"
CI_VARIABLES = (CI, GITHUB_ACTIONS, GITLAB_CI, BUILDKITE)

DEFAULT_API_URL = "https://api.pyx.dev"
DEFAULT_CDN_DOMAIN = "astralhosted.com"
STATIC_API_HOST = "api-static.pyx.dev"
REFRESH_MARGIN = 300
"""Seconds before expiry at which a token counts as stale, as in uv."""
NO_EXPIRES_MIN_TTL = 35 * 60
"""Without ``expires`` Bazel caches an answer 30 minutes; hand out tokens that outlive that."""
DEFAULT_TIMEOUT = 8.0
"""Total network budget of one run, inside Bazel's default 10 s helper timeout."""
DEFAULT_LOCK_TIMEOUT = 300.0
DEFAULT_TRUSTED_ACCESS_AUDIENCE = "pyx:trusted-access"
DEFAULT_TRUSTED_ACCESS_PATH = "v1/trusted-access/{workspace}/mint-token"
"""Both from the closed uv PR #18254 (``pyx-and-uv.md`` §4f), unconfirmed, hence overridable."""


def _first_set(environ: Mapping[str, str], names: tuple[str, str]) -> tuple[str, str] | None:
    """(name, value) of the first variable that is set, even to an empty string, as uv does."""
    for name in names:
        value = environ.get(name)
        if value is not None:
            return name, value
    return None


def _non_empty(environ: Mapping[str, str], name: str, default: str) -> str:
    """The variable, or ``default`` when unset; set but empty is an error, as it is for uv."""
    value = environ.get(name)
    if value is None:
        return default
    if not value.strip():
        raise ConfigError(f"{name} is set but empty; unset it to use {default}")
    return value


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, not {raw!r}") from None
    if not 0 < value < 10**9:  # also refuses nan and inf
        raise ConfigError(f"{name} must be a positive number of seconds")
    return value


class Settings:
    """The environment, parsed: where pyx is, which credentials are set, and how long to wait."""

    __slots__ = (
        "api",
        "api_key",
        "api_url",
        "auth_token",
        "cdn_domain",
        "debug",
        "environ",
        "lock_timeout",
        "no_expires",
        "timeout",
        "warnings",
        "workspace",
    )

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.warnings: list[str] = []
        raw_url = _non_empty(environ, PYX_API_URL, DEFAULT_API_URL)
        api_url = canonical_url(raw_url)
        api = parse_origin(raw_url)
        if api_url is None or api is None or not raw_url.isprintable() or " " in raw_url:
            raise ConfigError(f"{PYX_API_URL} must be an http(s) URL such as {DEFAULT_API_URL}")
        check_api_url(raw_url, PYX_API_URL)
        self.api_url = api_url
        """The canonical API URL: what uv hashes to name the store folder."""
        self.api: Origin = api
        cdn = normalize_host(_non_empty(environ, PYX_CDN_DOMAIN, DEFAULT_CDN_DOMAIN).strip())
        if not cdn or "/" in cdn or ":" in cdn or "." not in cdn:
            raise ConfigError(
                f"{PYX_CDN_DOMAIN} must be a domain name such as {DEFAULT_CDN_DOMAIN}"
            )
        if PYX_CDN_DOMAIN in environ:  # the check loads the Public Suffix List: not for defaults
            check_cdn_domain(cdn, PYX_CDN_DOMAIN)
        self.cdn_domain = cdn
        self.auth_token = _first_set(environ, (PYX_AUTH_TOKEN, UV_AUTH_TOKEN))
        self.api_key = _first_set(environ, (PYX_API_KEY, UV_API_KEY))
        for found, modern in ((self.auth_token, PYX_AUTH_TOKEN), (self.api_key, PYX_API_KEY)):
            if found is not None and found[0] != modern and found[1].strip():
                self.warnings.append(f"{found[0]} is deprecated; set {modern} instead")
        self.no_expires = environ.get(PYX_AUTH_NO_EXPIRES, "") not in ("", "0", "false")
        self.debug = environ.get(PYX_AUTH_DEBUG, "") not in ("", "0", "false")
        self.timeout = _seconds(environ, PYX_AUTH_TIMEOUT, DEFAULT_TIMEOUT)
        self.lock_timeout = _seconds(environ, UV_LOCK_TIMEOUT, DEFAULT_LOCK_TIMEOUT)
        self.workspace: str | None = None
        """The workspace named by ``--workspace`` or the request URI; Trusted Access falls
        back to ``PYX_WORKSPACE``."""

    @property
    def is_default_api(self) -> bool:
        return self.api_url == DEFAULT_API_URL + "/"

    @property
    def extra_pyx_hosts(self) -> tuple[str, ...]:
        """Hosts served besides the API realm, its parent domain and the CDN."""
        return (STATIC_API_HOST,) if self.is_default_api else ()

    def endpoint(self, path: str) -> str:
        """An API endpoint URL. uv replaces the whole path of PYX_API_URL, and so do we."""
        return f"{self.api}/{path.lstrip('/')}"
