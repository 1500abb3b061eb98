"""``detached.spend_detached``: the exchange outlives its caller, and the caller learns the result.

Each case runs in a fresh Python process, because the test process has threads (the
emulator's), and with threads running ``spend_detached`` rightly refuses to fork.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from pyx_auth.detached import SLOW_MESSAGE

CALLER = """
import json, os, sys, time
from pyx_auth import errors
from pyx_auth.detached import spend_detached
record, mode, budget = sys.argv[1], sys.argv[2], float(sys.argv[3])

def spend(bound):
    time.sleep(0.5 if mode == "slow" else 0)
    with open(record, "w") as handle:
        json.dump({
            "pid": os.getpid(), "sid": os.getsid(0),
            "stdout": os.readlink("/proc/self/fd/1"),
            "bound_left": bound - time.monotonic(),
        }, handle)
    if mode == "fail":
        raise errors.CredentialRejectedError("pyx refused the refresh token")
    if mode == "crash":
        raise RuntimeError("a bug with a secret-looking text: sk-pyx-123")
    return "the-access-token"

def zombie_children():
    count = 0
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            continue
        count += fields[0] == "Z" and fields[1] == str(os.getpid())
    return count

try:
    print(spend_detached(spend, time.monotonic() + budget), flush=True)
    print(zombie_children(), flush=True)
except errors.PyxAuthError as exc:
    print(type(exc).__name__, exc, file=sys.stderr)
    sys.exit(2)
"""


def _call(record: Path, mode: str, budget: float = 10) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CALLER, str(record), mode, str(budget)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _record(record: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(record.read_text())
    return data


def test_spend_detached_returns_the_childs_result_from_its_own_session(tmp_path: Path) -> None:
    result = _call(tmp_path / "record.json", "ok")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "the-access-token\n0\n"  # the result, and no zombie left
    child = _record(tmp_path / "record.json")
    assert child["sid"] == child["pid"]  # a session leader: a kill of the caller's group misses it
    assert child["stdout"] == os.devnull  # not the caller's pipe, which Bazel reads to EOF
    assert isinstance(child["bound_left"], float) and child["bound_left"] > 50  # its own bound


def test_spend_detached_raises_the_childs_error_as_the_same_class(tmp_path: Path) -> None:
    result = _call(tmp_path / "record.json", "fail")
    assert result.returncode == 2
    assert result.stderr == "CredentialRejectedError pyx refused the refresh token\n"


def test_spend_detached_reports_an_unexpected_failure_without_its_text(tmp_path: Path) -> None:
    result = _call(tmp_path / "record.json", "crash")
    assert result.returncode == 2
    assert result.stderr == "PyxAuthError the background refresh failed\n"


def test_spend_detached_gives_up_at_the_deadline_while_the_child_finishes(tmp_path: Path) -> None:
    record = tmp_path / "record.json"
    started = time.monotonic()
    result = _call(record, "slow", budget=0.1)
    assert result.returncode == 2
    assert result.stderr == f"NetworkError {SLOW_MESSAGE}\n"
    give_up = started + 30
    while not record.exists() and time.monotonic() < give_up:
        time.sleep(0.05)
    assert record.exists(), "the child did not finish after its caller gave up"


def test_spend_detached_runs_in_place_when_threads_are_running() -> None:
    """Forking a process with other threads is unsafe: then the caller spends it itself."""
    import threading

    from pyx_auth.detached import spend_detached

    assert threading.active_count() >= 1
    blocker = threading.Event()
    thread = threading.Thread(target=blocker.wait, daemon=True)
    thread.start()
    try:
        assert spend_detached(lambda bound: str(os.getpid()), time.monotonic() + 5) == str(
            os.getpid()
        )
    finally:
        blocker.set()
        thread.join()
