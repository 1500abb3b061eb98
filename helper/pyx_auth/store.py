"""uv's pyx token store: where it lives, how its files are named, and safe writes to it.

The layout is uv's own (``pyx-and-uv.md`` §6), so uv 0.12.6 and pyx-auth share tokens:

    <root>/<digest(api_url)>/tokens.json          OAuth login: {"access_token","refresh_token"}
    <root>/<digest(api_url)>/tokens.lock
    <root>/<digest(api_key)>.json  (in that folder)  API key: the raw JWT
    <root>/<digest(api_key)>.lock

Differences, all safe for uv: folders we create are 0700 and files 0600; every write goes
through a temporary file, fsync and ``os.replace``; refreshes lock uv's lock files with
``flock`` (not ``lockf``, which does not exclude uv). Reads never lock and never fail: an
unreadable file is a cache miss. Reading needs only ``os``, for the Bazel fast path; writing
and locking import what they need when called.
"""

from __future__ import annotations

import errno
import os

from pyx_auth import fastjson
from pyx_auth.errors import StoreError
from pyx_auth.file_checks import check_private_folder, open_regular
from pyx_auth.seahash import uv_digest
from pyx_auth.settings import PYX_CREDENTIALS_DIR, UV_CREDENTIALS_DIR, XDG_DATA_HOME, non_empty

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from contextlib import AbstractContextManager

    from pyx_auth.settings import Settings

TOKENS_FILE = "tokens.json"
TOKENS_LOCK = "tokens.lock"
MAX_FILE_SIZE = 64 * 1024
"""A token file is a few hundred bytes; anything bigger is not ours and is treated as a miss."""


def _absolute(environ: Mapping[str, str], name: str) -> str:
    """A folder variable that is set, made absolute; set but empty is an error (``non_empty``)."""
    return os.path.abspath(non_empty(environ, name, "unset it or name a folder") or "")


def _home(environ: Mapping[str, str]) -> str:
    return environ.get("HOME") or os.path.expanduser("~")


def _data_dir(environ: Mapping[str, str]) -> str:
    """``$XDG_DATA_HOME`` if absolute, else ``~/.local/share`` (on macOS too, like uv)."""
    xdg = environ.get(XDG_DATA_HOME, "")
    return xdg if os.path.isabs(xdg) else os.path.join(_home(environ), ".local", "share")


def uv_state_dir(environ: Mapping[str, str]) -> str:
    """uv's state folder, under which it keeps ``credentials/`` (``crates/uv-dirs``)."""
    mac_legacy = os.path.join(_home(environ), "Library", "Application Support", "uv")
    return mac_legacy if os.path.isdir(mac_legacy) else os.path.join(_data_dir(environ), "uv")


def store_directory(settings: Settings) -> str:
    """The store folder for the API in ``settings``, resolved in uv's order.

    1. ``$PYX_CREDENTIALS_DIR/<digest>``;
    2. the legacy uv location ``$UV_CREDENTIALS_DIR`` (or ``<uv state dir>/credentials``)
       ``/<digest>``, if that folder already exists;
    3. ``<data dir>/pyx/credentials/<digest>``.
    """
    environ = settings.environ
    digest = uv_digest(settings.api_url)
    if PYX_CREDENTIALS_DIR in environ:
        return os.path.join(_absolute(environ, PYX_CREDENTIALS_DIR), digest)
    if UV_CREDENTIALS_DIR in environ:
        legacy_root = _absolute(environ, UV_CREDENTIALS_DIR)
    else:
        legacy_root = os.path.join(uv_state_dir(environ), "credentials")
    legacy = os.path.join(legacy_root, digest)
    if os.path.isdir(legacy):
        return legacy
    return os.path.join(_data_dir(environ), "pyx", "credentials", digest)


def api_key_file(api_key: str) -> str:
    """File name uv caches an API key's JWT under: the digest of the key, never the key."""
    return uv_digest(api_key) + ".json"


def lock_file_for(name: str) -> str:
    """uv's lock file for a token file: ``tokens.json`` → ``tokens.lock``."""
    return os.path.splitext(name)[0] + ".lock"


TEMP_MARK = ".pyx-auth-"
TEMP_SUFFIX = ".tmp"
RESERVED_SIZE = MAX_FILE_SIZE
"""Space reserved before a refresh token is spent: the largest store file pyx-auth reads."""


