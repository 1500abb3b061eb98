"""``flock`` on uv's lock files, bounded in time.

uv locks with Rust's ``File::lock``, which is ``flock(2)`` on Linux; ``fcntl.lockf`` would not
exclude it. The wait is bounded by the caller's remaining budget, never uv's 300 s default
when Bazel is waiting, and the lock is never taken twice in one process.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time

from pyx_auth.errors import StoreError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

POLL_INTERVAL = 0.02


@contextlib.contextmanager
def exclusive_lock(path: str, timeout: float) -> Iterator[None]:
    """Hold ``LOCK_EX`` on ``path`` (created 0600 if missing), or raise ``StoreError``."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StoreError(f"cannot open the lock file {path}: {exc.strerror}") from exc
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
