"""``PYX_AUTH_TOKEN`` (or the deprecated ``UV_AUTH_TOKEN``): a ready token, used as given."""

from __future__ import annotations

import time

from pyx_auth.claims import is_single_word
from pyx_auth.errors import ConfigError, CredentialError, TokenExpiredError
from pyx_auth.settings import REFRESH_MARGIN
from pyx_auth.sources import Source, Token, minutes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyx_auth.settings import Settings



class EnvTokenSource(Source):
    """A token someone else minted. It cannot be refreshed, only checked."""

    name = "PYX_AUTH_TOKEN"
    renews_offline = True

    def applies(self, settings: Settings) -> bool:
        if settings.auth_token is None:
            return False
        variable, value = settings.auth_token
        if not value.strip():
            raise ConfigError(f"{variable} is set but empty; unset it or set it to a pyx token")
        if not is_single_word(value.strip()):
            raise ConfigError(
                f"{variable} contains spaces, control or non-ASCII characters; a pyx token is"
                " one word (print it with `pyx-auth token`)"
            )
        return True

    def cached(self, settings: Settings) -> Token | None:
        assert settings.auth_token is not None
        variable, value = settings.auth_token
        return Token(value.strip(), variable)

    def renew(self, settings: Settings, margin: float, deadline: float) -> Token:
        """The token as given, unless it has expired or cannot meet an explicit minimum.

        Like uv, a token without a readable ``exp`` or close to expiry is used as is; only a
        minimum above the usual refresh margin (``--min-ttl``) is enforced.
        """
        token = self.cached(settings)
        assert token is not None
        if token.expires_at is None:
            return token
        left = token.expires_at - time.time()
        if left <= 0:
            raise TokenExpiredError(
                f"the token in {token.source} expired {minutes(-left)} ago;"
                f" mint a new one (pyx-auth token) or unset {token.source}"
            )
        if margin > REFRESH_MARGIN and left < margin:
            raise CredentialError(
                f"the token in {token.source} has {minutes(left)} left, less than the"
                f" {minutes(margin)} asked for, and a fixed token cannot be refreshed;"
                f" unset {token.source} or set PYX_API_KEY instead"
            )
        return token

    def describe(self, settings: Settings) -> str:
        if settings.auth_token is None:
            return "PYX_AUTH_TOKEN not set"
        return f"{settings.auth_token[0]} set"
