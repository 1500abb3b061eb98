"""The fault matrix of issue 11: ordinary faults never cost a user's uv login.

Every row injects one fault around a refresh of a real uv login (the emulator as pyx), checks
what the user sees, and ends with the same proof, ``assert_login_survived``: a later
``pyx-auth token`` and uv 0.12.6's ``uv auth token`` both work without a new login, the store
holds only its two files, and the emulator saw no rejected refresh token.

Rows that need another user run pyx-auth and uv as a throwaway uid (``subprocess``'s
``user=``, as root); the full disk is a real tmpfs. Both need root: skipped elsewhere, failed
when ``PYX_AUTH_REQUIRE_TOOLS=1``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import EMULATOR_API_KEY, FROZEN_BIN, REQUIRE_TOOLS, pyx_auth_argv
from pyx_auth.detached import ENDED, SLOW_MESSAGE
from pyx_auth.emulator import PyxEmulator
from pyx_auth.settings import Settings
from pyx_auth.store import api_key_file, store_directory

OTHER_UID = 54321
"""A uid with no account: the throwaway user the permission rows run as."""
STRANGER_UID = 54322
"""Another user, who owns a planted store folder."""


def _need_root(why: str) -> None:
    if os.geteuid() != 0:
        message = f"needs root: {why}"
        if REQUIRE_TOOLS:
            pytest.fail(message)
        pytest.skip(message)


class World:
    """One user's view: the environment, the store folder, and how to run as that user."""

    def __init__(self, emulator: PyxEmulator, base: Path, uid: int | None = None) -> None:
        self.emulator = emulator
        self.uid = uid
        home = base / "home"
        home.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "HOME": str(home),
            "PYX_API_URL": emulator.url,
            "PYX_CREDENTIALS_DIR": str(base / "credentials"),
            "PYX_AUTH_TIMEOUT": "20",
        }
        self.store = Path(store_directory(Settings(self.env)))
        self.request = json.dumps({"uri": f"{emulator.url}/simple/acme/main/"})
        """A Bazel request for a pyx URI."""

    def seed_stale_login(self) -> str:
        """A uv login whose access token must be refreshed (below the 300 s margin)."""
        _, refresh = self.emulator.issue_tokens()
        self.store.mkdir(parents=True, exist_ok=True)
        os.chmod(self.store.parent, 0o700)
        os.chmod(self.store, 0o700)
        access = self.emulator.mint_access_token(lifetime=60)
        pair = {"access_token": access, "refresh_token": refresh}
        (self.store / "tokens.json").write_text(json.dumps(pair))
        self.give_back()
        return refresh

    def give_back(self) -> None:
        """Make everything under the base folder the user's again (as root, for a user)."""
        if self.uid is None:
            return
        base = self.store.parent.parent
        for folder, _, files in os.walk(base):
            os.chown(folder, self.uid, self.uid)
            for name in files:
                os.chown(os.path.join(folder, name), self.uid, self.uid, follow_symlinks=False)

    def run(
        self, *argv: str, input: str = "", env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(argv),
            input=input,
            capture_output=True,
            text=True,
            env=env or self.env,
            timeout=timeout,
            check=False,
            user=self.uid,
            group=self.uid,
            extra_groups=[] if self.uid is not None else None,
        )

    def pyx_auth_argv(self) -> list[str]:
        """pyx-auth as this user can start it: root's venv Python may sit under /root (0700)."""
        if self.uid is None or FROZEN_BIN:
            return pyx_auth_argv()
        python = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
        if not os.path.exists(python):
            pytest.skip(f"no {python} that another user can run")
        import pyx_auth

        self.env["PYTHONPATH"] = os.pathsep.join(
            (str(Path(pyx_auth.__file__).parent.parent), *sys.path[1:])
        )
        return [python, "-m", "pyx_auth"]

    def pyx_auth(self, *args: str, input: str = "") -> subprocess.CompletedProcess[str]:
        return self.run(*self.pyx_auth_argv(), *args, input=input)

    def files(self) -> list[str]:
        return sorted(os.listdir(self.store))


