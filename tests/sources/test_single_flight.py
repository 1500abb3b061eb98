"""Many processes, one refresh: the flock on uv's lock file plus a re-read after locking."""

from __future__ import annotations

import json
import os
import subprocess

from conftest import EMULATOR_API_KEY, pyx_auth_argv, write_uv_login
from pyx_auth.emulator import PyxEmulator


def _run_concurrently(count: int, env: dict[str, str]) -> list[subprocess.CompletedProcess[str]]:
    processes = [
        subprocess.Popen(
            [*pyx_auth_argv(), "token"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        for _ in range(count)
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return results


def test_fifty_cold_processes_make_one_exchange(
    emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    emulator.latency = 1.0  # a slow pyx: every process piles up on the lock meanwhile
    env = {**os.environ, "PYX_API_KEY": EMULATOR_API_KEY, "PYX_AUTH_TIMEOUT": "60"}
    results = _run_concurrently(50, env)
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
    results = _run_concurrently(20, {**os.environ, "PYX_AUTH_TIMEOUT": "60"})
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    assert len({r.stdout for r in results}) == 1
    assert emulator.counts()["refresh"] == 1
    saved = json.loads(tokens.read_text())
    assert saved["access_token"] == results[0].stdout.strip()
