"""pyx-auth as a ``keyring`` backend, so pip, uv (any version), twine and Poetry get pyx tokens.

keyring finds this module through the ``keyring.backends`` entry point and imports it in
every process that uses keyring, so importing it costs only keyring's own modules: the
pyx-auth modules are imported on the first lookup, and httpx/PyJWT only if a token must be
minted. A service is ours when its URL is a pyx URL by the rules of ``pyx-auth get``
(``hosts.is_pyx``) and has no userinfo; pip also asks with a bare
``host[:port]``, which carries no scheme and is taken as ``https://host[:port]``, so a bare
host is pyx only where an https URL on it would be. The token comes from the same source chain,
cache and refresh lock as ``pyx-auth token``.

It never breaks the program that loaded it: no exception leaves ``get_password`` or
``get_credential``; a failure is one ``pyx-auth: ...`` line on stderr and ``None``, which
lets keyring ask the next backend. ``pyx-auth login --api-key`` keeps its key in the system
keyring; ``keyring_store`` reads it from the system backend, never from this one.
"""

from __future__ import annotations

import sys

from keyring.backend import KeyringBackend
from keyring.credentials import SimpleCredential
from keyring.errors import NoKeyringError, PasswordDeleteError, PasswordSetError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyx_auth.protocol import RequestUri
    from pyx_auth.settings import Settings

USERNAME = "__token__"
PRIORITY = 9
"""Above every system keyring (5 for macOS, Windows and Secret Service), so keyring's chainer
asks this backend first; on a headless machine, where only the fail backend (0) is left, it is
the backend keyring picks. ``keyring --list-backends`` shows it."""
LOGIN_HINT = (
    "pyx tokens are minted, not stored in a keyring: run `pyx-auth login` (or"
    " `pyx-auth login --api-key`), or `pyx-auth logout` to remove credentials"
)

_said: set[str] = set()


def _say(message: str) -> None:
    """One ``pyx-auth:`` line on stderr, once per process (pip asks again with the bare host)."""
    if message not in _said:
        _said.add(message)
        sys.stderr.write(f"pyx-auth: {message}\n")
        sys.stderr.flush()


class NotPyxService(NoKeyringError, NotImplementedError):
    """set/delete for a service that is not pyx's.

    keyring's chainer passes ``NotImplementedError`` on to the next backend; when this backend
    is keyring's only one (headless), programs get the ``NoKeyringError`` the fail backend gave.
    """


def service_url(service: str) -> str:
    """The URL a keyring service names: itself, or ``https://`` + a bare ``host[:port]``."""
    from pyx_auth.hosts import split_uri

    parts = split_uri(service)
    return service if parts is not None and parts.host is not None else "https://" + service


def pyx_request(service: str) -> tuple[Settings, RequestUri] | None:
    """The settings and parsed URL when ``service`` may get a pyx token, else None.

    Raises ``PyxAuthError`` for a broken environment."""
    import os

    from pyx_auth.hosts import is_pyx
    from pyx_auth.protocol import absolute_uri
    from pyx_auth.settings import Settings

    settings = Settings(os.environ)
    request = absolute_uri(service_url(service))
    if request is None or request.parts.userinfo is not None:
        return None
    if not is_pyx(request.origin, settings):
        return None
    return settings, request


def pyx_token(service: str) -> str | None:
    """A token valid for the usual margin if ``service`` is pyx's, else None. May raise."""
    import time

    from pyx_auth.settings import REFRESH_MARGIN
    from pyx_auth.sources import resolve_token
    from pyx_auth.token_output import mask_in_ci_log

    found = pyx_request(service)
    if found is None:
        return None
    settings, request = found
    for warning in settings.warnings:
        _say(f"warning: {warning}")
    deadline = time.monotonic() + settings.timeout
    # The request URL names the workspace for Trusted Access, as in `get`.
    token = resolve_token(settings, REFRESH_MARGIN, deadline, uri=request)
    if token is None:
        return None
    mask_in_ci_log(token.value, settings.environ, sys.stderr)  # as `pyx-auth token` does
    return token.value


def _explain(exc: Exception) -> str:
    """The one line for a failed lookup; a ``PyxAuthError``'s message never holds a secret."""
    import os

    from pyx_auth.errors import PyxAuthError
    from pyx_auth.settings import PYX_AUTH_DEBUG, debug_enabled

    if isinstance(exc, PyxAuthError):
        return str(exc)
    if debug_enabled(os.environ):
        import traceback

        traceback.print_exception(exc)
    return (
        f"internal error in the keyring backend ({type(exc).__name__}); rerun with"
        f" {PYX_AUTH_DEBUG}=1 for details and report it"
    )


def _is_pyx_service(service: str) -> bool:
    try:
        return pyx_request(service) is not None
    except Exception as exc:  # a broken environment makes no service ours
        _say(_explain(exc))
        return False


class PyxKeyring(KeyringBackend):
    """``__token__`` and a fresh pyx token for pyx services; nothing for any other service."""

    priority = PRIORITY

    def get_password(self, service: str, username: str | None) -> str | None:
        if username not in (None, USERNAME):
            return None
        try:
            return pyx_token(service)
        except Exception as exc:  # the host program must never see our failure
            _say(_explain(exc))
            return None

    def get_credential(self, service: str, username: str | None) -> SimpleCredential | None:
        password = self.get_password(service, username)
        return None if password is None else SimpleCredential(USERNAME, password)

    def set_password(self, service: str, username: str, password: str) -> None:
        if _is_pyx_service(service):
            raise PasswordSetError(LOGIN_HINT)
        raise NotPyxService(f"no keyring backend can store {service!r} (pyx-auth's: pyx only)")

    def delete_password(self, service: str, username: str) -> None:
        if _is_pyx_service(service):
            raise PasswordDeleteError(LOGIN_HINT)
        raise NotPyxService(f"no keyring backend holds {service!r} (pyx-auth's: pyx only)")