def assert_login_survived(world: World, uv: str) -> None:
    """The proof every row ends with: both tools still work on the same login, no new login."""
    emulator = world.emulator
    logins = emulator.counts()["login"]
    by_pyx_auth = world.pyx_auth("token")
    assert by_pyx_auth.returncode == 0, by_pyx_auth.stderr
    assert emulator.verify(by_pyx_auth.stdout.strip()) is not None
    refreshes = emulator.counts()["refresh"]
    by_uv = world.run(uv, "auth", "token", "pyx.dev")  # uv always refreshes here
    assert by_uv.returncode == 0, by_uv.stderr
    assert emulator.verify(by_uv.stdout.strip()) is not None
    assert emulator.counts()["refresh"] == refreshes + 1
    assert emulator.counts()["login"] == logins  # nobody had to log in again
    assert [name for name in world.files() if name.endswith(".tmp")] == []
    assert emulator.rejected_refresh_tokens == 0


@pytest.fixture
def world(emulator: PyxEmulator, tmp_path: Path) -> World:
    return World(emulator, tmp_path)


@pytest.fixture
def user_world(emulator: PyxEmulator) -> Iterator[World]:
    """A world owned by a throwaway non-root uid, outside root's private pytest folder."""
    _need_root("running as another user")
    base = Path(tempfile.mkdtemp(prefix="pyx-fault-"))
    try:
        os.chown(base, OTHER_UID, OTHER_UID)
        world = World(emulator, base, uid=OTHER_UID)
        world.give_back()
        yield world
    finally:
        shutil.rmtree(base)


# -- full disk, unwritable folder: check before you spend ---------------------------------------


def test_full_disk_at_refresh_time_sends_no_refresh_and_keeps_the_login(
    world: World, uv: str
) -> None:
    _need_root("mounting a tmpfs")
    world.store.parent.mkdir(parents=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(world.store.parent)],
        check=True,
    )
    try:
        world.seed_stale_login()
        filler = world.store.parent / "filler"
        with open(filler, "wb", buffering=0) as handle:  # fill the disk to the last block
            try:
                while True:
                    handle.write(b"x" * 4096)
            except OSError:
                pass
        before = (world.store / "tokens.json").read_text()
        failed = world.pyx_auth("token")
        assert failed.returncode == 2
        assert failed.stderr.startswith("pyx-auth: cannot reserve space for")
        assert "the refresh token was not sent and the login is unchanged" in failed.stderr
        assert failed.stderr.count("\n") == 1
        assert world.emulator.counts()["refresh"] == 0
        assert (world.store / "tokens.json").read_text() == before
        assert world.files() == ["tokens.json", "tokens.lock"]
        filler.unlink()
        assert_login_survived(world, uv)
    finally:
        subprocess.run(["umount", str(world.store.parent)], check=True)


def test_unwritable_store_folder_with_a_writable_lock_sends_no_refresh(
    user_world: World, uv: str
) -> None:
    user_world.seed_stale_login()
    (user_world.store / "tokens.lock").touch(0o600)
    user_world.give_back()
    os.chmod(user_world.store, 0o500)
    failed = user_world.pyx_auth("token")
    assert failed.returncode == 2
    assert failed.stderr.startswith(f"pyx-auth: cannot write in {user_world.store}:")
    assert user_world.emulator.counts()["refresh"] == 0
    os.chmod(user_world.store, 0o700)
    assert_login_survived(user_world, uv)


# -- a crash between write and rename ------------------------------------------------------------

KILL_AT_RENAME = """
import os, signal, sys
real_replace = os.replace
def replace(src, dst):
    if str(dst).endswith("tokens.json"):
        os.kill(os.getpid(), signal.SIGKILL)  # SIGKILL on the pid alone, as Bazel does
    real_replace(src, dst)
os.replace = replace
from pyx_auth.cli import main
sys.exit(main(["token"]))
"""


