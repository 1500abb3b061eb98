"""``PYX_AUTH_DEBUG=1``: one stderr line per decision, never a secret; off, not a line."""

from __future__ import annotations

import os

import pytest

from bazel_client import gson_request
from conftest import EMULATOR_API_KEY, RunPyxAuth, write_uv_login
from pyx_auth.emulator import PyxEmulator
from pyx_auth.settings import Settings

PREFIX = "pyx-auth: debug: "


def _trace(stderr: str) -> list[str]:
    lines = stderr.splitlines()
    assert all(line.startswith(PREFIX) for line in lines), stderr
    return [line.removeprefix(PREFIX) for line in lines]


def test_trace_says_which_source_and_why_the_earlier_one_was_skipped(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, api_key_env: dict[str, str]
) -> None:
    env = {**api_key_env, "PYX_AUTH_DEBUG": "1"}
    first = run_pyx_auth("token", env=env)
    assert first.returncode == 0, first.stderr
    trace = _trace(first.stderr)
    assert trace[:3] == [
        "skipped PYX_AUTH_TOKEN: PYX_AUTH_TOKEN not set",
        "source: PYX_API_KEY set",
        "cache miss: nothing cached, 5 min wanted",
    ]
    assert any(line.startswith("took the lock ") for line in trace)
    second = _trace(run_pyx_auth("token", env=env).stderr)
    assert second[1:2] == ["source: PYX_API_KEY set"]
    assert second[2].startswith("cache hit: ") and second[2].endswith(" min left")
    longer = run_pyx_auth("token", "--min-ttl", "2h", env=env).stderr  # fails: pyx's live 1 h
    assert f"{PREFIX}cache miss: only 60 min left, 120 min wanted\n" in longer
    token = first.stdout.strip()
    for secret in (token, EMULATOR_API_KEY):
        assert secret not in first.stderr + run_pyx_auth("status", env=env).stderr


def test_trace_of_a_bazel_get_names_the_host_and_keeps_stdout_the_answer(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    access, refresh = emulator.issue_tokens()
    write_uv_login(access, refresh)
    request = gson_request(f"{emulator.url}/simple/acme/main/")
    plain = run_pyx_auth("get", input=request)
    traced = run_pyx_auth("get", input=request, env={**os.environ, "PYX_AUTH_DEBUG": "1"})
    assert traced.returncode == 0 and traced.stdout == plain.stdout
    trace = _trace(traced.stderr)
    assert trace[0] == f"{emulator.url} is a pyx host"
    assert "source: uv login in " in trace[-2] and trace[-1].startswith("cache hit: ")
    assert [line.split(":")[0] for line in trace[1:-2]] == [
        "skipped PYX_AUTH_TOKEN", "skipped PYX_API_KEY", "skipped Trusted Access", "skipped keyring"
    ]
    assert access not in traced.stderr and refresh not in traced.stderr
    other = run_pyx_auth(
        "get", input=gson_request("https://user:pw@example.com/x?t=secret"),
        env={**os.environ, "PYX_AUTH_DEBUG": "1"},
    )
    assert _trace(other.stderr) == ["https://example.com is not a pyx host: uv's answer"]


@pytest.mark.parametrize("value", ["", "0", "false"])
def test_debug_off_prints_nothing(
    run_pyx_auth: RunPyxAuth, api_key_env: dict[str, str], value: str
) -> None:
    result = run_pyx_auth("token", env={**api_key_env, "PYX_AUTH_DEBUG": value})
    assert result.returncode == 0 and result.stderr == ""
    assert Settings({"PYX_AUTH_DEBUG": value}).debug is False
