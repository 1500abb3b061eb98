"""``PYX_API_KEY`` (or the deprecated ``UV_API_KEY``): exchanged for a token, cached as uv does.

The token is cached in ``<store>/<digest(api_key)>.json`` as the raw JWT, so a token minted
by uv 0.12.6 is reused by pyx-auth and the other way round.
"""

from __future__ import annotations

from pyx_auth.settings import PYX_API_KEY
from pyx_auth.sources.base import StoredToken, Token, is_single_word, single_word_variable
from pyx_auth.store import api_key_file

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyx_auth.sources.base import Lookup
    from pyx_auth.store import Store


def read_cached_jwt(store: Store, file_name: str, source: str) -> Token | None:
    """A JWT cached as raw text, or None if the file is missing or holds something else."""
    text = store.read(file_name)
    if text is None:
        return None
    value = text.strip()
    return Token(value, source) if is_single_word(value) else None


class ApiKey(StoredToken):
    def __init__(self, lookup: Lookup, variable: str, key: str) -> None:
        super().__init__(lookup, api_key_file(key))
        self.variable = variable
        self.key = key

    def read(self) -> Token | None:
        return read_cached_jwt(self.store, self.file_name, self.variable)

    def fetch(self, deadline: float) -> Token:
        from pyx_auth.api import PyxClient

        with PyxClient(self.settings, deadline) as client:
            value = client.exchange_api_key(self.key, f"the API key in {self.variable}")
        self.store.write(self.file_name, value)
        return Token(value, self.variable)

    def describe(self) -> str:
        return f"{self.variable} set"


class ApiKeySource:
    name = PYX_API_KEY
    summary = (
        "an API key, exchanged for a token cached in uv's store (UV_API_KEY: deprecated alias)"
    )

    def bind(self, lookup: Lookup) -> ApiKey | None:
        found = lookup.settings.api_key
        if found is None:
            return None
        variable, key = single_word_variable(found, "a pyx API key", "check how it was pasted")
        return ApiKey(lookup, variable, key)

    def absent(self, lookup: Lookup) -> str:
        return f"{PYX_API_KEY} not set"


SOURCE = ApiKeySource()
