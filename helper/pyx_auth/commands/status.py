"""``pyx-auth status``: which credential is in use and how long its token lasts; never the token."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from pyx_auth import claims, oidc
from pyx_auth.commands import load_settings, workspace_argument
from pyx_auth.settings import REFRESH_MARGIN, Settings
from pyx_auth.sources import Lookup, active, no_credentials

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyx_auth.errors import PyxAuthError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "status",
        help="show the credential source, store and token expiry",
        description="Show which credential source is in use, the store folder, and the cached"
        " token's expiry, remaining time and organisation. Never prints the token. Does not"
        " contact pyx. Exits 2 when no usable credential exists. With a CI identity (Trusted"
        " Access), also shows the provider and the claims a fresh OIDC token presents, which"
        " it asks the CI for.",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON object instead")
    parser.add_argument(
        "--workspace",
        type=workspace_argument,
        metavar="NAME",
        help="the workspace whose Trusted Access token to show (default: $PYX_WORKSPACE)",
    )
    parser.set_defaults(run=run)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{sign}{hours}h{rest // 60:02d}m" if hours else f"{sign}{rest // 60}m{rest % 60:02d}s"


def collect(
    settings: Settings, workspace: str | None = None
) -> tuple[dict[str, object], PyxAuthError | None]:
    """The status report, and the error that makes the credential unusable, if any."""
    lookup = Lookup(settings, workspace)
    report: dict[str, object] = {
        "api_url": settings.api_url,
        "cdn_domain": settings.cdn_domain,
        "store": lookup.store.directory,
        "source": None,
        "token": None,
        "usable": False,
    }
    credential = active(lookup)
    if credential is None:
        return report, no_credentials(lookup)
    report["source"] = credential.describe()
    token = credential.cached()
    now = time.time()
    if token is not None:
        token_claims = claims.decode_claims(token.value) or {}
        report["token"] = {
            "expires_at": token.expires_at,
            "expires_in": None if token.expires_at is None else int(token.expires_at - now),
            "org": token_claims.get(claims.ORG_CLAIM),
            "fresh": token.fresh(now, REFRESH_MARGIN),
        }
    details, problem = credential.status(time.monotonic() + settings.timeout)
    report.update(details)
    report["usable"] = problem is None
    return report, problem


def render(report: dict[str, object]) -> str:
    lines = [
        f"pyx API:   {report['api_url']}",
        f"CDN:       {report['cdn_domain']}",
        f"store:     {report['store']}",
        f"source:    {report['source'] or 'none'}",
    ]
    trusted = report.get("trusted_access")
    if isinstance(trusted, dict):
        shown = trusted["claims"]
        lines.append(f"provider:  {trusted['provider']}")
        lines.append(f"workspace: {trusted['workspace'] or 'none (pass --workspace NAME)'}")
        if isinstance(shown, dict):
            lines.append(f"claims:    {oidc.format_claims(shown)}")
    token = report["token"]
    if isinstance(token, dict):
        if token["expires_at"] is None:
            lines.append("token:     cached, expiry unknown (no readable exp claim)")
        else:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(token["expires_at"]))
            state = "" if token["fresh"] else " (stale: refreshed on next use)"
            lines.append(f"token:     expires {stamp}, in {_duration(token['expires_in'])}{state}")
        if token["org"]:
            lines.append(f"org:       {token['org']}")
    elif report["source"]:
        lines.append("token:     none cached yet (minted on first use)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    report, problem = collect(load_settings(os.environ), args.workspace)
    sys.stdout.write((json.dumps(report) if args.json else render(report)) + "\n")
    if problem is not None:
        raise problem
    return 0
