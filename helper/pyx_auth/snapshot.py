"""The Bazel stub's snapshot: a ``get`` answer the shell stub may repeat without starting Python.

``bazel/pyx-credential-helper`` answers a cache hit with shell builtins alone (about a third
of uv's time) from one file, ``<root>/pyx-auth-bazel.snapshot``, that this module writes
whenever ``pyx-auth get`` answers a pyx URI from a source whose answer does not depend on the
URI: ``PYX_AUTH_TOKEN``, ``PYX_API_KEY`` or uv's login (not Trusted Access, whose tokens are
per workspace; not the keyring source, left to the Python path). The file says *under which
conditions* ``get`` gives exactly this answer, each one a thing the stub can check with
builtins; whatever it cannot check, it defers to Python for. One line each::

    pyx-auth-bazel-snapshot 1             format; any other first line is ignored by the stub
    <until>                               epoch seconds; served only while now < until
    <answer>                              the exact stdout line, without its newline
    <token>                               the token in it (store files are compared with it)
    <NAME> -|=<value>|#<fnv>              every variable in VARIABLES, in that order: unset,
                                          the value, or (API keys) a 64-bit FNV-1a of it
    dir|nodir <path>                      folders whose existence chose the store folder
    absent <path>                         a file whose presence would change the source
    same <path>                           a file whose whole content must be <token>
    login <path>                          uv's tokens.json, exactly {"access_token":"<token>",
                                          "refresh_token":"<safe characters>"}
    host <host>  /  suffix <domain>       https hosts (port 443) the answer is for
    end                                   a torn or truncated file has no last line

``<root>`` is ``$PYX_CREDENTIALS_DIR``, else ``$XDG_DATA_HOME/pyx/credentials`` (if absolute),
else ``$HOME/.local/share/pyx/credentials``: the stub computes it from the environment alone,
and the last API written wins. A file content, not a time stamp, identifies a store file,
because a rotation within one clock tick keeps the mtime. Nothing is rewritten when the same
snapshot is there (this runs on Python's cache hit); a new one is written with the store's
``atomic_write``. Failing to write is never an error of ``get``.
"""

from __future__ import annotations

import os

