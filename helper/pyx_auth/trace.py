"""``PYX_AUTH_DEBUG=1``: one line on stderr per decision, so a user can see why a token came
from where it did (which source, cache hit or miss, lock waits, each HTTP call).

Callers pass only what is safe to show: source names, file paths, URLs without userinfo or
query, statuses and times; never a token, key, refresh token or OIDC token. Off by default
and then costs one attribute test; callers that must format something costly check
``settings.debug`` first.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyx_auth.settings import Settings

PREFIX = "pyx-auth: debug: "


def debug(settings: Settings, message: str) -> None:
    """Write ``pyx-auth: debug: <message>`` to stderr when ``PYX_AUTH_DEBUG`` is on."""
    if settings.debug:
        sys.stderr.write(f"{PREFIX}{message}\n")
        sys.stderr.flush()