def temporary_prefix(name: str) -> str:
    """``.tokens.json.pyx-auth-``: temporary copies say which file they are for."""
    return f".{name}{TEMP_MARK}"


def _make_temporary(path: str) -> tuple[int, str]:
    import tempfile

    folder, name = os.path.split(os.path.abspath(path))
    try:
        return tempfile.mkstemp(dir=folder, prefix=temporary_prefix(name), suffix=TEMP_SUFFIX)
    except OSError as exc:
        raise StoreError(f"cannot write in {folder}: {exc.strerror}") from exc


def _fill_and_replace(fd: int, tmp: str, path: str, data: bytes, mode: int) -> None:
    """Write ``data`` into the open temporary file, cut it to size, fsync, rename over ``path``.

    Written before it is cut, so a reserved file never needs new blocks, and a crash in
    between leaves the data followed by NUL bytes, which ``recover_temporaries`` strips.
    """
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.ftruncate(handle.fileno(), len(data))
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:  # also Ctrl-C: never leave a copy of a token behind
        _remove(tmp)
        if isinstance(exc, OSError):
            raise StoreError(f"cannot write {path}: {exc.strerror}") from exc
        raise


def atomic_write(path: str, data: bytes, *, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data``: temporary file in the same folder, fsync, ``os.replace``.

    Readers see the old content or the new, never a torn file. Raises ``StoreError``.
    """
    fd, tmp = _make_temporary(path)
    _fill_and_replace(fd, tmp, path, data, mode)


def _reserve_space(fd: int, size: int) -> None:
    """Allocate ``size`` bytes for ``fd`` now, so that writing them later cannot hit ENOSPC."""
    if hasattr(os, "posix_fallocate"):
        try:
            os.posix_fallocate(fd, 0, size)
            return
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                raise
    os.pwrite(fd, bytes(size), 0)  # file systems without fallocate: write zeros
    os.fsync(fd)


def _token_pair_expiry(text: str | None) -> int | None:
    """The access token's ``exp`` of a ``tokens.json`` text; None unless it is a usable pair."""
    from pyx_auth.claims import expiry

    try:
        data = fastjson.loads((text or "").rstrip("\0"))
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    access, refresh = data.get("access_token"), data.get("refresh_token")
    if not isinstance(access, str) or not isinstance(refresh, str) or not refresh:
        return None
    return expiry(access) or 0


class Store:
    """One API's store folder."""

    __slots__ = ("_reserved", "directory")

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._reserved: dict[str, tuple[int, str]] = {}

    @classmethod
    def for_settings(cls, settings: Settings) -> Store:
        return cls(store_directory(settings))

    def path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def read(self, name: str) -> str | None:
        """The file's text, or None if it is missing, unreadable, too big or not UTF-8.

        A symbolic link, FIFO or device is a miss too, and never blocks: Bazel would kill a
        helper that hangs on a planted FIFO. Raises ``StoreError`` for a folder another user
        could have written the file into.
        """
        self.check_directory()
        fd = open_regular(self.path(name), os.O_RDONLY)
        if fd is None:
            return None
        try:
            data = os.read(fd, MAX_FILE_SIZE + 1)
        except OSError:
            return None
        finally:
            os.close(fd)
        if len(data) > MAX_FILE_SIZE:
            return None
        try:
            return data.decode()
        except UnicodeDecodeError:
            return None

    def check_directory(self) -> None:
        """Refuse a store folder that another user could write to (as ssh does for ~/.ssh)."""
        check_private_folder(self.directory)

    def read_object(self, name: str) -> dict[str, object] | None:
        """The file as a JSON object, or None if it is missing, unreadable or anything else."""
        text = self.read(name)
        if text is None:
            return None
        try:
            data = fastjson.loads(text)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def ensure_directory(self) -> None:
        """Create the folder, 0700 at every level we create. Raises ``StoreError``.

        ``os.makedirs`` applies its mode only to the last level, hence the walk.
        """
        missing: list[str] = []
        path = self.directory
        while path and not os.path.isdir(path):
            missing.append(path)
            parent = os.path.dirname(path)
            if parent == path:
                break
            path = parent
        for folder in reversed(missing):
            try:
                os.mkdir(folder, 0o700)
            except FileExistsError:
                continue  # another process made it first
            except OSError as exc:
                raise StoreError(
                    f"cannot create the token store {self.directory}: {exc.strerror}"
                ) from exc
        self.check_directory()

    def write(self, name: str, text: str) -> None:
        """Atomically replace a store file with ``text`` (mode 0600), in its reserved space."""
        self.ensure_directory()
        reserved = self._reserved.pop(name, None)
        if reserved is None:
            atomic_write(self.path(name), text.encode())
        else:
            _fill_and_replace(*reserved, self.path(name), text.encode(), 0o600)

    def reserve(self, name: str) -> AbstractContextManager[None]:
        """Make sure ``write(name, ...)`` inside this block cannot fail for want of space.

        Called before a single-use refresh token is sent: the temporary file, already
        ``RESERVED_SIZE`` bytes on disk, proves the folder writable and holds the space, so a
        full disk stops the refresh before it spends anything. Raises ``StoreError``.
        """
        import contextlib  # not on the Bazel cache hit

        self.ensure_directory()
        path = self.path(name)
        fd, tmp = _make_temporary(path)
        try:
            _reserve_space(fd, RESERVED_SIZE)
        except OSError as exc:
            os.close(fd)
            _remove(tmp)
            raise StoreError(
                f"cannot reserve space for {path} ({exc.strerror}), so the refresh token was"
                f" not sent and the login is unchanged; free space in {self.directory}"
            ) from exc
        self._reserved[name] = (fd, tmp)
        return contextlib.contextmanager(self._release_unused)(name)

    def _release_unused(self, name: str) -> Iterator[None]:
        try:
            yield
        finally:
            left = self._reserved.pop(name, None)
            if left is not None:  # nothing was written: give the space back
                os.close(left[0])
                _remove(left[1])

    def lock(
        self, name: str, timeout: float, holder_patience: float = 0.0
    ) -> AbstractContextManager[None]:
        """Hold an exclusive ``flock`` on the lock file ``name``, waiting at most ``timeout``
        (or up to ``holder_patience`` while the holder runs: ``locking.exclusive_lock``).

        Once held, temporary copies of the locked file left by a crashed writer are dealt with.
        """
        import contextlib  # not on the Bazel cache hit

        self.ensure_directory()
        return contextlib.contextmanager(self._hold_lock)(name, timeout, holder_patience)

    def _hold_lock(self, name: str, timeout: float, holder_patience: float) -> Iterator[None]:
        from pyx_auth.locking import exclusive_lock

        with exclusive_lock(self.path(name), timeout, holder_patience):
            self.recover_temporaries(os.path.splitext(name)[0] + ".json")
            yield

    def recover_temporaries(self, name: str) -> None:
        """Under ``name``'s lock: keep a crashed write's newer login, remove stray copies.

        A writer killed between writing its temporary file and renaming it may leave the only
        copy of a rotated refresh token there. For ``tokens.json`` the newest complete pair
        (by its access token's ``exp``) replaces the file if it is newer; every other
        temporary copy of ``name`` is removed. Older pyx-auth versions named temporary files
        ``.pyx-auth-*.tmp``; those are considered too when they hold a login.
        """
        try:
            entries = os.listdir(self.directory)
        except OSError:
            return
        prefix = temporary_prefix(name)
        logins = name == TOKENS_FILE
        mine = [e for e in entries if e.startswith(prefix) and e.endswith(TEMP_SUFFIX)]
        if logins:  # an older version's copies, but only those that hold a login
            mine += [
                entry
                for entry in entries
                if entry.startswith(TEMP_MARK)
                and entry.endswith(TEMP_SUFFIX)
                and _token_pair_expiry(self.read(entry)) is not None
            ]
        best = None
        newest = _token_pair_expiry(self.read(TOKENS_FILE)) if logins else None
        for entry in mine if logins else ():
            found = _token_pair_expiry(self.read(entry))
            if found is not None and (newest is None or found > newest):
                best, newest = entry, found
        if best is not None:
            text = self.read(best)
            if text is not None:
                self.write(name, text.rstrip("\0"))
        for entry in mine:
            _remove(self.path(entry))


def _remove(path: str) -> None:
    """Delete a file if it is there; a file already gone is what we wanted."""
    import contextlib

    with contextlib.suppress(OSError):
        os.unlink(path)
