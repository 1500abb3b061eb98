"""``flock`` on uv's lock files, bounded in time.

uv locks with Rust's ``File::lock``, which is ``flock(2)`` on Linux; ``fcntl.lockf`` would not
exclude it. The wait is bounded by the caller's remaining budget, never uv's 300 s default
when Bazel is waiting, and the lock is never taken twice in one process.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import time

from pyx_auth.errors import StoreError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

POLL_INTERVAL = 0.02


def _open_lock_file(path: str) -> int:
    """Open (or create 0600) a lock file that is a regular file; never follow a link or block.

    A dangling symbolic link must not create a file at its target, and a FIFO must not hang.
    """
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StoreError(
                f"the lock file {path} is a symbolic link; remove it (pyx-auth recreates it)"
            ) from None
        raise StoreError(f"cannot open the lock file {path}: {exc.strerror}") from exc
    try:
        is_regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        is_regular = False
    if not is_regular:
        os.close(fd)
        raise StoreError(
            f"the lock file {path} is not a regular file; remove it (pyx-auth recreates it)"
        )
    return fd


@contextlib.contextmanager
def exclusive_lock(path: str, timeout: float) -> Iterator[None]:
    """Hold ``LOCK_EX`` on ``path`` (created 0600 if missing), or raise ``StoreError``."""
    fd = _open_lock_file(path)
    try:
        give_up = time.monotonic() + max(timeout, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= give_up:
                    raise StoreError(
                        f"another process (pyx-auth or uv refreshing a token) has held {path}"
                        f" for more than {timeout:.0f} s; try again"
                    ) from None
                time.sleep(POLL_INTERVAL)
            except OSError as exc:
                raise StoreError(f"cannot lock {path}: {exc.strerror}") from exc
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
