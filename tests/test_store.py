"""uv's store layout, and the safety rules pyx-auth adds when it writes to it."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pyx_auth import locking
from pyx_auth.errors import ConfigError, StoreError
from pyx_auth.locking import exclusive_lock
from pyx_auth.settings import Settings
from pyx_auth.store import (
    MAX_FILE_SIZE,
    Store,
    api_key_file,
    atomic_write,
    lock_file_for,
    store_directory,
)


def test_store_directory_default_is_uvs(tmp_path: Path) -> None:
    settings = Settings({"HOME": str(tmp_path)})
    expected = tmp_path / ".local/share/pyx/credentials/3859a629b26fda96"
    assert store_directory(settings) == str(expected)


def test_store_directory_custom_api_url_uses_canonical_digest(tmp_path: Path) -> None:
    settings = Settings({"HOME": str(tmp_path), "PYX_API_URL": "http://LOCALHOST:8000"})
    assert store_directory(settings).endswith("/pyx/credentials/2ad478e2fd671e80")
    staging = Settings({"HOME": str(tmp_path), "PYX_API_URL": "https://astral-sh-staging-api.pyx.dev/"})
    assert store_directory(staging).endswith("/9ac656de4808e019")


def test_store_directory_honours_absolute_xdg_data_home_only(tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    settings = Settings({"HOME": str(tmp_path), "XDG_DATA_HOME": str(xdg)})
    assert store_directory(settings) == str(xdg / "pyx/credentials/3859a629b26fda96")
    relative = Settings({"HOME": str(tmp_path), "XDG_DATA_HOME": "relative/xdg"})
    assert store_directory(relative).startswith(str(tmp_path / ".local/share"))


def test_store_directory_pyx_credentials_dir_wins(tmp_path: Path) -> None:
    settings = Settings({"HOME": str(tmp_path), "PYX_CREDENTIALS_DIR": str(tmp_path / "c")})
    assert store_directory(settings) == str(tmp_path / "c" / "3859a629b26fda96")


def test_the_store_for_the_settings_is_their_store_folder(tmp_path: Path) -> None:
    settings = Settings({"HOME": str(tmp_path), "PYX_CREDENTIALS_DIR": str(tmp_path / "c")})
    assert Store.for_settings(settings).directory == store_directory(settings)


def test_store_directory_uses_existing_legacy_uv_folder(tmp_path: Path) -> None:
    legacy = tmp_path / ".local/share/uv/credentials/3859a629b26fda96"
    settings = Settings({"HOME": str(tmp_path)})
    assert store_directory(settings) != str(legacy)
    legacy.mkdir(parents=True)
    assert store_directory(settings) == str(legacy)


def test_store_directory_uv_credentials_dir_only_if_it_exists(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "UV_CREDENTIALS_DIR": str(tmp_path / "uvc")}
    assert "/pyx/credentials/" in store_directory(Settings(env))
    (tmp_path / "uvc" / "3859a629b26fda96").mkdir(parents=True)
    assert store_directory(Settings(env)) == str(tmp_path / "uvc" / "3859a629b26fda96")


@pytest.mark.parametrize("name", ["PYX_CREDENTIALS_DIR", "UV_CREDENTIALS_DIR"])
def test_store_directory_empty_dir_variable_is_an_error(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        store_directory(Settings({"HOME": str(tmp_path), name: ""}))


def test_store_file_names_match_uv() -> None:
    assert api_key_file("sk-pyx-test") == "7d547ab2e8ca1a67.json"
    assert lock_file_for("7d547ab2e8ca1a67.json") == "7d547ab2e8ca1a67.lock"
    assert lock_file_for("tokens.json") == "tokens.lock"


def test_store_write_is_0600_in_0700_folders(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "root" / "digest"))
    store.write("tokens.json", "{}")
    assert stat.S_IMODE(os.stat(store.path("tokens.json")).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(store.directory).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "root").st_mode) == 0o700
    assert os.listdir(store.directory) == ["tokens.json"]  # no temporary file left behind


def test_atomic_write_replaces_without_trailing_newline(tmp_path: Path) -> None:
    target = tmp_path / "token"
    target.write_text("old\n")
    os.chmod(target, 0o644)
    inode_before = os.stat(target).st_ino
    atomic_write(str(target), b"new")
    assert target.read_bytes() == b"new"
    assert os.stat(target).st_ino != inode_before  # replaced, not rewritten in place
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600


def test_store_write_where_a_file_blocks_the_folder_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("not a folder")
    store = Store(str(tmp_path / "blocker" / "digest"))
    with pytest.raises(StoreError, match="cannot create the token store"):
        store.write("tokens.json", "{}")


def test_atomic_write_into_missing_folder_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot write in"):
        atomic_write(str(tmp_path / "missing" / "t"), b"x")


def test_store_read_treats_unusable_files_as_missing(tmp_path: Path) -> None:
    store = Store(str(tmp_path))
    assert store.read("absent.json") is None
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00")
    assert store.read("binary.json") is None
    (tmp_path / "huge.json").write_bytes(b"x" * (64 * 1024 + 1))
    assert store.read("huge.json") is None
    (tmp_path / "dir.json").mkdir()
    assert store.read("dir.json") is None


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"access_token": "a"}', {"access_token": "a"}),
        ('["access_token"]', None),  # JSON, but no object
        ('"a"', None),
        ('{"access_token": ', None),  # torn
        (None, None),  # missing
    ],
)
def test_store_read_object_is_a_json_object_or_a_miss(
    tmp_path: Path, content: str | None, expected: dict[str, str] | None
) -> None:
    store = Store(str(tmp_path / "s"))
    if content is not None:
        store.write("tokens.json", content)
    assert store.read_object("tokens.json") == expected


def test_store_read_error_is_a_miss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A disk that fails the read (EIO, injected here) is a cache miss, not a crash."""
    store = Store(str(tmp_path / "s"))
    store.write("tokens.json", '{"access_token": "a"}')

    def failing_read(fd: int, size: int) -> bytes:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "read", failing_read)
    assert store.read("tokens.json") is None
    assert store.read_object("tokens.json") is None