def test_kill_9_during_the_final_write_loses_nothing(world: World, uv: str) -> None:
    """The writer killed after the rotated pair is on disk, before the rename: the next run
    keeps it.

    The kill is timed by replacing ``os.replace`` in a real pyx-auth process (the Python
    package, so not with the frozen binary); everything else is the real refresh. The writer
    is the detached child (``detached.py``), so the caller reports that it died.
    """
    spent = world.seed_stale_login()
    killed = world.run(sys.executable, "-c", KILL_AT_RENAME)
    assert killed.returncode == 2
    assert killed.stderr == f"pyx-auth: {ENDED}\n"
    assert world.emulator.counts()["refresh"] == 1
    assert json.loads((world.store / "tokens.json").read_text())["refresh_token"] == spent
    (left,) = [name for name in world.files() if name.endswith(".tmp")]
    assert left.startswith(".tokens.json.pyx-auth-")
    rotated = json.loads((world.store / left).read_text())

    recovered = world.pyx_auth("token")
    assert recovered.returncode == 0, recovered.stderr
    assert recovered.stdout.strip() == rotated["access_token"]  # used, not refreshed again
    assert world.emulator.counts()["refresh"] == 1
    assert json.loads((world.store / "tokens.json").read_text()) == rotated
    assert world.files() == ["tokens.json", "tokens.lock"]
    assert_login_survived(world, uv)


# -- store files that are not what they claim to be ---------------------------------------------


def test_fifo_as_the_api_key_cache_is_a_miss_not_a_hang(world: World, uv: str) -> None:
    world.seed_stale_login()
    cache = world.store / api_key_file(EMULATOR_API_KEY)
    os.mkfifo(cache)
    env = {**world.env, "PYX_API_KEY": EMULATOR_API_KEY}
    answered = world.run(*pyx_auth_argv(), "get", input=world.request, env=env, timeout=10)
    assert answered.returncode == 0, answered.stderr
    assert "Bearer " in answered.stdout
    assert cache.is_file() and not cache.is_symlink()  # replaced by a regular 0600 file
    assert_login_survived(world, uv)


def test_fifo_as_tokens_json_is_a_clear_error_not_a_hang(world: World) -> None:
    world.store.mkdir(parents=True)
    os.mkfifo(world.store / "tokens.json")
    answered = world.pyx_auth("get", input=world.request)
    assert answered.returncode == 2
    assert answered.stderr.startswith("pyx-auth: no pyx credentials")
    # Nothing to prove about a login here: the FIFO took the login's place.


def test_fifo_as_uvs_credentials_file_is_a_clear_error_not_a_hang(world: World, uv: str) -> None:
    world.seed_stale_login()
    folder = Path(world.env["HOME"]) / "uvc"
    folder.mkdir()
    os.mkfifo(folder / "credentials.toml")
    env = {**world.env, "UV_CREDENTIALS_DIR": str(folder)}
    answered = world.run(
        *pyx_auth_argv(), "get", input='{"uri":"https://example.org/x"}', env=env, timeout=10
    )
    assert answered.returncode == 2
    assert answered.stderr == (
        f"pyx-auth: uv's credentials file {folder}/credentials.toml is not a regular file;"
        " remove it\n"
    )
    assert_login_survived(world, uv)


def test_dangling_symlink_as_the_lock_file_creates_nothing_and_sends_no_refresh(
    world: World, uv: str, tmp_path: Path
) -> None:
    world.seed_stale_login()
    target = tmp_path / "created-by-the-link"
    (world.store / "tokens.lock").symlink_to(target)
    failed = world.pyx_auth("token")
    assert failed.returncode == 2
    assert failed.stderr == (
        f"pyx-auth: the lock file {world.store}/tokens.lock is a symbolic link; remove it"
        " (pyx-auth recreates it)\n"
    )
    assert not target.exists() and not target.is_symlink()
    assert world.emulator.counts()["refresh"] == 0
    (world.store / "tokens.lock").unlink()
    assert_login_survived(world, uv)


def test_world_writable_store_folder_is_refused_with_the_fix(user_world: World, uv: str) -> None:
    user_world.seed_stale_login()
    os.chmod(user_world.store, 0o777)
    refused = user_world.pyx_auth("token")
    assert refused.returncode == 2
    assert refused.stderr == (
        f"pyx-auth: the token store {user_world.store} is writable by other users; fix it with"
        f" `chmod go-w {user_world.store}`\n"
    )
    assert user_world.emulator.counts()["refresh"] == 0
    fixed = user_world.run("chmod", "go-w", str(user_world.store))
    assert fixed.returncode == 0
    assert_login_survived(user_world, uv)


