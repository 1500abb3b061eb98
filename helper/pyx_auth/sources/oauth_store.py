"""uv's OAuth login, ``<store>/tokens.json``, refreshed with its single-use refresh token.

uv writes ``{"access_token": ..., "refresh_token": ...}`` (compact, no newline). Each refresh
spends the refresh token, so the rotated pair is written back before anything else happens,
or uv's next refresh fails and its login is lost; that holds even when pyx's answer carries
no usable access token (the pair is written with an empty one, which both tools refresh).
"""

from __future__ import annotations

from pyx_auth import fastjson
from pyx_auth.errors import CredentialError, ServiceError
from pyx_auth.sources.base import StoredToken, Token, is_single_word
from pyx_auth.store import TOKENS_FILE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyx_auth.sources.base import Lookup
    from pyx_auth.store import Store

SOURCE_NAME = "uv login"


def read_tokens(store: Store) -> tuple[str, str] | None:
    """(access token, refresh token) from ``tokens.json``, or None if missing or unusable."""
    data = store.read_object(TOKENS_FILE)
    if data is None:
        return None
    access, refresh = data.get("access_token"), data.get("refresh_token")
    if not isinstance(access, str) or not isinstance(refresh, str) or not refresh:
        return None
    return access, refresh


def write_tokens(store: Store, access_token: str, refresh_token: str) -> None:
    """Write the pair exactly as uv does (two keys, compact), but atomically and 0600."""
    payload = {"access_token": access_token, "refresh_token": refresh_token}
    store.write(TOKENS_FILE, fastjson.dumps(payload))


def access_token(store: Store) -> Token | None:
    """The stored access token; None if missing or not usable as a header (then it is renewed)."""
    pair = read_tokens(store)
    return None if pair is None or not is_single_word(pair[0]) else Token(pair[0], SOURCE_NAME)


class UvLogin(StoredToken):
    def read(self) -> Token | None:
        return access_token(self.store)

    def fetch(self, deadline: float) -> Token:
        from pyx_auth.api import PyxClient
        from pyx_auth.detached import spend_detached

        store, settings = self.store, self.settings
        where = store.path(TOKENS_FILE)
        pair = read_tokens(store)
        if pair is None:
            raise CredentialError(
                f"{where} cannot be read as a uv login; run `pyx-auth login` to log in again"
            )
        described = f"the login refresh token in {where}"

        def spend(bound: float) -> str:  # in a child that outlives a killed caller
            with store.reserve(TOKENS_FILE):  # the result's space, held before it is spent
                with PyxClient(settings, bound) as client:
                    access, rotated = client.refresh(pair[1], described)
                write_tokens(store, access or "", rotated)
            if access is None:
                raise ServiceError(
                    f"{settings.endpoint('auth/cli/refresh')} answered without a usable"
                    " access token; the new refresh token was saved, so try again"
                )
            return access

        return Token(spend_detached(spend, deadline), SOURCE_NAME)

    def describe(self) -> str:
        return f"uv login in {self.store.path(TOKENS_FILE)}"


class UvLoginSource:
    name = SOURCE_NAME
    summary = "<store>/tokens.json, refreshed with its single-use refresh token"

    def bind(self, lookup: Lookup) -> UvLogin | None:
        if lookup.store.read(TOKENS_FILE) is None:
            return None
        return UvLogin(lookup, TOKENS_FILE)

    def absent(self, lookup: Lookup) -> str:
        return f"no uv login in {lookup.store.path(TOKENS_FILE)}"


SOURCE = UvLoginSource()
