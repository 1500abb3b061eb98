"""The command-line edge: help that explains, one-line errors, exit codes."""

from __future__ import annotations

import pytest

from conftest import RunPyxAuth
from pyx_auth import __version__


def test_cli_help_lists_sources_and_variables(run_pyx_auth: RunPyxAuth) -> None:
    result = run_pyx_auth("--help")
    assert result.returncode == 0
    for text in ("PYX_AUTH_TOKEN", "PYX_API_KEY", "tokens.json", "PYX_API_URL", "PYX_CDN_DOMAIN",
                 "PYX_CREDENTIALS_DIR", "get", "token", "status"):
        assert text in result.stdout


@pytest.mark.parametrize("command", ["get", "token", "status", "emulator"])
def test_cli_every_command_has_help(run_pyx_auth: RunPyxAuth, command: str) -> None:
    result = run_pyx_auth(command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: pyx-auth {command}")


def test_cli_version(run_pyx_auth: RunPyxAuth) -> None:
    assert run_pyx_auth("--version").stdout.strip() == f"pyx-auth {__version__}"


def test_cli_unknown_option_is_a_usage_error(run_pyx_auth: RunPyxAuth) -> None:
    result = run_pyx_auth("token", "--bogus")
    assert result.returncode == 2
    assert "unrecognized arguments: --bogus" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_bad_duration_is_a_usage_error(run_pyx_auth: RunPyxAuth) -> None:
    result = run_pyx_auth("token", "--min-ttl", "soon")
    assert result.returncode == 2
    assert "'soon' is not a duration" in result.stderr


def test_cli_no_command_prints_usage(run_pyx_auth: RunPyxAuth) -> None:
    result = run_pyx_auth()
    assert result.returncode == 2
    assert "usage: pyx-auth" in result.stderr


def test_cli_bad_api_url_is_one_line(run_pyx_auth: RunPyxAuth) -> None:
    import os

    result = run_pyx_auth("token", env={**os.environ, "PYX_API_URL": "ftp://x"})
    assert result.returncode == 2
    assert result.stderr == (
        "pyx-auth: PYX_API_URL must be an http(s) URL such as https://api.pyx.dev\n"
    )
