"""``pyx-auth get``: the Bazel credential helper, full path (refresh, network, errors)."""

from __future__ import annotations

import argparse
import sys

from pyx_auth.commands import load_settings
from pyx_auth.credential_helper import answer
from pyx_auth.protocol import parse_request

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

DESCRIPTION = """\
Bazel credential helper. Bazel runs `<helper> get` with {"uri": "..."} on stdin and reads
{"headers": {"Authorization": ["Bearer <token>"]}, "expires": "..."} from stdout.

pyx URIs (the PYX_API_URL realm, its parent domain, https hosts under PYX_CDN_DOMAIN, and
api-static.pyx.dev for the default API) get a pyx token; any other URI gets what uv's helper
gives it: a credential stored with `uv auth login <service>`, else {"headers":{}}.
"expires" is the token's expiry minus 60 s; set PYX_AUTH_NO_EXPIRES=1 for Bazel 7.1-7.3
or older, and tokens are then handed out only while they have at least 35 minutes left.
Errors: one line on stderr, exit 2, nothing on stdout. Never interactive.
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    # No run: cli.main answers `get` before argparse; this parser serves `get --help` only.
    subparsers.add_parser(
        "get",
        help="Bazel credential helper: answer a request on stdin",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def run_request(data: bytes, environ: Mapping[str, str]) -> int:
    """Answer with full validation: refreshes if needed, raises ``PyxAuthError`` otherwise."""
    settings = load_settings(environ)
    text = answer(parse_request(data), settings, offline=False)
    assert text is not None, "only the offline path answers None"
    sys.stdout.write(text + "\n")
    return 0
