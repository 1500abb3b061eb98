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

import os

from pyx_auth import fastjson
from pyx_auth.errors import ConfigError, StoreError
from pyx_auth.seahash import uv_digest
from pyx_auth.settings import PYX_CREDENTIALS_DIR, UV_CREDENTIALS_DIR, XDG_DATA_HOME

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from contextlib import AbstractContextManager

    from pyx_auth.settings import Settings

TOKENS_FILE = "tokens.json"
TOKENS_LOCK = "tokens.lock"
MAX_FILE_SIZE = 64 * 1024
"""A token file is a few hundred bytes; anything bigger is not ours and is treated as a miss."""


def _absolute(environ: Mapping[str, str], name: str) -> str:
    value = environ[name]
    if not value:
        raise ConfigError(f"{name} is set but empty; unset it or name a folder")
    return os.path.abspath(value)


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


def atomic_write(path: str, data: bytes, *, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data``: temporary file in the same folder, fsync, ``os.replace``.

    Readers see the old content or the new, never a torn file. Raises ``StoreError``.
    """
    import contextlib
    import tempfile

    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".pyx-auth-", suffix=".tmp")
    except OSError as exc:
        raise StoreError(f"cannot write in {folder}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:  # also Ctrl-C: never leave a copy of a token behind
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise StoreError(f"cannot write {path}: {exc.strerror}") from exc
        raise


class Store:
    """One API's store folder."""

    __slots__ = ("directory",)

    def __init__(self, directory: str) -> None:
        self.directory = directory

    @classmethod
    def for_settings(cls, settings: Settings) -> Store:
        return cls(store_directory(settings))

    def path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def read(self, name: str) -> str | None:
        """The file's text, or None if it is missing, unreadable, too big or not UTF-8."""
        try:
            fd = os.open(self.path(name), os.O_RDONLY)
        except OSError:
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

    def write(self, name: str, text: str) -> None:
        """Atomically replace a store file with ``text`` (mode 0600)."""
        self.ensure_directory()
        atomic_write(self.path(name), text.encode())

    def lock(self, name: str, timeout: float) -> AbstractContextManager[None]:
        """Hold an exclusive ``flock`` on the lock file ``name``, waiting at most ``timeout``."""
        from pyx_auth.locking import exclusive_lock

        self.ensure_directory()
        return exclusive_lock(self.path(name), timeout)
