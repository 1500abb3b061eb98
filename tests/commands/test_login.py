"""``pyx-auth login``: uv's browser login against the emulator, with a stand-in browser.

The browser is the one thing that cannot exist here. ``BROWSER`` points at a small script
that records the URL it was given and fetches it, which is what a user finishing the login
in a real browser does to the emulator; Python's ``webbrowser`` runs it exactly as it would
run Firefox. Everything else is real: the pyx-auth process, HTTP, signed JWTs, uv 0.12.6.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import RunPyxAuth, start_pyx_auth
from pyx_auth.emulator import PyxEmulator
from pyx_auth.settings import Settings
from pyx_auth.store import store_directory

LOGIN_URL = re.compile(r"^Open this URL in your browser: (\S+/auth/cli/login/([0-9a-f-]{36}))$")


def _store() -> Path:
    return Path(store_directory(Settings(dict(os.environ))))


def _fetch(url: str) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url) as page:
        page.read()


@pytest.fixture
def browser(tmp_path: Path) -> Path:
    """A stand-in browser: writes the URL to ``<script>.url`` and loads the page."""
    script = tmp_path / "browser.py"
    script.write_text(
        f"#!{sys.executable}\n"
        "import pathlib, sys, urllib.request\n"
        "pathlib.Path(__file__ + '.url').write_text(sys.argv[1])\n"
        "opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))\n"
        "opener.open(sys.argv[1]).read()\n"
    )
    script.chmod(0o700)
    return script


def _assert_no_secrets(result: subprocess.CompletedProcess[str], *secrets: str) -> None:
    for secret in secrets:
        assert secret not in result.stdout
        assert secret not in result.stderr


def test_login_browser_flow_stores_uv_tokens_and_names_the_org(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str], browser: Path
) -> None:
    result = run_pyx_auth("login", env={**os.environ, "BROWSER": str(browser)})

    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    match = LOGIN_URL.match(lines[0])
    assert match is not None, result.stderr
    assert match.group(1) == f"{emulator.url}/auth/cli/login/{match.group(2)}"
    assert Path(f"{browser}.url").read_text() == match.group(1)  # the browser got that URL
    assert lines[-1] == "Logged in to acme"
    assert result.stdout == ""
    tokens_file = _store() / "tokens.json"
    tokens = json.loads(tokens_file.read_text())
    assert set(tokens) == {"access_token", "refresh_token"}  # exactly uv's two keys
    assert emulator.verify(tokens["access_token"]) is not None
    assert tokens_file.stat().st_mode & 0o777 == 0o600
    _assert_no_secrets(result, tokens["access_token"], tokens["refresh_token"])
    assert emulator.counts()["login"] == 1

    token = run_pyx_auth("token")
    assert token.stdout.strip() == tokens["access_token"]


@pytest.mark.skipif(
    sys.platform in ("darwin", "win32"), reason="macOS and Windows always have a browser"
)
def test_login_headless_prints_url_to_open_elsewhere(
    emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    """No BROWSER and no display (SSH, a container): the URL is printed and opening it anywhere
    finishes the login."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    with start_pyx_auth("login", env=env) as process:
        try:
            assert process.stderr is not None
            match = LOGIN_URL.match(process.stderr.readline().rstrip("\n"))
            assert match is not None
            assert emulator.counts()["login"] == 0  # pyx-auth opened nothing itself
            _fetch(match.group(1))  # the user, in a browser on their laptop
            rest = process.stderr.read()
            assert process.wait(timeout=30) == 0, rest
        finally:
            process.kill()
    assert rest.splitlines()[-1] == "Logged in to acme"
    assert (_store() / "tokens.json").exists()
    assert emulator.counts()["login"] == 1  # only the user's visit


def test_login_times_out_with_a_clear_message(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    started = time.monotonic()
    result = run_pyx_auth("login", "--no-browser", "--timeout", "1.5")

    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "pyx-auth: the login timed out after 1.5 s without being finished in the browser;"
        " run `pyx-auth login` again (--timeout to wait longer)"
    )
    assert time.monotonic() - started < 10
    assert emulator.counts()["status"] == 2  # polled once a second while pending
    assert not _store().exists()


def test_login_server_error_fails_with_the_status(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str], browser: Path
) -> None:
    emulator.fail_next("status", status=500, times=3)

    result = run_pyx_auth("login", env={**os.environ, "BROWSER": str(browser)})

    assert result.returncode == 2
    last = result.stderr.splitlines()[-1]
    assert re.fullmatch(
        r"pyx-auth: \S+/auth/cli/status/\S+ failed with HTTP 500: Internal Server Error:"
        r" injected failure on status; pyx may be down, try again later",
        last,
    ), last
    assert "Traceback" not in result.stderr
    assert not (_store() / "tokens.json").exists()


def test_login_single_server_error_is_retried(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str], browser: Path
) -> None:
    emulator.fail_next("status", status=503)

    result = run_pyx_auth("login", env={**os.environ, "BROWSER": str(browser)})

    assert result.returncode == 0, result.stderr
    assert (_store() / "tokens.json").exists()


@pytest.mark.parametrize(
    "argv",
    [("--api-key", "sk-pyx-secret-value"), ("--api-key=sk-pyx-secret-value",),
     ("sk-pyx-secret-value",)],
)
def test_login_rejects_a_key_in_argv_without_echoing_it(
    run_pyx_auth: RunPyxAuth, pyx_env: dict[str, str], argv: tuple[str, ...]
) -> None:
    result = run_pyx_auth("login", *argv)

    assert result.returncode == 2
    assert "sk-pyx-secret-value" not in result.stderr
    assert "never from the command line" in result.stderr


def test_login_notes_an_earlier_source_hides_it(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str], browser: Path
) -> None:
    env = {**os.environ, "BROWSER": str(browser), "PYX_API_KEY": "sk-pyx-test"}
    result = run_pyx_auth("login", env=env)

    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[-1] == (
        "note: pyx-auth does not use this login while an earlier source is configured"
        " (PYX_API_KEY set)"
    )


def test_login_is_used_by_uv_and_refresh_stays_shared(
    uv: str,
    run_pyx_auth: RunPyxAuth,
    emulator: PyxEmulator,
    pyx_env: dict[str, str],
    browser: Path,
) -> None:
    assert run_pyx_auth("login", env={**os.environ, "BROWSER": str(browser)}).returncode == 0
    before = json.loads((_store() / "tokens.json").read_text())

    by_uv = subprocess.run(
        [uv, "auth", "token", "pyx.dev"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )

    assert by_uv.returncode == 0, by_uv.stderr
    assert emulator.verify(by_uv.stdout.strip()) is not None
    assert emulator.counts()["login"] == 1  # uv did not start a login of its own
    rotated = json.loads((_store() / "tokens.json").read_text())
    assert rotated["refresh_token"] != before["refresh_token"]  # uv refreshed and wrote back

    # pyx-auth refreshes with the pair uv rotated: the login survived both tools.
    emulator.token_lifetime = 3 * 3600  # so that the refreshed token meets --min-ttl
    again = run_pyx_auth("token", "--min-ttl", "2h")
    assert again.returncode == 0, again.stderr
    assert emulator.verify(again.stdout.strip()) is not None
    assert emulator.counts()["refresh"] == 2
