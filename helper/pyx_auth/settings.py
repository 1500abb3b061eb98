"""Every environment variable pyx-auth reads, and the settings derived from them.

The environment is read once, at the CLI edge, into a ``Settings``; everything below gets
the settings passed in. Standard library only: the Bazel fast path builds one on every call.
"""

from __future__ import annotations

import sys

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
CDN_FILE_HOSTS = ("files", "files-static")
"""Hosts under the CDN domain that serve ``https://files.<cdn>/<workspace>/...``."""
CDN_VIEW_HOSTS = ("views", "views-static")
"""Hosts under the CDN domain that serve ``https://views.<cdn>/v1/<shard>/<workspace>/...``."""
CDN_HOST_PREFIXES = tuple(
    host for pair in zip(CDN_FILE_HOSTS, CDN_VIEW_HOSTS, strict=True) for host in pair
)
"""All of them: ``files``, ``views``, ``files-static``, ``views-static``."""
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


VARIABLES = (
    PYX_API_URL,
    PYX_CDN_DOMAIN,
    PYX_AUTH_TOKEN,
    UV_AUTH_TOKEN,
    PYX_API_KEY,
    UV_API_KEY,
    PYX_CREDENTIALS_DIR,
    UV_CREDENTIALS_DIR,
    XDG_DATA_HOME,
    UV_LOCK_TIMEOUT,
    PYX_AUTH_NO_EXPIRES,
    PYX_AUTH_TIMEOUT,
    PYX_AUTH_DEBUG,
    PYX_WORKSPACE,
    PYX_TRUSTED_ACCESS_AUDIENCE,
    PYX_TRUSTED_ACCESS_PATH,
    PYX_OIDC_TOKEN,
    PYX_OIDC_TOKEN_FILE,
    PYX_OIDC_TOKEN_VAR,
)
"""pyx-auth's and uv's variables that pyx-auth reads; each has a row in README's table
(``tests/test_settings.py``). CI systems' own variables are read by their ``oidc`` provider."""

MAX_WORKSPACE = 100
_WORKSPACE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
WORKSPACE_RULE = "letters, digits, '-', '_' and '.', starting with a letter or digit"


def is_workspace(name: str) -> bool:
    """A workspace name that is safe in a file name: it can never leave the store folder."""
    return (
        0 < len(name) <= MAX_WORKSPACE
        and name[0].isalnum()
        and name.isascii()
        and _WORKSPACE_CHARS.issuperset(name)
    )


def _first_set(environ: Mapping[str, str], names: tuple[str, str]) -> tuple[str, str] | None:
    """(name, value) of the first variable that is set, even to an empty string, as uv does."""
    for name in names:
        value = environ.get(name)
        if value is not None:
            return name, value
    return None


def _non_empty(environ: Mapping[str, str], name: str, hint: str) -> str | None:
    """The variable as set, or None when unset; set but blank is an error, as it is for uv."""
    value = environ.get(name)
    if value is not None and not value.strip():
        raise ConfigError(f"{name} is set but empty; {hint}")
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


def _flag(environ: Mapping[str, str], name: str) -> bool:
    return environ.get(name, "") not in ("", "0", "false")


def write_trace(message: str) -> None:
    """One ``PYX_AUTH_DEBUG`` line on stderr; callers decide whether debugging is on."""
    sys.stderr.write(f"pyx-auth: debug: {message}\n")
    sys.stderr.flush()


def debug_enabled(environ: Mapping[str, str]) -> bool:
    """``PYX_AUTH_DEBUG`` is on (``1``; not ``0``, ``false`` or empty); the CLI edge asks it even
    when the settings themselves cannot be built."""
    return _flag(environ, PYX_AUTH_DEBUG)


def _api(environ: Mapping[str, str]) -> tuple[str, Origin]:
    raw_url = _non_empty(environ, PYX_API_URL, f"unset it to use {DEFAULT_API_URL}")
    raw_url = DEFAULT_API_URL if raw_url is None else raw_url
    api_url = canonical_url(raw_url)
    api = parse_origin(raw_url)
    if api_url is None or api is None or not raw_url.isprintable() or " " in raw_url:
        raise ConfigError(f"{PYX_API_URL} must be an http(s) URL such as {DEFAULT_API_URL}")
    check_api_url(raw_url, PYX_API_URL)
    return api_url, api


def _cdn(environ: Mapping[str, str]) -> str:
    raw = _non_empty(environ, PYX_CDN_DOMAIN, f"unset it to use {DEFAULT_CDN_DOMAIN}")
    cdn = normalize_host((raw or DEFAULT_CDN_DOMAIN).strip())
    if not cdn or "/" in cdn or ":" in cdn or "." not in cdn:
        raise ConfigError(f"{PYX_CDN_DOMAIN} must be a domain name such as {DEFAULT_CDN_DOMAIN}")
    if raw is not None:  # the check loads the Public Suffix List: not for the default
        check_cdn_domain(cdn, PYX_CDN_DOMAIN)
    return cdn


