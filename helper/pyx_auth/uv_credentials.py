"""uv's own credential file, ``credentials.toml``: Basic and Bearer credentials for other hosts.

uv 0.12.6's ``uv auth helper`` answers non-pyx URIs from the file ``uv auth login <service>``
writes, and ``pyx-auth get`` does the same, to be a drop-in replacement. Location and
matching follow uv 0.12.6 (``crates/uv-auth/src/store.rs``, ``matching.rs``, ``index.rs``):

- the file is ``$UV_CREDENTIALS_DIR/credentials.toml`` (when set and not empty), else
  ``<uv state dir>/credentials/credentials.toml`` (``~/.local/share/uv/credentials/``);
- it holds ``[[credential]]`` tables: ``service``, and ``scheme = "basic"`` (the default) with
  ``username`` and an optional ``password``, or ``scheme = "bearer"`` with ``token``. One
  malformed entry makes the whole file unusable, as in uv; a later entry replaces an earlier
  one for the same service and user;
- an entry matches a URI when its service has the URI's realm (scheme, host, port), its path
  is a whole-segment prefix of the URI's path, and, if the URI names a user, it is that user's;
- the entry whose service is the URI itself (and whose user is the URI's) wins, then the
  longest service path; two equally good entries are an error, as in uv.

URLs are compared in the form uv's (WHATWG) URL parser gives them: scheme and host lower-case,
IDNs in ASCII, trailing dot kept, default port dropped, dot segments removed, unsafe path
characters percent-encoded. Not replicated, so such URIs match nothing: IPv4 shorthand
(``https://127.1/``), ``https:host`` without slashes, IDNA 2008-only mappings.

The file is read under uv's lock, ``credentials.toml.lock``, because uv rewrites it in place;
``tomllib`` and the lock are imported only when the file exists.
"""

from __future__ import annotations

import binascii
import os
import stat

from pyx_auth.errors import ConfigError, StoreError, UsageError
from pyx_auth.hosts import ascii_host, percent_decode, split_uri
from pyx_auth.settings import UV_CREDENTIALS_DIR
from pyx_auth.store import uv_state_dir

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

CREDENTIALS_FILE = "credentials.toml"
SPECIAL_PORTS = {"ftp": 21, "http": 80, "https": 443, "ws": 80, "wss": 443}
"""WHATWG's special schemes and their default ports: their hosts and paths are normalised."""
_PATH_UNSAFE = frozenset(' "#<>?`{}')
_QUERY_UNSAFE = frozenset(" \"#<>'")
_FRAGMENT_UNSAFE = frozenset(' "<>`')
_SINGLE_DOT = (".", "%2e")
_DOUBLE_DOT = ("..", ".%2e", "%2e.", "%2e%2e")


def credentials_file(environ: Mapping[str, str]) -> str:
    """Where uv keeps ``credentials.toml`` for this environment."""
    directory = environ.get(UV_CREDENTIALS_DIR) or os.path.join(
        uv_state_dir(environ), "credentials"
    )
    return os.path.join(directory, CREDENTIALS_FILE)


def _percent_encode(text: str, unsafe: frozenset[str] = frozenset()) -> str:
    """Percent-encode controls, non-ASCII and ``unsafe``; ``%XX`` is left as it is."""

    def safe(char: str) -> bool:
        return " " <= char < "\x7f" and char not in unsafe

    if all(map(safe, text)):
        return text
    return "".join(
        char if safe(char) else "".join(f"%{byte:02X}" for byte in char.encode()) for char in text
    )


def _normalize_path(path: str, *, special: bool) -> str:
    """A hierarchical path as WHATWG serialises it: dot segments resolved, unsafe encoded."""
    if not path:
        return "/" if special else ""
    segments = path.split("/")[1:]
    kept: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        folded = segment.lower()
        if folded in _DOUBLE_DOT:
            if kept:
                kept.pop()
            if last:
                kept.append("")
        elif folded in _SINGLE_DOT:
            if last:
                kept.append("")
        else:
            kept.append(_percent_encode(segment, _PATH_UNSAFE))
    return "/" + "/".join(kept)


class Url:
    """A URL normalised as uv compares it. Raises ``ValueError`` where uv's parser fails."""

    __slots__ = ("path", "realm", "serialized", "username")

    def __init__(self, url: str) -> None:
        parts = split_uri(url)
        if parts is None:
            raise ValueError("it is not an absolute URL")
        special = parts.scheme in SPECIAL_PORTS
        host, port = parts.host, parts.port
        if special:
            host = ascii_host(percent_decode(host)) if host else None
            if host is None:
                raise ValueError("it has no host")
            if port == SPECIAL_PORTS[parts.scheme]:
                port = None
        userinfo = parts.userinfo or ""
        try:
            self.username = percent_decode(userinfo.partition(":")[0], "strict") or None
        except UnicodeDecodeError:
            raise ValueError("its user name is not UTF-8 once percent-decoded") from None
        self.realm = (parts.scheme, host, port)
        if host is None and not parts.path.startswith("/"):
            self.path = _percent_encode(parts.path)  # an opaque path, as in mailto:
        else:
            self.path = _normalize_path(parts.path, special=special)
        authority = ""
        if host is not None:
            bracketed = f"[{host}]" if ":" in host else host
            authority = f"//{userinfo}@{bracketed}" if userinfo else f"//{bracketed}"
            authority += "" if port is None else f":{port}"
        query = "" if parts.query is None else "?" + _percent_encode(parts.query, _QUERY_UNSAFE)
        fragment = (
            ""
            if parts.fragment is None
            else "#" + _percent_encode(parts.fragment, _FRAGMENT_UNSAFE)
        )
        self.serialized = f"{parts.scheme}:{authority}{self.path}{query}{fragment}"


