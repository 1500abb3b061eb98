"""uv's store layout, and the safety rules pyx-auth adds when it writes to it."""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from pyx_auth.errors import ConfigError, StoreError
from pyx_auth.settings import Settings
from pyx_auth.store import Store, api_key_file, atomic_write, lock_file_for, store_directory


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
