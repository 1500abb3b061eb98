"""The command-line edge: help that explains, one-line errors, exit codes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conftest import RunPyxAuth
from pyx_auth import __version__, cli
from pyx_auth.errors import ConfigError
from pyx_auth.settings import VARIABLES


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


# -- the error edge, in process: cli.main is the one place exceptions become exit codes -----


def _raising(exc: BaseException) -> Callable[..., int]:
    def run(argv: object, stdin: object) -> int:
        raise exc

    return run


@pytest.mark.parametrize("debug", [None, "0", "false", ""])
def test_cli_internal_error_is_one_line_and_exit_2_without_debug(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], debug: str | None
) -> None:
    if debug is not None:
        monkeypatch.setenv("PYX_AUTH_DEBUG", debug)
    monkeypatch.setattr(cli, "_run", _raising(RuntimeError("secret-looking detail")))
    assert cli.main(["token"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "pyx-auth: internal error (RuntimeError); rerun with PYX_AUTH_DEBUG=1 for details"
        " and report it\n"
    )


def test_cli_internal_error_with_debug_shows_the_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYX_AUTH_DEBUG", "1")
    monkeypatch.setattr(cli, "_run", _raising(RuntimeError("boom")))
    with pytest.raises(RuntimeError, match="boom"):  # Python prints it, with the traceback
        cli.main(["token"])


@pytest.mark.parametrize(
    ("exc", "code", "message"),
    [
        (KeyboardInterrupt(), 130, "pyx-auth: interrupted\n"),
        (ConfigError("PYX_API_URL must be an http(s) URL"), 2, "pyx-auth: PYX_API_URL must be"),
        (BrokenPipeError(), 2, ""),
    ],
)
def test_cli_edge_exit_codes(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    exc: BaseException,
    code: int,
    message: str,
) -> None:
    monkeypatch.setattr(cli, "_run", _raising(exc))
    assert cli.main(["status"]) == code
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == (1 if message else 0)


def test_cli_help_lists_the_source_chain_in_order(run_pyx_auth: RunPyxAuth) -> None:
    from pyx_auth.sources import sources

    help_text = run_pyx_auth("--help").stdout
    listed = [f"{number}. {source.name}" for number, source in enumerate(sources(), 1)]
    positions = [help_text.find(entry) for entry in listed]
    assert -1 not in positions and positions == sorted(positions), help_text
    for name in VARIABLES:
        assert name in help_text, name