def test_store_folder_owned_by_another_user_is_refused_with_the_fix(
    user_world: World, uv: str
) -> None:
    planted = user_world.seed_stale_login()
    os.chown(user_world.store, STRANGER_UID, STRANGER_UID)
    os.chmod(user_world.store, 0o755)  # readable, as a planted folder would be
    started = time.monotonic()
    for argv in (("token",), ("get",)):
        refused = user_world.pyx_auth(*argv, input=user_world.request)
        assert refused.returncode == 2
        assert refused.stderr == (
            f"pyx-auth: the token store {user_world.store} belongs to another user"
            f" (uid {STRANGER_UID}); fix it with `chown -R {OTHER_UID} {user_world.store}`"
            " or remove it\n"
        )
        assert refused.stdout == ""
    assert time.monotonic() - started < 30
    assert user_world.emulator.counts()["refresh"] == 0
    assert json.loads((user_world.store / "tokens.json").read_text())["refresh_token"] == planted
    user_world.give_back()  # what the message says, done by the one who may (root)
    assert_login_survived(user_world, uv)


# -- a refresh pyx may have accepted always reaches disk ------------------------------------------


def _wait_for_rotation(world: World, spent: str, within: float = 30) -> None:
    """Wait until the detached child has written the rotated pair (its result reached disk)."""
    give_up = time.monotonic() + within
    while time.monotonic() < give_up:
        text = (world.store / "tokens.json").read_text()
        if text and json.loads(text)["refresh_token"] != spent:
            return
        time.sleep(0.05)
    pytest.fail("the rotated refresh token never reached tokens.json")


def test_kill_9_while_the_refresh_is_at_the_server(world: World, uv: str) -> None:
    """What Bazel does at --credential_helper_timeout: SIGKILL on the helper's pid alone."""
    spent = world.seed_stale_login()
    world.emulator.latency = 1.5
    request = world.store.parent.parent / "request.json"
    request.write_text(world.request)
    with request.open("rb") as stdin, subprocess.Popen(
        [*pyx_auth_argv(), "get"],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=world.env,
    ) as helper:
        give_up = time.monotonic() + 30
        while world.emulator.counts()["refresh"] == 0 and time.monotonic() < give_up:
            time.sleep(0.01)
        assert world.emulator.counts()["refresh"] == 1, "the refresh never reached pyx"
        os.kill(helper.pid, signal.SIGKILL)
        started = time.monotonic()
        out, _ = helper.communicate(timeout=10)  # EOF at once: no child holds Bazel's pipes
        assert time.monotonic() - started < 1
        assert helper.returncode == -signal.SIGKILL and out == b""
    # The next helper waits past its own 1 s lock budget for the orphaned refresh, and uses it.
    waiter = world.run(*pyx_auth_argv(), "token", env={**world.env, "PYX_AUTH_TIMEOUT": "2"})
    assert waiter.returncode == 0, waiter.stderr
    _wait_for_rotation(world, spent)
    assert json.loads((world.store / "tokens.json").read_text())["access_token"] == (
        waiter.stdout.strip()
    )
    assert world.emulator.counts()["refresh"] == 1
    assert_login_survived(world, uv)


def test_pyx_slower_than_the_budget_fails_with_one_line_and_keeps_the_login(
    world: World, uv: str
) -> None:
    spent = world.seed_stale_login()
    world.emulator.latency = 3.0
    slow = world.run(*pyx_auth_argv(), "token", env={**world.env, "PYX_AUTH_TIMEOUT": "2"})
    assert slow.returncode == 2
    assert slow.stderr == f"pyx-auth: {SLOW_MESSAGE}\n"
    _wait_for_rotation(world, spent)  # pyx rotated it after the caller gave up: kept anyway
    world.emulator.latency = 0.0
    assert_login_survived(world, uv)
