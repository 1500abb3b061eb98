"""``flock`` on uv's lock files, bounded in time.

uv locks with Rust's ``File::lock``, which is ``flock(2)`` on Linux; ``fcntl.lockf`` would not
exclude it. The wait is bounded by the caller's remaining budget, never uv's 300 s default
when Bazel is waiting, unless the holder is still running (``exclusive_lock``); the lock is
never taken twice in one process.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time

from pyx_auth.errors import StoreError
from pyx_auth.file_checks import kept_if_regular

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

POLL_INTERVAL = 0.02


def _open_lock_file(path: str) -> int:
    """Open (or create 0600) a lock file that is a regular file; never follow a link or block.

    A dangling symbolic link must not create a file at its target, and a FIFO must not hang.
    Like every descriptor ``os.open`` returns, it is not inherited by programs we run (PEP 446).
    """
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StoreError(
                f"the lock file {path} is a symbolic link; remove it (pyx-auth recreates it)"
            ) from None
        raise StoreError(f"cannot open the lock file {path}: {exc.strerror}") from exc
    if not kept_if_regular(fd):
        raise StoreError(
            f"the lock file {path} is not a regular file; remove it (pyx-auth recreates it)"
        )
    return fd


HOLDER_CHECK_INTERVAL = 0.25
"""How often a wait past its timeout looks at the process holding the lock."""
STOPPED_STATES = frozenset("Tt")
"""``/proc/<pid>/stat`` states of a holder that will not release the lock: stopped or traced."""


def lock_holder(fd: int) -> int | None:
    """The pid holding a ``flock`` on ``fd``'s file, from ``/proc/locks``; None if not known.

    Linux only; a holder in another pid namespace shows as pid 0 and is not known either.
    """
    info = os.fstat(fd)
    key = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as locks:
            lines = locks.read().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()  # "1: FLOCK  ADVISORY  WRITE 4242 fe:00:1234 0 EOF"
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == key:
            return int(fields[4]) if fields[4].isdigit() and int(fields[4]) > 0 else None
    return None


def process_state(pid: int) -> str | None:
    """The one-letter state of ``pid`` (``R``, ``S``, ``T`` ...), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat_file:
            fields = stat_file.read().rpartition(")")[2].split()
    except OSError:
        return None
    return fields[0] if fields else None


def _holder_is_working(fd: int) -> bool:
    """Whether the lock's holder is known and not stopped.

    A holder that has exited while the lock is still held shared it with a process that
    lives on, such as the detached child that finishes a refresh (``detached.py``).
    """
    holder = lock_holder(fd)
    if holder is None or holder == os.getpid():
        return False
    return process_state(holder) not in STOPPED_STATES


def _try_lock(fd: int, path: str) -> bool:
    """Take ``LOCK_EX`` on ``fd`` if no one holds it; False if someone does."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as exc:
        raise StoreError(f"cannot lock {path}: {exc.strerror}") from exc
    return True


@contextlib.contextmanager
def exclusive_lock(path: str, timeout: float, holder_patience: float = 0.0) -> Iterator[None]:
    """Hold ``LOCK_EX`` on ``path`` (created 0600 if missing), or raise ``StoreError``.

    Waits ``timeout`` seconds; past that, keeps waiting while the process holding the lock is
    still running, up to ``holder_patience`` seconds in all. On a busy machine a refreshing
    process can take longer than the waiter's budget, and its result is what the waiter
    needs: giving up on a live holder fails a call that would have succeeded. A stopped
    holder (Ctrl-Z, a debugger), or one ``/proc/locks`` does not show, gets only ``timeout``.
    """
    fd = _open_lock_file(path)
    try:
        started = time.monotonic()
        give_up = started + timeout  # 0 or less: one try
        last_resort = started + max(holder_patience, timeout)
        while not _try_lock(fd, path):
            now = time.monotonic()
            if now >= give_up:
                if now < last_resort and _holder_is_working(fd):
                    give_up = min(now + HOLDER_CHECK_INTERVAL, last_resort)
                elif not _try_lock(fd, path):  # the holder may have let go while we looked
                    raise StoreError(
                        f"another process (pyx-auth or uv refreshing a token) has held"
                        f" {path} for more than {now - started:.0f} s; try again"
                    )
                else:
                    break
            time.sleep(POLL_INTERVAL)
        yield
    finally:
        # Released by the close, not LOCK_UN: a detached child (``detached.py``) that shares
        # this open file keeps the lock until it has written what it fetched.
        os.close(fd)
