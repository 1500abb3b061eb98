"""``pyx-auth token``: print (or write) a valid pyx access token for other tools."""

from __future__ import annotations

import argparse
import os
import sys
import time

from pyx_auth.commands import load_settings, workspace_argument
from pyx_auth.durations import parse_duration
from pyx_auth.settings import REFRESH_MARGIN
from pyx_auth.sources import resolve_token
from pyx_auth.token_output import FORMATS, mask_in_ci_log, render, write_output

DESCRIPTION = """\
Print a pyx access token valid for at least --min-ttl (default 5 minutes), refreshing it
first if needed. Use it as the password with the user name __token__, or as PYX_AUTH_TOKEN.
Never starts an interactive login.

formats:
  raw    the token alone (default)
  env    PYX_AUTH_TOKEN=<token>, for env files
  json   {"token": ..., "expires_at": <seconds since the epoch or null>}
  netrc  "machine <host> login __token__ password <token>" for the API host, the static API
         host (default API only) and the CDN hosts; NETRC=<file> or ~/.netrc for pip, twine
         and any uv version

On GitHub Actions (GITHUB_ACTIONS=true) the token is first masked in the job log with an
::add-mask:: command on stderr; stdout still carries only the output.
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "token",
        help="print a valid pyx access token",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--min-ttl",
        type=parse_duration,
        default=None,
        metavar="DURATION",
        help="refresh unless the token stays valid this long (900, 90s, 30m, 1h); fails if"
        " the source cannot deliver that (e.g. a fixed PYX_AUTH_TOKEN)",
    )
    parser.add_argument(
        "--workspace",
        type=workspace_argument,
        metavar="NAME",
        help="the pyx workspace a Trusted Access token is minted for in CI (default:"
        " $PYX_WORKSPACE); other sources ignore it",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="raw",
        help="output format (default raw)",
    )
    parser.add_argument(
        "--output",
        metavar="PATH",
        help="write to PATH instead of stdout (a file is replaced atomically, mode 0600; a"
        " device or FIFO is written to; a link's target is written); raw output"
        " has no trailing newline; delete the file when the build is done",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings(os.environ)
    margin = max(REFRESH_MARGIN, args.min_ttl or 0)
    deadline = time.monotonic() + settings.timeout
    token = resolve_token(settings, margin, deadline, workspace=args.workspace)
    assert token is not None, "only the offline path answers None"
    text = render(token, args.format, settings)
    mask_in_ci_log(token.value, settings.environ, sys.stderr)
    if args.output:
        write_output(args.output, text.encode() if args.format == "raw" else (text + "\n").encode())
    else:
        sys.stdout.write(text + "\n")
    return 0
