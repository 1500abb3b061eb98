"""An API key kept in the system keyring by ``pyx-auth login --api-key``.

Asking the keyring costs ~165 ms and can hang, so it is asked only when a token has to be
minted. What the cache hit needs is on disk: the marker file ``pyx-auth-keyring.json`` in
uv's store says that a keyring-held key exists for this API and names the file its token is
cached in, ``<digest(key)>.json``, exactly where uv caches a ``PYX_API_KEY`` token. The
digest is not secret; the key itself never touches the disk. ``fetch`` takes the key from the
keyring (under the time limit of ``keyring_store``) and exchanges it under the store lock.
"""

from __future__ import annotations

import time

from pyx_auth.errors import CredentialError
from pyx_auth.sources.api_key import read_cached_jwt
from pyx_auth.sources.base import StoredToken, Token
from pyx_auth.store import api_key_file

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyx_auth.sources.base import Lookup
    from pyx_auth.store import Store

MARKER_FILE = "pyx-auth-keyring.json"
SOURCE_NAME = "keyring API key"
_HEX = frozenset("0123456789abcdef")


def _is_token_file(name: object) -> bool:
    """``<16 hex digits>.json``: a name inside the store, never a path out of it."""
    return (
        isinstance(name, str)
        and len(name) == 21
        and name.endswith(".json")
        and _HEX.issuperset(name[:16])
    )


def read_marker(store: Store) -> str | None:
    """The token file named by the marker, or None if there is no usable marker."""
    data = store.read_object(MARKER_FILE)
    name = None if data is None else data.get("token_file")
    return name if isinstance(name, str) and _is_token_file(name) else None


def write_marker(store: Store, api_key: str) -> None:
    """Record that the keyring holds ``api_key`` for this API; only its digest is written."""
    import json

    store.write(MARKER_FILE, json.dumps({"token_file": api_key_file(api_key)}))


class KeyringKey(StoredToken):
    def read(self) -> Token | None:
        return read_cached_jwt(self.store, self.file_name, SOURCE_NAME)

    def fetch(self, deadline: float) -> Token:
        from pyx_auth import keyring_store
        from pyx_auth.api import PyxClient

        marker = self.store.path(MARKER_FILE)
        key = keyring_store.get_key(self.settings, deadline - time.monotonic())
        service = keyring_store.service_name(self.settings)
        if key is None:
            raise CredentialError(
                f"{marker} says the system keyring holds an API key, but service {service!r}"
                " has none; run `pyx-auth login --api-key` again or `pyx-auth logout`"
            )
        if api_key_file(key) != self.file_name:
            raise CredentialError(
                f"the API key in keyring service {service!r} changed since"
                " `pyx-auth login --api-key`; run it again"
            )
        with PyxClient(self.settings, deadline) as client:
            value = client.exchange_api_key(key, "the API key in the system keyring")
        self.store.write(self.file_name, value)
        return Token(value, SOURCE_NAME)

    def describe(self) -> str:
        return "API key in the system keyring (pyx-auth login --api-key)"


class UnreadableMarker(KeyringKey):
    """A marker that names no token file: nothing is cached, and renewing says how to fix it."""

    def read(self) -> Token | None:
        return None

    def renew(self, margin: float, deadline: float, stale: Token | None) -> Token:
        raise CredentialError(
            f"{self.store.path(MARKER_FILE)} is unreadable; run `pyx-auth login --api-key`"
            " again or `pyx-auth logout`"
        )


class KeyringKeySource:
    name = "keyring"
    summary = "an API key stored by `pyx-auth login --api-key` (asked only to mint)"

    def bind(self, lookup: Lookup) -> KeyringKey | None:
        store = lookup.store
        if store.read(MARKER_FILE) is None:
            return None
        token_file = read_marker(store)
        if token_file is None:
            return UnreadableMarker(lookup, MARKER_FILE)
        return KeyringKey(lookup, token_file)

    def absent(self, lookup: Lookup) -> str:
        return "no API key in the keyring"


SOURCE = KeyringKeySource()