def test_store_lock_excludes_other_flock_holders(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "s"))
    store.ensure_directory()
    fd = os.open(store.path("tokens.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        started = time.monotonic()
        with pytest.raises(StoreError, match="held"), store.lock("tokens.lock", timeout=0.3):
            pass
        waited = time.monotonic() - started
        assert 0.3 <= waited < 2.5  # the bound holds both ways; slack only for a loaded machine
    finally:
        os.close(fd)


def test_store_lock_waits_for_release(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "s"))
    store.ensure_directory()
    fd = os.open(store.path("tokens.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    threading.Timer(0.2, os.close, (fd,)).start()
    with store.lock("tokens.lock", timeout=5):
        pass


def _leftovers(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.endswith(".tmp"))


def test_atomic_write_syncs_the_data_before_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a power cut the file holds the old token or the new one, never an empty file:
    the new bytes reach the disk before the rename publishes them (the syscalls are watched,
    since a power cut cannot be staged here)."""
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append(f"fsync {os.fstat(fd).st_size}")
        real_fsync(fd)

    def replace(source: str, target: str) -> None:
        calls.append("replace")
        real_replace(source, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    atomic_write(str(tmp_path / "token"), b"new token")
    assert calls == ["fsync 9", "replace"]
    assert (tmp_path / "token").read_bytes() == b"new token"


def test_atomic_write_that_fails_leaves_no_copy_and_is_a_store_error(tmp_path: Path) -> None:
    """A rename that fails (here: a folder in the way) leaves no temporary copy of the token."""
    (tmp_path / "token").mkdir()
    (tmp_path / "token" / "inside").write_text("x")
    with pytest.raises(StoreError, match=r"cannot write .*token") as caught:
        atomic_write(str(tmp_path / "token"), b"secret-token")
    assert "secret-token" not in str(caught.value)
    assert _leftovers(tmp_path) == []


def test_atomic_write_interrupted_by_ctrl_c_leaves_no_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(str(tmp_path / "token"), b"secret-token")
    assert _leftovers(tmp_path) == [] and not (tmp_path / "token").exists()


def test_store_lock_that_the_filesystem_refuses_is_a_store_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``flock`` failing for another reason than a holder (ENOLCK on some network file
    systems, which cannot be mounted here, so it is injected) is one error line, no wait."""

    def no_locks(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    store = Store(str(tmp_path / "s"))
    monkeypatch.setattr(fcntl, "flock", no_locks)
    started = time.monotonic()
    refused = pytest.raises(StoreError, match=r"cannot lock .*tokens\.lock: No locks available")
    with refused, store.lock("tokens.lock", timeout=10):
        pass
    assert time.monotonic() - started < 5


def _plant(store: Store, name: str, kind: str, tmp_path: Path) -> None:
    """Put something other than a regular file at ``name`` in the store."""
    path = store.path(name)
    if kind == "fifo":
        os.mkfifo(path)  # no writer: a blocking open would hang
    elif kind == "symlink":
        (tmp_path / "elsewhere.json").write_text('{"access_token":"a","refresh_token":"r"}')
        os.symlink(tmp_path / "elsewhere.json", path)
    elif kind == "dangling":
        os.symlink(tmp_path / "nowhere", path)
    elif kind == "device":
        if os.geteuid() != 0:
            pytest.skip("creating a device node needs root")
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # /dev/null


@pytest.mark.parametrize("kind", ["fifo", "symlink", "dangling", "device"])
def test_store_read_of_anything_but_a_regular_file_is_a_miss_and_never_blocks(
    tmp_path: Path, kind: str
) -> None:
    store = Store(str(tmp_path / "s"))
    store.ensure_directory()
    _plant(store, "tokens.json", kind, tmp_path)
    started = time.monotonic()
    assert store.read("tokens.json") is None
    assert time.monotonic() - started < 1


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("fifo", "is not a regular file"),
        ("device", "is not a regular file"),
        ("dangling", "is a symbolic link"),
        ("symlink", "is a symbolic link"),
    ],
)
def test_store_lock_refuses_a_lock_file_that_is_not_a_regular_file(
    tmp_path: Path, kind: str, message: str
) -> None:
    store = Store(str(tmp_path / "s"))
    store.ensure_directory()
    _plant(store, "tokens.lock", kind, tmp_path)
    with pytest.raises(StoreError, match=message), store.lock("tokens.lock", timeout=1):
        pass
    assert not (tmp_path / "nowhere").exists()  # a dangling link creates nothing at its target


def test_store_refuses_a_folder_other_users_can_write(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "s"))
    store.write("tokens.json", "{}")
    os.chmod(store.directory, 0o777)
    with pytest.raises(StoreError, match=r"writable by other users; fix it with `chmod go-w"):
        store.read("tokens.json")
    with pytest.raises(StoreError, match="writable by other users"):
        store.write("tokens.json", "{}")
    os.chmod(store.directory, 0o755)
    assert store.read("tokens.json") == "{}"


def test_store_refuses_a_folder_another_user_owns(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("giving a folder to another user needs root")
    store = Store(str(tmp_path / "s"))
    store.write("tokens.json", "{}")
    os.chown(store.directory, 54321, 54321)
    with pytest.raises(StoreError, match=r"belongs to another user \(uid 54321\); fix it with"):
        store.read("tokens.json")
    with pytest.raises(StoreError, match="belongs to another user"), store.lock("tokens.lock", 1):
        pass


def _jwt(exp: int) -> str:
    """An unsigned JWT with a known ``exp``: the store only reads the claim."""
    import base64
    import json

    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part({'exp': exp})}.sig"


def _pair(exp: int, refresh: str) -> str:
    import json

    return json.dumps({"access_token": _jwt(exp), "refresh_token": refresh})


def test_store_lock_recovers_a_newer_login_left_in_a_temporary_file(tmp_path: Path) -> None:
    """A writer killed between write and rename leaves the only copy of the rotated token."""
    store = Store(str(tmp_path / "s"))
    store.write("tokens.json", _pair(1000, "spent"))
    Path(store.path(".tokens.json.pyx-auth-abc.tmp")).write_text(_pair(2000, "newer") + "\0" * 50)
    Path(store.path(".pyx-auth-legacy.tmp")).write_text(_pair(1500, "older-version"))
    Path(store.path(".7d547ab2e8ca1a67.json.pyx-auth-x.tmp")).write_text("other file's copy")
    with store.lock("tokens.lock", timeout=1):
        assert store.read("tokens.json") == _pair(2000, "newer")
    assert sorted(os.listdir(store.directory)) == [
        ".7d547ab2e8ca1a67.json.pyx-auth-x.tmp",  # another lock's business
        "tokens.json",
        "tokens.lock",
    ]
    assert stat.S_IMODE(os.stat(store.path("tokens.json")).st_mode) == 0o600


def test_store_lock_removes_older_or_torn_temporary_copies(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "s"))
    store.write("tokens.json", _pair(2000, "current"))
    Path(store.path(".tokens.json.pyx-auth-old.tmp")).write_text(_pair(1000, "older"))
    Path(store.path(".tokens.json.pyx-auth-torn.tmp")).write_text(_pair(3000, "torn")[:40])
    Path(store.path(".tokens.json.pyx-auth-zeros.tmp")).write_bytes(bytes(100))
    Path(store.path(".pyx-auth-not-a-login.tmp")).write_text("eyJ.raw.jwt")
    with store.lock("tokens.lock", timeout=1):
        assert store.read("tokens.json") == _pair(2000, "current")
    assert sorted(os.listdir(store.directory)) == [
        ".pyx-auth-not-a-login.tmp",  # an older version's copy of some other file: not ours
        "tokens.json",
        "tokens.lock",
    ]


