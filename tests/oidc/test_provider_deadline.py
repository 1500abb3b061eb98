"""A CI whose token service hangs ends the run within ``PYX_AUTH_TIMEOUT``, naming the CI.

The hangs are real: for GitHub Actions a local server that accepts the connection and never
answers; for Buildkite a stand-in ``buildkite-agent`` (the real agent cannot run outside a
Buildkite job) that sleeps instead of answering, through a child process that keeps its output
pipes open; for a ``PYX_OIDC_TOKEN_FILE``, a FIFO whose writer never writes. GitLab (and
``PYX_OIDC_TOKEN``) make no call of their own that could hang: their token is a variable. For
every provider, the next call, the exchange at pyx, is bounded by the same budget and names it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ci_identity import GENERIC_CLAIMS, buildkite_env, github_env, gitlab_env
from conftest import RunPyxAuth
from pyx_auth.emulator import PyxEmulator
from pyx_auth.errors import PyxAuthError
from pyx_auth.oidc import buildkite, generic, github, gitlab

AUDIENCE = "pyx:trusted-access"
TIMEOUT = 2
STANDIN_HUNG_AGENT = """#!/bin/sh
# Stand-in for a hung buildkite-agent (the real one runs only inside a Buildkite job): it
# waits on a child that holds stdout and stderr open, never answering; both pids are recorded.
echo $$ > "$HUNG_AGENT_PIDS"
sleep 60 &
echo $! >> "$HUNG_AGENT_PIDS"
wait
"""


@pytest.fixture
def silent_server() -> Iterator[str]:
    """``http://127.0.0.1:<port>``: accepts every connection, reads nothing, never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    listener.close()


def _hung_github(emulator: PyxEmulator, silent_server: str, tmp_path: Path) -> dict[str, str]:
    return {
        **github_env(emulator),
        "ACTIONS_ID_TOKEN_REQUEST_URL": f"{silent_server}/idtoken?api-version=2.0",
    }


def _hung_buildkite(emulator: PyxEmulator, silent_server: str, tmp_path: Path) -> dict[str, str]:
    environ = buildkite_env(emulator, tmp_path / "bin")
    agent = tmp_path / "bin" / "buildkite-agent"
    agent.write_text(STANDIN_HUNG_AGENT)
    agent.chmod(0o755)
    return {**environ, "HUNG_AGENT_PIDS": str(tmp_path / "agent.pids")}


HUNG_CI: dict[str, tuple[str, Callable[[PyxEmulator, str, Path], dict[str, str]]]] = {
    "github": (github.NAME, _hung_github),
    "buildkite": (buildkite.NAME, _hung_buildkite),
}


