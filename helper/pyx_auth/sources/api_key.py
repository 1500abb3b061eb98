"""``PYX_API_KEY`` (or the deprecated ``UV_API_KEY``): exchanged for a token, cached as uv does.

The token is cached in ``<store>/<digest(api_key)>.json`` as the raw JWT, so a token minted
by uv 0.12.6 is reused by pyx-auth and the other way round.
"""

from __future__ import annotations

from pyx_auth.claims import is_single_word
from pyx_auth.errors import ConfigError
from pyx_auth.sources import Source, Token, single_flight
from pyx_auth.store import Store, api_key_file

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyx_auth.settings import Settings


def read_cached_jwt(store: Store, file_name: str, source: str) -> Token | None:
    """A JWT cached as raw text, or None if the file is missing or holds something else."""
    text = store.read(file_name)
    if text is None:
        return None
    value = text.strip()
    if not is_single_word(value):
        return None
    return Token(value, source)


class ApiKeySource(Source):
    name = "PYX_API_KEY"

    def _key(self, settings: Settings) -> tuple[str, str]:
        assert settings.api_key is not None
        variable, value = settings.api_key
        return variable, value.strip()

    def applies(self, settings: Settings) -> bool:
        if settings.api_key is None:
            return False
        variable, value = self._key(settings)
        if not value:
            raise ConfigError(f"{variable} is set but empty; unset it or set it to a pyx API key")
        if not is_single_word(value):
            raise ConfigError(
                f"{variable} contains spaces, control or non-ASCII characters; a pyx API key"
                " is one word (check how it was pasted)"
            )
        return True

    def cached(self, settings: Settings) -> Token | None:
        variable, key = self._key(settings)
        return read_cached_jwt(Store.for_settings(settings), api_key_file(key), variable)

    def renew(self, settings: Settings, margin: float, deadline: float) -> Token:
        variable, key = self._key(settings)
        store = Store.for_settings(settings)
        file_name = api_key_file(key)

        def exchange() -> Token:
            from pyx_auth.api import PyxClient

            with PyxClient(settings, deadline) as client:
                value = client.exchange_api_key(key, f"the API key in {variable}")
            store.write(file_name, value)
            return Token(value, variable)

        return single_flight(
            settings,
            store=store,
            file_name=file_name,
            margin=margin,
            deadline=deadline,
            read=lambda: read_cached_jwt(store, file_name, variable),
            fetch=exchange,
        )

    def describe(self, settings: Settings) -> str:
        if settings.api_key is None:
            return "PYX_API_KEY not set"
        return f"{settings.api_key[0]} set"