def test_store_lock_keeps_the_file_over_a_copy_that_is_no_newer(tmp_path: Path) -> None:
    """Only a strictly newer login replaces ``tokens.json``: a copy with the same ``exp`` is
    a write that did not land, and the file the last rename put there stays."""
    store = Store(str(tmp_path / "s"))
    store.write("tokens.json", _pair(2000, "current"))
    Path(store.path(".tokens.json.pyx-auth-same.tmp")).write_text(_pair(2000, "other"))
    with store.lock("tokens.lock", timeout=1):
        assert store.read("tokens.json") == _pair(2000, "current")
    assert sorted(os.listdir(store.directory)) == ["tokens.json", "tokens.lock"]


def test_recovering_temporaries_where_there_is_no_folder_is_nothing_to_do(
    tmp_path: Path,
) -> None:
    Store(str(tmp_path / "missing")).recover_temporaries("tokens.json")
    assert not (tmp_path / "missing").exists()


def test_store_lock_recovers_a_login_when_tokens_json_is_gone(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "s"))
    store.ensure_directory()
    Path(store.path(".tokens.json.pyx-auth-abc.tmp")).write_text(_pair(2000, "only-copy"))
    with store.lock("tokens.lock", timeout=1):
        pass
    assert store.read("tokens.json") == _pair(2000, "only-copy")


