"""The one refresh template (``sources.base.StoredToken.renew``): what it does with what it
finds under the lock, and that a rotated refresh token always reaches disk.

Real parts only: the pyx-auth executable, the emulator as pyx, uv 0.12.6, and ``flock`` on
uv's own lock file to hold a caller at the lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from conftest import RunPyxAuth, pyx_auth_argv, run_concurrently, start_pyx_auth, write_uv_login
from pyx_auth.emulator import PyxEmulator
from pyx_auth.errors import NetworkError, StoreError
from pyx_auth.settings import REFRESH_MARGIN, Settings
from pyx_auth.sources.base import Lookup, StoredToken, Token


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
    waited = re.search(r"took the lock \S+tokens\.lock after (\d+\.\d\d) s", result.stderr)
    assert waited is not None, result.stderr
    assert 0 <= float(waited.group(1)) < 60  # no one held it: the wait the run really had
    assert "another process" not in result.stderr
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


# -- the time budget: lock wait, then a request only with the time kept for it --------------


class _CountingSource(StoredToken):
    """A stand-in pyx source with nothing cached: the template around ``fetch`` is what is
    under test here, so ``fetch`` only counts its calls."""

    def __init__(self, lookup: Lookup) -> None:
        super().__init__(lookup, "fake.json")
        self.fetches = 0

    def read(self) -> Token | None:
        return None

    def fetch(self, deadline: float) -> Token:
        self.fetches += 1
        return Token("fetched", "fake", expires=int(time.time()) + 3600)

    def describe(self) -> str:
        return "fake source"


def _source(tmp_path: Path, timeout: str = "10") -> _CountingSource:
    settings = Settings({"PYX_CREDENTIALS_DIR": str(tmp_path / "s"), "PYX_AUTH_TIMEOUT": timeout})
    return _CountingSource(Lookup(settings))


class _ChangedSource(_CountingSource):
    """Finds, under the lock, the token another process wrote meanwhile."""

    def __init__(self, lookup: Lookup, found: Token) -> None:
        super().__init__(lookup)
        self.found = found

    def read(self) -> Token | None:
        return self.found


@pytest.mark.parametrize(("left", "used"), [(0.5, True), (-0.5, False)])
def test_a_token_another_process_wrote_is_used_while_it_has_any_life_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, left: float, used: bool
) -> None:
    """Each refresh spends a single-use refresh token: a new token found under the lock is
    used, however short its life, rather than refreshed again; an expired one is not."""
    exp = 1_900_000_000
    monkeypatch.setattr(time, "time", lambda: exp - left)
    found = Token("new", "fake", expires=exp)
    stale = Token("old", "fake", expires=exp - 3600)
    settings = Settings({"PYX_CREDENTIALS_DIR": str(tmp_path / "s"), "PYX_AUTH_TIMEOUT": "10"})
    source = _ChangedSource(Lookup(settings), found)
    token = source.renew(REFRESH_MARGIN, time.monotonic() + 9, stale)
    assert (token is found, source.fetches) == (used, 0 if used else 1)


@pytest.mark.parametrize(
    ("timeout", "too_little", "enough"),
    [("10", 1.5, 2.5), ("3", 1.2, 1.8)],
    ids=["2s-of-10", "half-of-3"],
)
def test_a_refresh_is_not_started_without_the_time_kept_for_the_request(
    tmp_path: Path, timeout: str, too_little: float, enough: float
) -> None:
    """A request gets 2 s of the budget, or half of a shorter one: with less left a refresh
    cut short could spend a single-use refresh token and lose its successor, so none is
    started."""
    source = _source(tmp_path, timeout)
    with pytest.raises(NetworkError, match="time budget"):
        source.renew(REFRESH_MARGIN, time.monotonic() + too_little, None)
    assert source.fetches == 0
    assert source.renew(REFRESH_MARGIN, time.monotonic() + enough, None).value == "fetched"


def test_the_lock_wait_ends_in_time_to_keep_the_request_budget(tmp_path: Path) -> None:
    """uv's lock wait is 300 s by default; under a 4 s deadline pyx-auth gives up on a holder
    that keeps the lock with the request's share (2 s) of the budget still left."""
    source = _source(tmp_path)
    source.store.ensure_directory()
    holder = os.open(source.store.path("fake.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(holder, fcntl.LOCK_EX)
    done = threading.Event()

    def let_go() -> None:
        done.wait(8)  # after the deadline at the latest, so a wrong wait cannot hang
        fcntl.flock(holder, fcntl.LOCK_UN)

    release = threading.Thread(target=let_go)
    release.start()
    try:
        started = time.monotonic()
        deadline = started + 4
        with pytest.raises(StoreError, match="held"):
            source.renew(REFRESH_MARGIN, deadline, None)
        assert deadline - time.monotonic() >= 1.0  # time left for a request
        assert time.monotonic() - started >= 1.5  # and it did wait for the holder first
        assert source.fetches == 0
    finally:
        done.set()
        release.join()
        os.close(holder)


# -- the single-use refresh token ---------------------------------------------------------------


def test_the_refresh_token_is_read_after_the_lock_so_a_rotated_one_is_used(
    emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    """While pyx-auth waits for the lock, uv refreshes: the refresh token pyx-auth saw first
    is spent. Read under the lock, the rotated one is used, and the login survives."""
    _, first = emulator.issue_tokens()
    tokens = write_uv_login(emulator.mint_access_token(lifetime=60), first)
    lock = os.open(tokens.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    with subprocess.Popen(
        [*pyx_auth_argv(), "token"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYX_AUTH_DEBUG": "1", "PYX_AUTH_TIMEOUT": "30"},
    ) as process:
        assert process.stderr is not None
        for line in process.stderr:  # it has read the stale pair and gone for the lock
            if "cache miss" in line:
                break
        # uv's refresh, as uv sends it, while it holds the lock: `first` is spent now
        answer = httpx.post(f"{emulator.url}/auth/cli/refresh", json={"refresh_token": first})
        rotated = answer.json()["refresh_token"]
        expired = emulator.mint_access_token(lifetime=-10)
        tokens.write_text(json.dumps({"access_token": expired, "refresh_token": rotated}))
        fcntl.flock(lock, fcntl.LOCK_UN)
        os.close(lock)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert emulator.verify(out.strip()) is not None
    assert emulator.rejected_refresh_tokens == 0
    assert json.loads(tokens.read_text())["refresh_token"] not in (first, rotated)


def test_the_rotated_pair_is_saved_even_when_the_new_token_is_too_short(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    """pyx rotated the refresh token; its 10-minute access token misses ``--min-ttl 30m``.
    The command fails, but the new pair is on disk: the old refresh token is spent."""
    _, refresh = emulator.issue_tokens()
    tokens = write_uv_login(emulator.mint_access_token(lifetime=60), refresh)
    emulator.token_lifetime = 10 * 60
    result = run_pyx_auth("token", "--min-ttl", "30m")
    assert result.returncode == 2 and result.stdout == ""
    saved = json.loads(tokens.read_text())
    assert saved["refresh_token"] != refresh
    assert emulator.verify(saved["access_token"]) is not None
    again = run_pyx_auth("token")  # the usual 5-minute margin: the saved token serves
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == saved["access_token"]
    assert emulator.counts()["refresh"] == 1