class Credential:
    """One ``[[credential]]`` entry: its service, its user (None for Bearer), its header."""

    __slots__ = ("header", "service", "username")

    def __init__(self, service: Url, username: str | None, header: str) -> None:
        self.service = service
        self.username = username
        self.header = header


def is_path_prefix(prefix: str, path: str) -> bool:
    """``/simple`` is a prefix of ``/simple`` and ``/simple/x``, not of ``/simpleevil``."""
    if prefix == path:
        return True
    return path.startswith(prefix) and (prefix.endswith("/") or path[len(prefix)] == "/")


def select(credentials: Iterable[Credential], request: Url) -> Credential | None:
    """The best match for ``request``, as uv's ``select_credential``; ambiguity is an error."""
    best: Credential | None = None
    best_rank = (False, -1)
    ambiguous = False
    for credential in credentials:
        service = credential.service
        if (
            service.realm != request.realm
            or not is_path_prefix(service.path, request.path)
            or (request.username is not None and credential.username != request.username)
        ):
            continue
        exact = service.serialized == request.serialized and credential.username == request.username
        rank = (exact, len(service.path))
        if rank > best_rank:
            best, best_rank, ambiguous = credential, rank, False
        elif rank == best_rank:
            ambiguous = True
    if ambiguous:
        raise ConfigError(
            "several users' credentials in uv's credentials.toml match this URI; put the user"
            " name in the URL (https://user@host/...) or remove all but one (uv auth logout)"
        )
    return best


def _text(entry: Mapping[str, object], key: str) -> str | None:
    value = entry.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"`{key}` must be a string")
    return value


def _basic_header(username: str, password: str | None) -> str:
    token = binascii.b2a_base64(f"{username}:{password or ''}".encode(), newline=False)
    return "Basic " + token.decode("ascii")


def _credential(entry: object) -> Credential:
    """One entry, checked as uv checks it. Raises ``ValueError`` saying what is wrong."""
    if not isinstance(entry, dict):
        raise ValueError("each [[credential]] must be a table")
    service_text = _text(entry, "service")
    if service_text is None:
        raise ValueError("`service` is missing")
    try:
        service = Url(service_text)
    except ValueError as exc:
        raise ValueError(f"`service` cannot be used: {exc}") from None  # may hold a password
    scheme = entry.get("scheme", "basic")
    username, password, token = (_text(entry, key) for key in ("username", "password", "token"))
    if scheme == "basic":
        if username is None:
            raise ValueError("`username` is required with `scheme = basic`")
        if token is not None:
            raise ValueError("`token` cannot be provided with `scheme = basic`")
        return Credential(service, username, _basic_header(username, password))
    if scheme == "bearer":
        if username is not None:
            raise ValueError("`username` cannot be provided with `scheme = bearer`")
        if password is not None:
            raise ValueError("`password` cannot be provided with `scheme = bearer`")
        if token is None:
            raise ValueError("`token` is required with `scheme = bearer`")
        if not all(char == "\t" or " " <= char < "\x7f" for char in token):
            raise ValueError("the bearer `token` is not a valid HTTP header value")
        return Credential(service, None, "Bearer " + token)
    raise ValueError("`scheme` must be `basic` or `bearer`")


def parse(text: str) -> list[Credential]:
    """The entries of a ``credentials.toml``; ``ValueError`` if uv would reject the file."""
    import tomllib

    document = tomllib.loads(text.removeprefix("\ufeff"))
    entries = document.get("credential", [])
    if not isinstance(entries, list):
        raise ValueError("`credential` must be an array of tables ([[credential]])")
    by_key: dict[tuple[str, str | None], Credential] = {}
    for number, entry in enumerate(entries, start=1):
        try:
            credential = _credential(entry)
        except ValueError as exc:
            raise ValueError(f"entry {number}: {exc}") from None
        by_key[(credential.service.serialized, credential.username)] = credential
    return list(by_key.values())


def _read(path: str, lock_timeout: float) -> str | None:
    """The file's text, read under uv's lock; None if it vanished meanwhile."""
    from pyx_auth.locking import exclusive_lock

    with exclusive_lock(path + ".lock", lock_timeout):
        try:
            # O_NONBLOCK: a FIFO planted here must not hang Bazel's helper; fstat refuses it.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot read uv's credentials file {path}: {exc.strerror}") from exc
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise StoreError(
                    f"uv's credentials file {path} is not a regular file; remove it"
                )
            data = handle.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise StoreError(
            f"uv's credentials file {path} is not UTF-8; fix it or remove it"
        ) from None


def authorization(uri: str, environ: Mapping[str, str], lock_timeout: float) -> str | None:
    """The ``Authorization`` value uv 0.12.6 would send to ``uri``, or None if it has none."""
    try:
        request = Url(uri)
    except ValueError as exc:
        raise UsageError(f"the URI cannot be matched with uv's stored credentials: {exc}") from None
    path = credentials_file(environ)
    if not os.path.exists(path):
        return None
    text = _read(path, lock_timeout)
    if text is None:
        return None
    try:
        credentials = parse(text)
    except ValueError as exc:  # tomllib.TOMLDecodeError is a ValueError
        raise StoreError(
            f"uv's credentials file {path} is invalid ({exc}); fix it or remove it"
        ) from None
    chosen = select(credentials, request)
    return None if chosen is None else chosen.header
