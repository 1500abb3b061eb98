"""The command line: ``pyx-auth <command>``; the only place errors become messages and exit codes.

``get`` is special-cased before argparse is even imported: Bazel runs it once per URL, so a
cache hit reads stdin, the environment and one file, prints, and exits (see
``credential_helper``). Everything else goes through argparse and ``commands/*``.
"""

from __future__ import annotations

import os
import sys

from pyx_auth.errors import PyxAuthError
from pyx_auth.protocol import MAX_REQUEST_BYTES
from pyx_auth.settings import PYX_AUTH_DEBUG, debug_enabled

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

ENVIRONMENT_HELP = """\
environment:
  PYX_API_URL          pyx API (default https://api.pyx.dev)
  PYX_CDN_DOMAIN       CDN domain whose https hosts get the token (default astralhosted.com)
  PYX_CREDENTIALS_DIR  root of the shared token store (default ~/.local/share/pyx/credentials)
  UV_CREDENTIALS_DIR, XDG_DATA_HOME: as in uv, for locating the store
  PYX_AUTH_NO_EXPIRES  1: `get` omits "expires" and hands out tokens valid >= 35 min
  PYX_AUTH_TIMEOUT     total network budget in seconds (default 8, inside Bazel's 10)
  UV_LOCK_TIMEOUT      longest wait for the store's refresh lock (default 300 s)
  PYX_AUTH_DEBUG       1: trace each decision on stderr, and show a traceback for internal
                       errors
  PYX_WORKSPACE, PYX_TRUSTED_ACCESS_AUDIENCE, PYX_TRUSTED_ACCESS_PATH, PYX_OIDC_TOKEN,
  PYX_OIDC_TOKEN_FILE, PYX_OIDC_TOKEN_VAR: Trusted Access, see the README

A variable set to an empty string is an error, never an empty token.
"""
HELP_WIDTH = 94
NAME_WIDTH = 16


def help_epilog() -> str:
    """The sources in their order (from the source chain itself), then the variables."""
    import textwrap

    from pyx_auth.sources import sources

    lines = ["credential sources, first match wins (the same order as uv 0.12.6):"]
    for number, source in enumerate(sources(), 1):
        lead = f"  {number}. {source.name:<{NAME_WIDTH}} "
        lines += textwrap.wrap(
            source.summary,
            HELP_WIDTH,
            initial_indent=lead,
            subsequent_indent=" " * len(lead),
            break_on_hyphens=False,
        )
    return "\n".join(lines) + "\n\n" + ENVIRONMENT_HELP


INTERNAL_ERROR_EXIT = 2
INTERRUPTED_EXIT = 130


def _error(message: str) -> None:
    sys.stderr.write(f"pyx-auth: {message}\n")
    sys.stderr.flush()


def _is_bazel_get(argv: Sequence[str]) -> bool:
    """``get`` with any extra arguments Bazel or a wrapper may add, but not ``--help``."""
    return bool(argv) and argv[0] == "get" and not {"-h", "--help"} & set(argv)


def build_parser() -> argparse.ArgumentParser:
    import argparse

    from pyx_auth import __version__
    from pyx_auth.commands import config, doctor, emulator, get, login, logout, setup, status, token

    parser = argparse.ArgumentParser(
        prog="pyx-auth",
        description="Short-lived pyx credentials for Bazel, Docker and CI, sharing uv's pyx"
        " token store.",
        epilog=help_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pyx-auth {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in (get, token, status, login, logout, config, setup, doctor, emulator):
        command.register(subparsers)
    return parser


def _enable_site() -> None:
    """Turn ``site`` on if the Bazel stub started Python without it (see ``bazel_entry``).

    The cache hit needs only the standard library; the way past it imports httpx and may
    need what ``site`` provides: ``.pth`` files, a venv's system site-packages.
    """
    if sys.flags.no_site and not getattr(sys, "frozen", False):
        import site

        site.main()


def _run(argv: Sequence[str], stdin: bytes | None) -> int:
    if _is_bazel_get(argv):
        from pyx_auth.credential_helper import answer_offline

        if stdin is None:
            stdin = sys.stdin.buffer.read(MAX_REQUEST_BYTES + 1)
        fast = answer_offline(stdin, os.environ)
        if fast is not None:
            sys.stdout.write(fast + "\n")
            return 0
        _enable_site()
        from pyx_auth.commands import get

        return get.run_request(stdin, os.environ)
    args = build_parser().parse_args(argv)
    return int(args.run(args))


def main(argv: Sequence[str] | None = None, stdin: bytes | None = None) -> int:
    """Run one command; return its exit code. ``stdin`` overrides standard input for ``get``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _run(argv, stdin)
    except PyxAuthError as exc:
        _error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        _error("interrupted")
        return INTERRUPTED_EXIT
    except BrokenPipeError:
        return INTERNAL_ERROR_EXIT
    except Exception as exc:  # the edge: anything else is a bug, but still one line
        if debug_enabled(os.environ):
            raise
        _error(
            f"internal error ({type(exc).__name__}); rerun with {PYX_AUTH_DEBUG}=1 for details"
            " and report it"
        )
        return INTERNAL_ERROR_EXIT


def entrypoint() -> None:
    code = main()
    if _is_bazel_get(sys.argv[1:]):
        _exit_without_teardown(code)
    sys.exit(code)


def _exit_without_teardown(code: int) -> None:
    """Flush and leave at once: interpreter teardown is ~1 ms of a ~10 ms Bazel ``get``.

    Safe for ``get``: by now every file is closed, every lock released, and nothing is
    registered with ``atexit``; a keyring thread still waiting on a hung backend just ends.
    """
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # Bazel closed the pipe: the answer is lost, so this is a failure
        code = code or INTERNAL_ERROR_EXIT
    os._exit(code)
