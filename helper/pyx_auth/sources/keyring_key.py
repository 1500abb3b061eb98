"""An API key kept in the system keyring by ``pyx-auth login --api-key``.

Asking the keyring costs ~165 ms and can hang, so it is asked only when a token has to be
minted. What the cache hit needs is on disk: the marker file ``pyx-auth-keyring.json`` in
uv's store says that a keyring-held key exists for this API and names the file its token is
cached in, ``<digest(key)>.json``, exactly where uv caches a ``PYX_API_KEY`` token. The
digest is not secret; the key itself never touches the disk. ``renew`` takes the key from the
keyring (under the time limit of ``keyring_store``) and exchanges it under the store lock.
"""

from __future__ import annotations

import time

from pyx_auth.errors import CredentialError
from pyx_auth.sources import Source, Token, single_flight
from pyx_auth.sources.api_key import read_cached_jwt
from pyx_auth.store import Store, api_key_file

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyx_auth.settings import Settings

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


class KeyringKeySource(Source):
    name = SOURCE_NAME

    def applies(self, settings: Settings) -> bool:
        return Store.for_settings(settings).read(MARKER_FILE) is not None

    def cached(self, settings: Settings) -> Token | None:
        store = Store.for_settings(settings)
        token_file = read_marker(store)
        return None if token_file is None else read_cached_jwt(store, token_file, SOURCE_NAME)

    def renew(self, settings: Settings, margin: float, deadline: float) -> Token:
        store = Store.for_settings(settings)
        token_file = read_marker(store)
        marker = store.path(MARKER_FILE)
        if token_file is None:
            raise CredentialError(
                f"{marker} is unreadable; run `pyx-auth login --api-key` again or `pyx-auth logout`"
            )

        def exchange() -> Token:
            from pyx_auth import keyring_store
            from pyx_auth.api import PyxClient

            key = keyring_store.get_key(settings, deadline - time.monotonic())
            service = keyring_store.service_name(settings)
            if key is None:
                raise CredentialError(
                    f"{marker} says the system keyring holds an API key, but service {service!r}"
                    " has none; run `pyx-auth login --api-key` again or `pyx-auth logout`"
                )
            if api_key_file(key) != token_file:
                raise CredentialError(
                    f"the API key in keyring service {service!r} changed since"
                    " `pyx-auth login --api-key`; run it again"
                )
            with PyxClient(settings, deadline) as client:
                value = client.exchange_api_key(key, "the API key in the system keyring")
            store.write(token_file, value)
            return Token(value, SOURCE_NAME)

        return single_flight(
            settings,
            store=store,
            file_name=token_file,
            margin=margin,
            deadline=deadline,
            read=lambda: read_cached_jwt(store, token_file, SOURCE_NAME),
            fetch=exchange,
        )

    def describe(self, settings: Settings) -> str:
        if self.applies(settings):
            return "API key in the system keyring (pyx-auth login --api-key)"
        return "no API key in the keyring"