def _gone(pid: int) -> bool:
    """True once no process has ``pid`` (or only a zombie waiting for its parent)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return True
    return state == "Z"


def _startup(run_pyx_auth: RunPyxAuth) -> float:
    """How long pyx-auth takes to start on this (shared, loaded) machine: the run's deadline
    is counted from after start-up, so the bound below adds it."""
    started = time.monotonic()
    assert run_pyx_auth("--version").returncode == 0
    return time.monotonic() - started


@pytest.mark.parametrize("ci", sorted(HUNG_CI))
def test_hanging_oidc_provider_ends_the_run_within_the_timeout(
    ci: str,
    run_pyx_auth: RunPyxAuth,
    emulator: PyxEmulator,
    pyx_env: dict[str, str],
    silent_server: str,
    tmp_path: Path,
) -> None:
    name, hang = HUNG_CI[ci]
    environ = {
        **os.environ,
        **hang(emulator, silent_server, tmp_path),
        "PYX_AUTH_TIMEOUT": str(TIMEOUT),
    }
    startup = _startup(run_pyx_auth)
    started = time.monotonic()
    result = run_pyx_auth("token", "--workspace", "acme", env=environ)
    elapsed = time.monotonic() - started

    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(f"pyx-auth: {name}: "), result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert " in time" in result.stderr and "set PYX_AUTH_TIMEOUT to wait longer" in result.stderr
    for secret in ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "BUILDKITE_AGENT_ACCESS_TOKEN"):
        if secret in environ:
            assert environ[secret] not in result.stderr
    assert "api-version" not in result.stderr, "the URL is shown without its query"
    assert elapsed < TIMEOUT + 1 + startup, (elapsed, startup)
    assert emulator.counts()["mint-token"] == 0


def test_hung_agent_is_killed_with_its_children(
    run_pyx_auth: RunPyxAuth,
    emulator: PyxEmulator,
    pyx_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """No orphaned agent keeps running (and holding a CI job's credentials) after the run."""
    # 4 s: the agent must start, even on a loaded machine, before the run's budget is gone.
    environ = {**os.environ, **_hung_buildkite(emulator, "", tmp_path), "PYX_AUTH_TIMEOUT": "4"}
    result = run_pyx_auth("token", "--workspace", "acme", env=environ)
    assert result.returncode == 2, result.stderr
    pids = [int(pid) for pid in (tmp_path / "agent.pids").read_text().split()]
    assert len(pids) == 2, "the agent and its child"
    give_up = time.monotonic() + 5
    while not all(_gone(pid) for pid in pids) and time.monotonic() < give_up:
        time.sleep(0.05)
    assert all(_gone(pid) for pid in pids)


@pytest.fixture
def silent_fifo(tmp_path: Path) -> Iterator[Path]:
    """A FIFO that a writer holds open and never writes to: reading it blocks forever."""
    path = tmp_path / "token.fifo"
    os.mkfifo(path)
    writer = subprocess.Popen(["sh", "-c", f"exec 3>'{path}'; sleep 60"])
    yield path
    writer.kill()
    writer.wait()


def test_provider_detect_gives_up_at_the_deadline(
    emulator: PyxEmulator, silent_server: str, silent_fifo: Path, tmp_path: Path
) -> None:
    """Each provider's ``detect`` alone, with one second left: it raises, naming itself."""
    cases = [
        (github, _hung_github(emulator, silent_server, tmp_path)),
        (buildkite, _hung_buildkite(emulator, silent_server, tmp_path)),
        (generic, {"PYX_OIDC_TOKEN_FILE": str(silent_fifo)}),
    ]
    for provider, environ in cases:
        started = time.monotonic()
        with pytest.raises(PyxAuthError) as caught:
            provider.detect(AUDIENCE, environ, started + 1)
        assert time.monotonic() - started < 1.5, provider.NAME
        assert str(caught.value).startswith(f"{provider.NAME}: "), str(caught.value)


CI_JOBS: dict[str, tuple[str, Callable[[PyxEmulator, Path], dict[str, str]]]] = {
    "generic": (
        generic.NAME,
        lambda emulator, tmp: {"PYX_OIDC_TOKEN": emulator.issue_oidc_token(GENERIC_CLAIMS)},
    ),
    "github": (github.NAME, lambda emulator, tmp: github_env(emulator)),
    "buildkite": (buildkite.NAME, lambda emulator, tmp: buildkite_env(emulator, tmp / "bin")),
    "gitlab": (gitlab.NAME, lambda emulator, tmp: gitlab_env(emulator)),
}


@pytest.mark.parametrize("ci", sorted(CI_JOBS))
def test_hanging_exchange_ends_the_run_within_the_timeout_naming_the_ci(
    ci: str,
    run_pyx_auth: RunPyxAuth,
    emulator: PyxEmulator,
    pyx_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """The OIDC token came; pyx's mint-token endpoint then hangs: the one budget still holds."""
    name, job = CI_JOBS[ci]
    emulator.add_accessor("acme", repository="acme/*")
    emulator.fail_next("mint-token", hang=20)
    environ = {**os.environ, **job(emulator, tmp_path), "PYX_AUTH_TIMEOUT": str(TIMEOUT)}
    startup = _startup(run_pyx_auth)
    started = time.monotonic()
    result = run_pyx_auth("token", "--workspace", "acme", env=environ)
    elapsed = time.monotonic() - started

    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(f"pyx-auth: Trusted Access ({name}): "), result.stderr
    assert f"/mint-token did not answer within {TIMEOUT} s" in result.stderr
    assert result.stderr.count("\n") == 1 and "eyJ" not in result.stderr
    assert elapsed < TIMEOUT + 1 + startup, (elapsed, startup)
