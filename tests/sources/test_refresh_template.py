"""The one refresh template (``sources.base.StoredToken.renew``): what it does with what it
finds under the lock, and that a rotated refresh token always reaches disk.

Real parts only: the pyx-auth executable, the emulator as pyx, uv 0.12.6, and ``flock`` on
uv's own lock file to hold a caller at the lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess

from conftest import RunPyxAuth, pyx_auth_argv, run_concurrently, start_pyx_auth, write_uv_login
from pyx_auth.emulator import PyxEmulator


def _uv_token(uv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [uv, "auth", "token", "pyx.dev"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_a_token_renewed_while_waiting_for_the_lock_is_used_not_refreshed_again(
    emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    _, refresh = emulator.issue_tokens()
    tokens = write_uv_login(emulator.mint_access_token(lifetime=60), refresh)
    # What another process (uv, or pyx-auth) writes meanwhile: new, valid, but like every token
    # of a short-lived deployment inside the 5-minute margin.
    renewed = emulator.mint_access_token(lifetime=120)
    lock = os.open(tokens.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    with start_pyx_auth(
        "token", env={**os.environ, "PYX_AUTH_DEBUG": "1", "PYX_AUTH_TIMEOUT": "30"}
    ) as process:
        assert process.stderr is not None
        trace = []
        for line in process.stderr:  # wait until it has read the stale token and gone for the lock
            trace.append(line)
            if "cache miss" in line:
                break
        tokens.write_text(json.dumps({"access_token": renewed, "refresh_token": refresh}))
        fcntl.flock(lock, fcntl.LOCK_UN)
        os.close(lock)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, "".join(trace) + err
    assert out.strip() == renewed
    assert emulator.counts()["refresh"] == 0
    assert "another process renewed it" in err


def test_a_longer_minimum_than_the_changed_token_has_still_refreshes(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    """The margin rule is for the usual margin only: an explicit --min-ttl is still met."""
    _, refresh = emulator.issue_tokens()
    write_uv_login(emulator.mint_access_token(lifetime=120), refresh)
    result = run_pyx_auth("token", "--min-ttl", "30m")
    assert result.returncode == 0, result.stderr
    assert emulator.counts()["refresh"] == 1


def test_a_refresh_answer_with_a_bad_access_token_still_saves_the_rotated_refresh_token(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str], uv: str
) -> None:
    _, refresh = emulator.issue_tokens()
    tokens = write_uv_login(emulator.mint_access_token(lifetime=60), refresh)
    _, rotated = emulator.issue_tokens()  # what pyx rotated to, sent with an unusable token
    answer = {"access_token": "not a header\r\nX-Evil: 1", "refresh_token": rotated}
    emulator.fail_next("refresh", body=json.dumps(answer).encode())

    failed = run_pyx_auth("token")
    assert failed.returncode == 2 and failed.stdout == ""
    assert failed.stderr.count("\n") == 1 and "the new refresh token was saved" in failed.stderr
    assert "not a header" not in failed.stderr and rotated not in failed.stderr
    assert json.loads(tokens.read_text())["refresh_token"] == rotated

    # The login survived: pyx-auth refreshes with the saved token, and so does uv 0.12.6.
    again = run_pyx_auth("token")
    assert again.returncode == 0, again.stderr
    assert emulator.verify(again.stdout.strip()) is not None
    saved = json.loads(tokens.read_text())["refresh_token"]
    write_uv_login(emulator.mint_access_token(lifetime=60), saved)  # stale again, for uv
    by_uv = _uv_token(uv)
    assert by_uv.returncode == 0, by_uv.stderr
    assert emulator.verify(by_uv.stdout.strip()) is not None
    assert emulator.counts()["refresh"] == 3  # the faulty answer, pyx-auth's and uv's; none refused


def test_stale_store_file_is_refreshed_once_and_traced(
    emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    _, refresh = emulator.issue_tokens()
    write_uv_login(emulator.mint_access_token(lifetime=60), refresh)
    result = subprocess.run(
        [*pyx_auth_argv(), "token"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYX_AUTH_DEBUG": "1"},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "took the lock" in result.stderr and "another process" not in result.stderr
    assert emulator.counts()["refresh"] == 1


def test_sixteen_callers_with_tokens_shorter_than_the_margin_refresh_at_most_twice(
    emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    emulator.token_lifetime = 120  # every token pyx issues is inside the 5-minute margin
    emulator.latency = 0.3
    _, refresh = emulator.issue_tokens()
    write_uv_login(emulator.mint_access_token(lifetime=60), refresh)
    env = {**os.environ, "PYX_AUTH_TIMEOUT": "60"}
    results = run_concurrently(16, env, "token")
    assert [r.returncode for r in results] == [0] * 16, [r.stderr for r in results if r.stderr]
    assert all(emulator.verify(r.stdout.strip()) is not None for r in results)
    assert 1 <= emulator.counts()["refresh"] <= 2
