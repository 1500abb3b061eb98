"""``PYX_AUTH_TOKEN`` (or the deprecated ``UV_AUTH_TOKEN``): a ready token, used as given."""

from __future__ import annotations

import time

from pyx_auth.errors import CredentialError, PyxAuthError, TokenExpiredError
from pyx_auth.settings import PYX_AUTH_TOKEN, REFRESH_MARGIN
from pyx_auth.sources.base import Token, minutes, single_word_variable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyx_auth.sources.base import Lookup


class EnvToken:
    """A token someone else minted. It cannot be refreshed, only checked."""

    renews_offline = True

    def __init__(self, variable: str, value: str) -> None:
        self.token = Token(value, variable)

    def cached(self) -> Token:
        return self.token

    def renew(self, margin: float, deadline: float, stale: Token | None) -> Token:
        """The token as given, unless it has expired or cannot meet an explicit minimum.

        Like uv, a token without a readable ``exp`` or close to expiry is used as is; only a
        minimum above the usual refresh margin (``--min-ttl``) is enforced.
        """
        token = self.token
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

    def describe(self) -> str:
        return f"{self.token.source} set"

    def status(self, deadline: float) -> tuple[dict[str, object], PyxAuthError | None]:
        try:
            self.renew(REFRESH_MARGIN, deadline, None)
        except PyxAuthError as exc:
            return {}, exc
        return {}, None


class EnvTokenSource:
    name = PYX_AUTH_TOKEN
    summary = "a ready pyx token, used as given (UV_AUTH_TOKEN: deprecated alias)"

    def bind(self, lookup: Lookup) -> EnvToken | None:
        found = lookup.settings.auth_token
        if found is None:
            return None
        variable, value = single_word_variable(
            found, "a pyx token", "print it with `pyx-auth token`"
        )
        return EnvToken(variable, value)

    def absent(self, lookup: Lookup) -> str:
        return f"{PYX_AUTH_TOKEN} not set"


SOURCE = EnvTokenSource()
