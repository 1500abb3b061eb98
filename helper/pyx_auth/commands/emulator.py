"""``pyx-auth emulator``: a local pyx API and index, for the tests, benchmarks and the demo."""

from __future__ import annotations

import argparse

from pyx_auth.errors import UsageError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "emulator",
        help="run a local pyx emulator (for testing; not a registry)",
        description="Serve a local pyx-compatible API (API-key exchange, refresh, login,"
        " logout) and a Simple index that requires its tokens and takes twine uploads at"
        " /v1/upload/WORKSPACE/VIEW/. Prints PYX_API_URL= and PYX_API_KEY= lines, then serves"
        " until interrupted.",
    )
    parser.add_argument("--port", type=int, default=0, help="port (default: any free port)")
    parser.add_argument("--api-key", default="sk-pyx-demo", help="API key it accepts")
    parser.add_argument(
        "--token-lifetime", type=int, default=3600, help="seconds its tokens live (default 3600)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pyx_auth.emulator import run_cli

    try:
        return run_cli(args.port, api_key=args.api_key, token_lifetime=args.token_lifetime)
    except OSError as exc:
        raise UsageError(f"cannot serve on port {args.port}: {exc.strerror}") from exc
