"""pyx-auth and real uv 0.12.6 share one store: each reuses and refreshes the other's tokens.

uv is the real binary from the ``uv==0.12.6`` wheel (the ``test`` extra), pointed at the
emulator with ``PYX_API_URL``; nothing about it is mocked.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.request
from pathlib import Path

from conftest import EMULATOR_API_KEY, RunPyxAuth
from pyx_auth.emulator import PyxEmulator
from pyx_auth.settings import Settings
from pyx_auth.store import store_directory


def _uv(uv: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [uv, *args],
        capture_output=True,
        text=True,
        env=dict(os.environ if env is None else env),
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def _uv_login(uv: str) -> None:
    """``uv auth login pyx.dev`` headless: read the URL it prints and open it as a user would."""
    with subprocess.Popen(
        [uv, "auth", "login", "pyx.dev"],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ),
    ) as process:
        try:
            assert process.stderr is not None
            for line in process.stderr:
                match = re.search(r"(http://\S+/auth/cli/login/\S+)", line)
                if match:
                    with urllib.request.urlopen(match.group(1)) as page:
                        page.read()
                    break
            assert process.wait(timeout=30) == 0
        finally:
            process.kill()


def _tokens(store: Path) -> dict[str, str]:
    data = json.loads((store / "tokens.json").read_text())
    assert isinstance(data, dict)
    return data


def test_uv_login_is_read_refreshed_and_handed_back(
    uv: str, run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    store = Path(store_directory(Settings(dict(os.environ))))
    _uv_login(uv)
    logged_in = _tokens(store)

    # pyx-auth uses uv's fresh token as is.
    first = run_pyx_auth("token")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == logged_in["access_token"]
    assert emulator.counts()["refresh"] == 0

    # pyx-auth refreshes and writes the rotated single-use refresh token back.
    emulator.token_lifetime = 3 * 3600  # so that refreshed tokens meet --min-ttl
    forced = run_pyx_auth("token", "--min-ttl", "2h")
    assert forced.returncode == 0, forced.stderr
    after_pyx_auth = _tokens(store)
    assert after_pyx_auth["refresh_token"] != logged_in["refresh_token"]
    assert emulator.counts()["refresh"] == 1

    # uv refreshes (its `auth token` always does) with the rotated token and succeeds.
    by_uv = _uv(uv, "auth", "token", "pyx.dev")
    assert by_uv.returncode == 0, by_uv.stderr
    assert emulator.verify(by_uv.stdout.strip()) is not None
    after_uv = _tokens(store)
    assert after_uv["refresh_token"] != after_pyx_auth["refresh_token"]
    assert emulator.counts()["refresh"] == 2

    # ... and the other way round: pyx-auth refreshes with the pair uv rotated.
    emulator.token_lifetime = 4 * 3600  # uv's token (3 h) is stale for 3h30m, the next is not
    again = run_pyx_auth("token", "--min-ttl", "3h30m")
    assert again.returncode == 0, again.stderr
    assert _tokens(store)["access_token"] == again.stdout.strip()
    assert emulator.counts()["refresh"] == 3
    assert emulator.counts()["login"] == 1  # no second browser login anywhere


def test_api_key_token_cached_by_pyx_auth_is_reused_by_uv(
    uv: str, run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    env = {**os.environ, "PYX_API_KEY": EMULATOR_API_KEY}
    token = run_pyx_auth("token", env=env).stdout.strip()
    assert emulator.counts()["access-token"] == 1
    helper = subprocess.run(
        [uv, "--preview-features", "auth-helper", "auth", "helper", "--protocol=bazel", "get"],
        input=json.dumps({"uri": f"{emulator.url}/simple/acme/main/"}),
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert helper.returncode == 0, helper.stderr
    assert json.loads(helper.stdout)["headers"]["Authorization"] == [f"Bearer {token}"]
    assert emulator.counts()["access-token"] == 1


def test_api_key_token_cached_by_uv_is_reused_by_pyx_auth(
    uv: str, run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    env = {**os.environ, "PYX_API_KEY": EMULATOR_API_KEY}
    by_uv = _uv(uv, "auth", "token", "pyx.dev", env=env)
    assert by_uv.returncode == 0, by_uv.stderr
    assert emulator.counts()["access-token"] == 1
    mine = run_pyx_auth("token", env=env)
    assert mine.stdout.strip() == by_uv.stdout.strip()
    assert emulator.counts()["access-token"] == 1