from pyx_auth import settings as names
from pyx_auth.file_checks import open_regular
from pyx_auth.hosts import Origin, is_pyx_origin, parent_domain
from pyx_auth.protocol import bearer_answer
from pyx_auth.store import (
    TOKENS_FILE,
    Store,
    api_key_file,
    atomic_write,
    store_directory,
    uv_state_dir,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from pyx_auth.settings import Settings
    from pyx_auth.sources import Token

FORMAT = "pyx-auth-bazel-snapshot 1"
FILE_NAME = "pyx-auth-bazel.snapshot"
NO_FAST_PATH = "PYX_AUTH_NO_FAST_PATH"
VARIABLES = (
    names.PYX_API_URL,
    names.PYX_CDN_DOMAIN,
    names.PYX_AUTH_TOKEN,
    names.UV_AUTH_TOKEN,
    names.PYX_API_KEY,
    names.UV_API_KEY,
    names.PYX_CREDENTIALS_DIR,
    names.UV_CREDENTIALS_DIR,
    names.XDG_DATA_HOME,
    "HOME",
    names.UV_LOCK_TIMEOUT,
    names.PYX_AUTH_NO_EXPIRES,
    names.PYX_AUTH_TIMEOUT,
    names.PYX_AUTH_DEBUG,
    names.PYX_WORKSPACE,
    names.PYX_TRUSTED_ACCESS_AUDIENCE,
    names.PYX_TRUSTED_ACCESS_PATH,
    names.PYX_OIDC_TOKEN,
    names.PYX_OIDC_TOKEN_FILE,
    names.PYX_OIDC_TOKEN_VAR,
    *names.CI_VARIABLES,
)
"""Every variable the pyx path of ``get`` reads; the stub has the same list and compares all."""
HASHED = (names.PYX_API_KEY,)
"""Secrets kept as a hash: the stub can compute FNV-1a with shell arithmetic in ~1 ms."""
NEVER_WRITTEN = (names.UV_AUTH_TOKEN, names.UV_API_KEY, names.PYX_OIDC_TOKEN)
"""Secrets that are not the answer's: with one set, no snapshot (the stub then defers)."""
KEYRING_MARKER = "pyx-auth-keyring.json"
SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~+/=-")
"""Characters of a token the stub may compare: no JSON escapes, no shell pattern syntax."""
SAFE_HOST = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-")
"""Host characters the stub accepts: anything else (upper case, IDNs, brackets) defers."""
FNV_OFFSET, FNV_PRIME, BITS = 0xCBF29CE484222325, 0x100000001B3, 1 << 64


def fnv1a(text: str) -> str:
    """64-bit FNV-1a of ASCII ``text``, signed decimal: what the stub's bash arithmetic prints."""
    value = FNV_OFFSET
    for byte in text.encode("ascii"):
        value = ((value ^ byte) * FNV_PRIME) % BITS
    return str(value - BITS if value >= BITS >> 1 else value)


def snapshot_path(environ: Mapping[str, str]) -> str | None:
    """Where the stub looks, from the environment alone; None where it cannot know (it defers)."""
    root = environ.get(names.PYX_CREDENTIALS_DIR)
    if root is None:
        data = environ.get(names.XDG_DATA_HOME, "")
        if not data.startswith("/"):
            home = environ.get("HOME", "")
            data = home + "/.local/share" if home.startswith("/") else ""
        root = data + "/pyx/credentials" if data else None
    return root + "/" + FILE_NAME if root and root.startswith("/") else None


def _variable_lines(environ: Mapping[str, str]) -> list[str] | None:
    lines = []
    for name in VARIABLES:
        value = environ.get(name)
        if value is None:
            lines.append(f"{name} -")
        elif name in NEVER_WRITTEN or not value.isprintable() or not value.isascii():
            return None  # a secret that must not reach the disk, or a value the stub cannot read
        else:
            lines.append(f"{name} #{fnv1a(value)}" if name in HASHED else f"{name} ={value}")
    return lines


def _store_lines(settings: Settings, token: Token) -> list[str] | None:
    """The store files behind the answer, and the folders that chose the store."""
    environ = settings.environ
    if token.source == names.PYX_AUTH_TOKEN:
        return []
    if not environ.get("HOME", "").startswith("/"):
        return None  # without it Python asks the password database, the stub cannot
    for name in (names.PYX_CREDENTIALS_DIR, names.UV_CREDENTIALS_DIR):
        if not environ.get(name, "/").startswith("/"):
            return None  # relative: Python resolves it against the cwd, the stub cannot
    store = Store(store_directory(settings))
    lines: list[str] = []
    if names.PYX_CREDENTIALS_DIR not in environ:
        mac_legacy = os.path.join(environ["HOME"], "Library", "Application Support", "uv")
        legacy_root = environ.get(names.UV_CREDENTIALS_DIR) or os.path.join(
            uv_state_dir(environ), "credentials"
        )
        legacy = os.path.join(legacy_root, os.path.basename(store.directory))
        for folder in (mac_legacy, legacy):
            lines.append(("dir " if os.path.isdir(folder) else "nodir ") + folder)
    if token.source == names.PYX_API_KEY:
        assert settings.api_key is not None
        lines.append("same " + store.path(api_key_file(settings.api_key[1].strip())))
    elif token.source == "uv login":
        lines += ["absent " + store.path(KEYRING_MARKER), "login " + store.path(TOKENS_FILE)]
    else:
        return None  # Trusted Access, the keyring: not for the stub
    return lines


def _host_lines(settings: Settings) -> list[str]:
    """The https hosts on port 443 that ``get`` gives this token to, and the CDN suffix."""
    api, extra = settings.api, settings.extra_pyx_hosts
    candidates = [api.host, parent_domain(api.host), *extra]
    hosts = [
        host
        for host in dict.fromkeys(candidates)
        if host
        and SAFE_HOST.issuperset(host)
        and is_pyx_origin(Origin("https", host, 443), api, settings.cdn_domain, extra)
    ]
    lines = [f"host {host}" for host in hosts]
    if SAFE_HOST.issuperset(settings.cdn_domain):
        lines.append(f"suffix {settings.cdn_domain}")
    return lines


def render(settings: Settings, token: Token, margin: float, text: str, now: float) -> str | None:
    """The snapshot for the answer ``text``, or None when the stub must not repeat it."""
    exp = token.expires_at
    if settings.warnings or exp is None or not token.fresh(now, margin):
        return None
    until = int(exp - margin)  # the Python path serves while now <= exp - margin
    repeat = bearer_answer(token.value, exp, with_expires=not settings.no_expires, now=until - 1)
    if repeat != text or not SAFE.issuperset(token.value) or "\n" in text:
        return None  # the answer would change before ``until``: let Python say it each time
    variables = _variable_lines(settings.environ)
    store = _store_lines(settings, token)
    if variables is None or store is None:
        return None
    lines = [FORMAT, str(until), text, token.value, *variables, *store, *_host_lines(settings)]
    return "\n".join([*lines, "end", ""])


def offer(settings: Settings, token: Token, margin: float, text: str) -> None:
    """Write or refresh the snapshot for this answer if the stub may repeat it; never raises."""
    import time

    environ = settings.environ
    try:
        path = snapshot_path(environ)
        if path is None or environ.get(NO_FAST_PATH, "") not in ("", "0"):
            return
        content = render(settings, token, margin, text, time.time())
        if content is not None:
            _write(path, content.encode())
    except Exception as exc:  # the answer stands; the stub just defers
        settings.trace(f"Bazel snapshot not written ({type(exc).__name__})")


def _write(path: str, data: bytes) -> None:
    """Atomically replace ``path`` (0600, in a 0700 folder) unless it already holds ``data``."""
    fd = open_regular(path, os.O_RDONLY)  # never a link, never a hang on a planted FIFO
    if fd is not None:
        try:
            info = os.fstat(fd)
            same = (
                info.st_uid == os.geteuid()
                and info.st_mode & 0o777 == 0o600
                and info.st_size == len(data)
                and os.read(fd, len(data)) == data
            )
        finally:
            os.close(fd)
        if same:
            return
    Store(os.path.dirname(path)).ensure_directory()
    atomic_write(path, data)


def forget(environ: Mapping[str, str]) -> None:
    """Remove the snapshot (``pyx-auth logout``): no copy of a token outlives the login here."""
    import contextlib

    path = snapshot_path(environ)
    if path is not None:
        with contextlib.suppress(OSError):  # none there; a stale one could not be served
            os.unlink(path)
