"""Files and folders are what they claim to be: regular files, private folders.

Shared by the store (``store.py``) and the lock files (``locking.py``). Only ``os`` and
``stat`` on import: the Bazel fast path reads the store through ``open_regular``.
"""

from __future__ import annotations

import os
import stat

from pyx_auth.errors import StoreError


def kept_if_regular(fd: int) -> bool:
    """Whether ``fd`` is a regular file; if it is not (a FIFO, a device), it is closed."""
    try:
        is_regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        is_regular = False
    if not is_regular:
        os.close(fd)
    return is_regular


def open_regular(path: str, flags: int, mode: int = 0o600) -> int | None:
    """A descriptor for ``path`` if it is a regular file (not followed if a link), else None.

    ``O_NONBLOCK`` keeps a FIFO from hanging the open; the ``fstat`` then refuses it. Missing
    files and every other ``OSError`` are None too: callers treat them as a cache miss.
    """
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK, mode)
    except OSError:
        return None
    return fd if kept_if_regular(fd) else None


def check_private_folder(folder: str) -> None:
    """Raise ``StoreError`` unless ``folder`` is ours (or root's) and not group/world-writable.

    Anyone who can write to the folder can plant a token file that pyx-auth would use, or
    swap one that it writes. A missing folder is fine: it is created 0700.
    """
    try:
        info = os.stat(folder)
    except OSError:
        return
    uid = os.geteuid()
    if info.st_uid not in (uid, 0):
        raise StoreError(
            f"the token store {folder} belongs to another user (uid {info.st_uid}); fix it"
            f" with `chown -R {uid} {folder}` or remove it"
        )
    writable_by_group = info.st_mode & stat.S_IWGRP and not _is_private_group(info.st_gid)
    if writable_by_group or info.st_mode & stat.S_IWOTH:
        raise StoreError(
            f"the token store {folder} is writable by other users; fix it with"
            f" `chmod go-w {folder}`"
        )


def _is_private_group(gid: int) -> bool:
    """Our own primary group with nobody else in it: umask 002 systems (a group per user,
    as Debian and Fedora set users up) make folders group-writable, harmlessly, as
    Debian's OpenSSH also accepts."""
    import grp
    import pwd

    try:
        members = set(grp.getgrgid(gid).gr_mem)
        name = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return False
    return gid == os.getegid() and members <= {name}