def _workspace(environ: Mapping[str, str]) -> str | None:
    raw = _non_empty(environ, PYX_WORKSPACE, "unset it or name a pyx workspace")
    if raw is None:
        return None
    if not is_workspace(raw.strip()):
        raise ConfigError(f"{PYX_WORKSPACE} must be a pyx workspace name ({WORKSPACE_RULE})")
    return raw.strip()


def _mint_path(environ: Mapping[str, str]) -> str:
    hint = f"unset it to use {DEFAULT_TRUSTED_ACCESS_PATH}"
    template = (_non_empty(environ, PYX_TRUSTED_ACCESS_PATH, hint) or DEFAULT_TRUSTED_ACCESS_PATH)
    if "{workspace}" not in template:
        raise ConfigError(
            f"{PYX_TRUSTED_ACCESS_PATH} must contain {{workspace}}, as in"
            f" {DEFAULT_TRUSTED_ACCESS_PATH}"
        )
    return template.strip()


_set = object.__setattr__


class Settings:
    """The environment, parsed once and read-only: where pyx is, which credentials are set,
    how long to wait, and Trusted Access's workspace, audience and exchange path."""

    __slots__ = (
        "api",
        "api_key",
        "api_url",
        "auth_token",
        "cdn_domain",
        "debug",
        "environ",
        "lock_timeout",
        "mint_path_template",
        "no_expires",
        "timeout",
        "trusted_access_audience",
        "warnings",
        "workspace",
    )
    api: Origin
    api_key: tuple[str, str] | None
    api_url: str
    """The canonical API URL: what uv hashes to name the store folder."""
    auth_token: tuple[str, str] | None
    cdn_domain: str
    debug: bool
    environ: Mapping[str, str]
    lock_timeout: float
    mint_path_template: str
    no_expires: bool
    timeout: float
    trusted_access_audience: str
    warnings: tuple[str, ...]
    workspace: str | None
    """``PYX_WORKSPACE``; ``--workspace`` and the request URI's workspace win over it."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        api_url, api = _api(environ)
        auth_token = _first_set(environ, (PYX_AUTH_TOKEN, UV_AUTH_TOKEN))
        api_key = _first_set(environ, (PYX_API_KEY, UV_API_KEY))
        warnings = tuple(
            f"{found[0]} is deprecated; set {modern} instead"
            for found, modern in ((auth_token, PYX_AUTH_TOKEN), (api_key, PYX_API_KEY))
            if found is not None and found[0] != modern and found[1].strip()
        )
        audience = _non_empty(
            environ,
            PYX_TRUSTED_ACCESS_AUDIENCE,
            f"unset it to use {DEFAULT_TRUSTED_ACCESS_AUDIENCE}",
        )
        values: dict[str, object] = {
            "environ": environ,
            "api_url": api_url,
            "api": api,
            "cdn_domain": _cdn(environ),
            "auth_token": auth_token,
            "api_key": api_key,
            "warnings": warnings,
            "no_expires": _flag(environ, PYX_AUTH_NO_EXPIRES),
            "debug": debug_enabled(environ),
            "timeout": _seconds(environ, PYX_AUTH_TIMEOUT, DEFAULT_TIMEOUT),
            "lock_timeout": _seconds(environ, UV_LOCK_TIMEOUT, DEFAULT_LOCK_TIMEOUT),
            "workspace": _workspace(environ),
            "trusted_access_audience": (audience or DEFAULT_TRUSTED_ACCESS_AUDIENCE).strip(),
            "mint_path_template": _mint_path(environ),
        }
        for name, value in values.items():
            _set(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Settings are read-only; build new ones instead of setting {name}")

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

    def trace(self, message: str) -> None:
        """``PYX_AUTH_DEBUG=1``: write ``pyx-auth: debug: <message>`` to stderr; else nothing.

        One line per decision (source chosen or skipped, cache hit or miss, lock waits, each
        HTTP call), so a user can see why a token came from where it did. Pass only what is
        safe to show: names, paths, URLs without userinfo or query, statuses and times; never
        a token, key, refresh token or OIDC token. Off, it costs one attribute test; callers
        that must format something costly check ``settings.debug`` first.
        """
        if self.debug:
            write_trace(message)

    def mint_path(self, workspace: str) -> str:
        """The Trusted Access exchange path for ``workspace``, below the API origin."""
        return self.mint_path_template.replace("{workspace}", workspace)
