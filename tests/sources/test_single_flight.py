"""Many processes, one refresh: the flock on uv's lock file plus a re-read after locking."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import EMULATOR_API_KEY, RunPyxAuth, run_concurrently, write_uv_login
from pyx_auth.emulator import PyxEmulator
from pyx_auth.settings import Settings
from pyx_auth.store import api_key_file, store_directory


def test_fifty_cold_processes_make_one_exchange(
    emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    emulator.latency = 1.0  # a slow pyx: every process piles up on the lock meanwhile
    env = {**os.environ, "PYX_API_KEY": EMULATOR_API_KEY, "PYX_AUTH_TIMEOUT": "60"}
    results = run_concurrently(50, env, "token")
    assert [r.returncode for r in results] == [0] * 50, [r.stderr for r in results if r.returncode]
    tokens = {r.stdout for r in results}
    assert len(tokens) == 1
    assert emulator.verify(tokens.pop().strip()) is not None
    assert emulator.counts()["access-token"] == 1


def test_concurrent_refresh_spends_the_single_use_refresh_token_once(
    emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    _, refresh = emulator.issue_tokens()
    tokens = write_uv_login(emulator.mint_access_token(lifetime=30), refresh)
    emulator.latency = 0.5
    results = run_concurrently(20, {**os.environ, "PYX_AUTH_TIMEOUT": "60"}, "token")
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    assert len({r.stdout for r in results}) == 1
    assert emulator.counts()["refresh"] == 1
    saved = json.loads(tokens.read_text())
    assert saved["access_token"] == results[0].stdout.strip()


HOLDER = """
import fcntl, os, sys, time
lock, cache, token, hold = sys.argv[1:5]
fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(float(hold))
with open(cache, "w") as handle:
    handle.write(token)
"""


@pytest.fixture
def slow_holder(emulator: PyxEmulator, pyx_env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """A process that holds the API key's lock for 3 s, then caches a fresh token, as a
    refreshing pyx-auth or uv on a starved CPU would."""
    store = Path(store_directory(Settings(dict(os.environ))))
    store.mkdir(parents=True, mode=0o700)
    cache = store / api_key_file(EMULATOR_API_KEY)
    token = emulator.mint_access_token("holder")
    argv = [sys.executable, "-c", HOLDER, str(cache.with_suffix(".lock")), str(cache), token, "3"]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as holder:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        try:
            yield holder
        finally:
            holder.send_signal(signal.SIGCONT)
            holder.kill()


def test_a_waiter_outlasts_its_own_budget_while_the_holder_runs(
    slow_holder: subprocess.Popen[str], run_pyx_auth: RunPyxAuth, emulator: PyxEmulator
) -> None:
    """Its lock budget is 1 s (PYX_AUTH_TIMEOUT=2 less 1 s for a request); the holder needs 3 s."""
    env = {**os.environ, "PYX_API_KEY": EMULATOR_API_KEY, "PYX_AUTH_TIMEOUT": "2"}
    started = time.monotonic()
    result = run_pyx_auth("token", env=env)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started >= 2.5  # it really waited past its own budget
    assert (emulator.verify(result.stdout.strip()) or {}).get("sub") == "holder"
    assert emulator.counts()["access-token"] == 0  # the holder's result, no second exchange


def test_a_waiter_gives_up_on_a_stopped_holder_after_its_own_budget(
    slow_holder: subprocess.Popen[str], run_pyx_auth: RunPyxAuth, emulator: PyxEmulator
) -> None:
    slow_holder.send_signal(signal.SIGSTOP)  # Ctrl-Z on a uv or pyx-auth holding the lock
    env = {**os.environ, "PYX_API_KEY": EMULATOR_API_KEY, "PYX_AUTH_TIMEOUT": "2"}
    started = time.monotonic()
    result = run_pyx_auth("token", env=env)
    waited = time.monotonic() - started
    assert result.returncode == 2
    assert result.stderr.startswith("pyx-auth: another process (pyx-auth or uv refreshing")
    assert result.stderr.endswith("; try again\n")
    assert 1 <= waited < 2.9, waited  # its own budget, not the holder's 3 s
    assert emulator.counts()["access-token"] == 0
