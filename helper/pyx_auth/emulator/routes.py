"""The routing table: (methods, path pattern) -> endpoint name (for counts and failures) and the
method that answers. Patterns match the raw path; their groups, percent-decoded, are the
arguments. One trailing slash is optional everywhere, and like pyx, ``/auth/cli/`` endpoints
match whatever path prefix comes before them."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote

from pyx_auth.emulator.accounts import Accounts
from pyx_auth.emulator.faults import Faults
from pyx_auth.emulator.index import Index
from pyx_auth.emulator.login import Login
from pyx_auth.emulator.responses import Request, Response
from pyx_auth.emulator.trusted_access import TrustedAccess

if TYPE_CHECKING:
    from pyx_auth.emulator.core import PyxEmulator

_GET = frozenset({"GET", "HEAD"})
_POST = frozenset({"POST"})
_PART = "([^/]+)"


@dataclass(frozen=True)
class Route:
    methods: frozenset[str]
    pattern: re.Pattern[str]
    endpoint: str
    handler: Callable[[PyxEmulator, Request], Response]


def _route(
    methods: frozenset[str],
    path: str,
    endpoint: str,
    handler: Callable[[PyxEmulator, Request], Response],
) -> Route:
    return Route(methods, re.compile(path.replace("{}", _PART) + "/?"), endpoint, handler)


_AUTH = ".*/auth/cli"
ROUTES = (
    _route(_POST, f"{_AUTH}/access-token", "access-token", Accounts._ep_access_token),
    _route(_POST, f"{_AUTH}/refresh", "refresh", Accounts._ep_refresh),
    _route(_GET, f"{_AUTH}/login/{{}}", "login", Login._ep_login),
    _route(_GET, f"{_AUTH}/status/{{}}", "status", Login._ep_status),
    _route(_GET, f"{_AUTH}/logout", "logout", Accounts._ep_logout),
    _route(_GET, "/simple/{}/{}", "simple", Index._ep_simple_root),
    _route(_GET, "/simple/{}/{}/{}", "simple", Index._ep_simple_project),
    _route(_GET, "/files/{}/{}/{}", "files", Index._ep_files),
    _route(_POST, "/v1/upload/{}/{}", "upload", Index._ep_upload),
    _route(_GET, "/_oidc/github/jobs/[^/]+/idtoken", "oidc-token", TrustedAccess._ep_github_oidc),
    _route(
        _POST,
        "/_oidc/buildkite/v3/jobs/[^/]+/oidc/tokens",
        "oidc-token",
        TrustedAccess._ep_buildkite_oidc,
    ),
    _route(_POST, "/v1/trusted-access/{}/mint-token", "mint-token", TrustedAccess._ep_mint_token),
    _route(frozenset({"GET"}), "/_emulator/counts", "control", Faults._ctl_counts),
    _route(_POST, "/_emulator/reset", "control", Faults._ctl_reset),
    _route(_POST, "/_emulator/config", "control", Faults._ctl_config),
    _route(_POST, "/_emulator/api-keys", "control", Accounts._ctl_api_keys),
    _route(_POST, "/_emulator/tokens", "control", Accounts._ctl_tokens),
    _route(frozenset({"PUT", "POST"}), "/_emulator/files/{}/{}/{}/{}", "control", Index._ctl_files),
)


def find_route(method: str, path: str) -> tuple[Route, tuple[str, ...]] | None:
    """The route for a method and raw path, with its decoded arguments; None is a 404."""
    for route in ROUTES:
        match = route.pattern.fullmatch(path)
        if match and method in route.methods:
            return route, tuple(unquote(arg) for arg in match.groups())
    return None