def test_store_reserve_holds_the_space_and_write_uses_it(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "s"))
    with store.reserve("tokens.json"):
        (temporary,) = [name for name in os.listdir(store.directory) if name.endswith(".tmp")]
        assert os.stat(store.path(temporary)).st_blocks * 512 >= 64 * 1024
        store.write("tokens.json", "{}")
    assert os.listdir(store.directory) == ["tokens.json"]
    assert Path(store.path("tokens.json")).read_text() == "{}"
    assert stat.S_IMODE(os.stat(store.path("tokens.json")).st_mode) == 0o600
    with store.reserve("tokens.json"):
        pass  # the refresh failed: nothing written, nothing left
    assert os.listdir(store.directory) == ["tokens.json"]


def test_store_reserve_on_an_unwritable_folder_is_a_store_error(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes to any folder; tests/test_fault_matrix.py runs this as a user")
    store = Store(str(tmp_path / "s"))
    store.ensure_directory()
    os.chmod(store.directory, 0o500)
    try:
        with pytest.raises(StoreError, match="cannot write in"), store.reserve("tokens.json"):
            pass
    finally:
        os.chmod(store.directory, 0o700)


def test_store_accepts_a_folder_writable_only_by_our_private_group(tmp_path: Path) -> None:
    """umask 002 (a group per user) makes uv's folders 0775: harmless, so not refused."""
    import grp
    import pwd

    members = set(grp.getgrgid(os.getegid()).gr_mem)
    if not members <= {pwd.getpwuid(os.geteuid()).pw_name}:
        pytest.skip("our primary group has other members here")
    store = Store(str(tmp_path / "s"))
    store.write("tokens.json", "{}")
    os.chmod(store.directory, 0o770)
    assert store.read("tokens.json") == "{}"
    if os.geteuid() != 0:
        return
    os.chown(store.directory, os.geteuid(), 54321)  # another group may write: refused
    with pytest.raises(StoreError, match="writable by other users"):
        store.read("tokens.json")


HOLD = (
    "import fcntl, os, sys, time\n"
    "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)\n"
    "fcntl.flock(fd, fcntl.LOCK_EX)\n"
    "print('held', flush=True)\n"
    "time.sleep(float(sys.argv[2]))\n"
)


@contextlib.contextmanager
def _holder(path: str, seconds: float) -> Iterator[subprocess.Popen[str]]:
    """Another process that holds the lock for ``seconds``, then exits (releasing it)."""
    with subprocess.Popen(
        [sys.executable, "-c", HOLD, path, str(seconds)], stdout=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None and process.stdout.readline() == "held\n"
        try:
            yield process
        finally:
            process.kill()


def test_without_patience_a_running_holder_gets_only_the_timeout(tmp_path: Path) -> None:
    """``pyx-auth login`` and uv's credentials file wait ``timeout`` for any holder; only
    the refresh template asks for patience with a live one."""
    path = str(tmp_path / "s" / "tokens.lock")
    store = Store(str(tmp_path / "s"))
    store.ensure_directory()
    waits: list[Callable[[], contextlib.AbstractContextManager[None]]] = [
        lambda: exclusive_lock(path, 0.2),
        lambda: store.lock("tokens.lock", 0.2),
    ]
    with _holder(path, 60):
        for wait in waits:
            started = time.monotonic()
            with pytest.raises(StoreError, match="has held"), wait():
                pass
            assert time.monotonic() - started < 0.9  # a second of patience would be a bug


def test_lock_wait_past_its_timeout_follows_a_running_holder(tmp_path: Path) -> None:
    """A live holder (a refresh on a busy machine) is waited for beyond the timeout, up to
    the patience: its result is what the waiter needs."""
    path = str(tmp_path / "tokens.lock")
    with _holder(path, 1.5):
        started = time.monotonic()
        with exclusive_lock(path, timeout=0.3, holder_patience=20):
            waited = time.monotonic() - started
    assert 0.5 < waited < 15


def test_lock_wait_for_a_running_holder_ends_at_the_patience(tmp_path: Path) -> None:
    path = str(tmp_path / "tokens.lock")
    with _holder(path, 60):
        started = time.monotonic()
        with pytest.raises(StoreError, match="has held"), exclusive_lock(path, 0.2, 1.5):
            pass
        assert 1.4 < time.monotonic() - started < 8


def test_lock_wait_gives_a_stopped_holder_only_the_timeout(tmp_path: Path) -> None:
    """A holder stopped with Ctrl-Z will not let go: no patience for it."""
    path = str(tmp_path / "tokens.lock")
    with _holder(path, 60) as process:
        os.kill(process.pid, signal.SIGSTOP)
        started = time.monotonic()
        with pytest.raises(StoreError, match="has held"), exclusive_lock(path, 0.3, 30):
            pass
        assert time.monotonic() - started < 8


def test_lock_released_while_the_waiter_looks_at_the_holder_is_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refresh that ends just as the waiter reads ``/proc/locks`` (the holder is gone, the
    lock free) is no reason to fail: the waiter takes the lock and reads the result."""
    path = str(tmp_path / "tokens.lock")
    holder = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(holder, fcntl.LOCK_EX)

    def holder_lets_go(fd: int) -> bool:
        os.close(holder)  # the holder exits between the failed try and the look
        return False

    monkeypatch.setattr(locking, "_holder_is_working", holder_lets_go)
    with exclusive_lock(path, timeout=0.0, holder_patience=30):
        other = os.open(path, os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):  # held by the waiter now
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(other)


def test_store_read_takes_a_file_at_the_size_limit_and_misses_one_byte_over(
    tmp_path: Path,
) -> None:
    """64 KiB is the most a store file may hold; a bigger one is a miss, never cut short."""
    store = Store(str(tmp_path / "s"))
    store.write("at-limit", "x" * MAX_FILE_SIZE)
    store.write("over", "x" * (MAX_FILE_SIZE + 1))
    assert store.read("at-limit") == "x" * MAX_FILE_SIZE
    assert store.read("over") is None


@pytest.mark.parametrize(
    "copy",
    [
        '{"access_token": "%s", "refresh_token": ""}',
        '{"access_token": 7, "refresh_token": "newer"}',
        '{"access_token": "%s", "refresh_token": 7}',
    ],
    ids=["empty-refresh-token", "access-token-not-a-string", "refresh-token-not-a-string"],
)
def test_store_lock_never_recovers_a_temporary_copy_that_is_not_a_usable_login(
    tmp_path: Path, copy: str
) -> None:
    """A leftover copy that uv could not refresh with must not replace a working login."""
    store = Store(str(tmp_path / "s"))
    store.write("tokens.json", _pair(1000, "current"))
    text = copy % _jwt(2000) if "%s" in copy else copy
    Path(store.path(".tokens.json.pyx-auth-bad.tmp")).write_text(text)
    with store.lock("tokens.lock", timeout=1):
        assert store.read("tokens.json") == _pair(1000, "current")


def test_lock_file_is_created_private(tmp_path: Path) -> None:
    path = tmp_path / "tokens.lock"
    with exclusive_lock(str(path), timeout=1):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


@pytest.mark.parametrize(("timeout", "patience"), [(-5.0, -5.0), (0.0, 0.0)])
def test_lock_wait_with_no_budget_left_fails_at_once_even_for_a_running_holder(
    tmp_path: Path, timeout: float, patience: float
) -> None:
    """A caller whose budget is spent (or negative: already overrun) gets one try, no wait."""
    path = str(tmp_path / "tokens.lock")
    with _holder(path, 60):
        started = time.monotonic()
        held = r"has held .*tokens\.lock for more than 0 s; try again"
        with pytest.raises(StoreError, match=held), exclusive_lock(path, timeout, patience):
            pass
        assert time.monotonic() - started < 0.95  # a wait of even 1 s is a bug


def test_lock_wait_without_proc_locks_gives_the_holder_only_the_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where /proc/locks cannot be read (a hardened /proc), the holder is unknown: the waiter
    waits its timeout, not the patience, and does not crash."""

    def unreadable(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    path = str(tmp_path / "tokens.lock")
    with _holder(path, 60):
        monkeypatch.setattr(locking, "open", unreadable, raising=False)
        started = time.monotonic()
        with pytest.raises(StoreError, match="has held"), exclusive_lock(path, 0.3, 30):
            pass
        assert time.monotonic() - started < 8


def _unsupported(error: int) -> Callable[[int, int, int], None]:
    def fallocate(fd: int, offset: int, length: int) -> None:
        raise OSError(error, os.strerror(error))

    return fallocate


def test_store_reserve_without_fallocate_writes_zeros_to_hold_the_space(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file system without fallocate (EOPNOTSUPP) still gets the space held, by zeros."""
    monkeypatch.setattr(os, "posix_fallocate", _unsupported(errno.EOPNOTSUPP))
    store = Store(str(tmp_path / "s"))
    with store.reserve("tokens.json"):
        (temporary,) = [name for name in os.listdir(store.directory) if name.endswith(".tmp")]
        assert os.stat(store.path(temporary)).st_size == 64 * 1024
        store.write("tokens.json", "{}")
    assert Path(store.path("tokens.json")).read_text() == "{}"
    assert os.listdir(store.directory) == ["tokens.json"]


def test_store_reserve_on_a_full_disk_is_a_store_error_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "posix_fallocate", _unsupported(errno.ENOSPC))
    store = Store(str(tmp_path / "s"))
    full = r"cannot reserve space .*No space left on device"
    with pytest.raises(StoreError, match=full), store.reserve("tokens.json"):
        pytest.fail("the refresh must not start")
    assert os.listdir(store.directory) == []


def test_process_state_of_a_running_and_a_gone_process() -> None:
    assert locking.process_state(os.getpid()) == "R"
    with subprocess.Popen(["true"]) as finished:
        pid = finished.pid
    assert locking.process_state(pid) is None  # exited and reaped: gone


@pytest.mark.parametrize(("pid", "expected"), [("333", 333), ("1", 1), ("0", None), ("-1", None)])
def test_lock_holder_is_the_flock_line_of_this_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pid: str, expected: int | None
) -> None:
    """Only a FLOCK line for this very file names the holder; pid 0 (another pid namespace)
    and -1 are not known."""
    path = tmp_path / "tokens.lock"
    path.write_text("")
    info = os.stat(path)
    key = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    other = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino + 1}"
    table = (
        f"1: POSIX  ADVISORY  WRITE 111 {other} 0 EOF\n"
        f"2: POSIX  ADVISORY  WRITE 444 {key} 0 EOF\n"
        f"3: FLOCK  ADVISORY  WRITE 222 {other} 0 EOF\n"
        f"4: FLOCK  ADVISORY  WRITE {pid} {key} 0 EOF\n"
    )
    monkeypatch.setattr(locking, "open", lambda *a, **k: io.StringIO(table), raising=False)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert locking.lock_holder(fd) == expected
    finally:
        os.close(fd)
