"""The system keyring, where ``pyx-auth login --api-key`` keeps a long-lived API key.

Keyring backends can hang rather than fail: a Secret Service that D-Bus can activate but
that never starts stalls for 120 s or more, and a locked collection waits for an unlock
nobody can answer over SSH (``buildkit-and-ci.md`` §10). So every keyring call, including
``import keyring`` and the backend choice, runs within ``timeout`` seconds
(``deadline.run_within``: a daemon worker thread, abandoned when the time is up), and
whatever a backend raises becomes a one-line ``KeyringError``. keyring is imported only in
that worker: the Bazel cache hit never pays its ~165 ms.

The key is stored under service ``pyx-auth:<canonical API URL>`` (for example
``pyx-auth:https://api.pyx.dev/``) and user name ``api-key``. In CI (``CI``,
``GITHUB_ACTIONS``, ``GITLAB_CI`` or ``BUILDKITE`` set) the keyring is not used at all,
unless ``PYTHON_KEYRING_BACKEND`` names a backend explicitly.
"""

from __future__ import annotations

import time

from pyx_auth.deadline import run_within
from pyx_auth.errors import KeyringError
from pyx_auth.settings import CI_VARIABLES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeVar

    from keyring.backend import KeyringBackend

    from pyx_auth.settings import Settings

    T = TypeVar("T")

SERVICE_PREFIX = "pyx-auth:"
USERNAME = "api-key"
PYTHON_KEYRING_BACKEND = "PYTHON_KEYRING_BACKEND"
"""keyring's own variable: an explicit backend choice, honoured even in CI."""
NO_KEYRING = "no keyring on this machine: set PYX_API_KEY instead"


def service_name(settings: Settings) -> str:
    """The keyring service an API's key is stored under; names the API, never the key."""
    return SERVICE_PREFIX + settings.api_url


def skip_reason(settings: Settings) -> str | None:
    """Why the keyring must not be used here (a CI job), or None."""
    if PYTHON_KEYRING_BACKEND in settings.environ:
        return None
    for name in CI_VARIABLES:
        if settings.environ.get(name):
            return f"no keyring in CI ({name} is set): set PYX_API_KEY instead"
    return None


def _call(settings: Settings, timeout: float, action: Callable[[KeyringBackend], T]) -> T:
    """Run ``action`` on the keyring backend within ``timeout`` seconds (``run_within``)."""
    reason = skip_reason(settings)
    if reason is not None:
        raise KeyringError(reason)

    def work() -> T:
        try:
            return action(_backend())
        except BaseException as exc:  # the keyring adapter: backends may raise anything
            raise _translate(exc) from exc

    def timed_out() -> KeyringError:
        within = f"within {timeout:.0f} s" if timeout >= 0.5 else "in time"
        return KeyringError(
            f"the system keyring did not answer {within} (locked, or a Secret"
            " Service that never starts?); set PYX_API_KEY instead, or PYX_AUTH_TIMEOUT to"
            " wait longer"
        )

    return run_within(time.monotonic() + timeout, work, timed_out, "pyx-auth keyring")


def _backend() -> KeyringBackend:
    """The system backend; the null and fail backends count as no keyring.

    Never pyx-auth's own backend (``keyring_backend``), which keyring picks or chains first
    once pyx-auth is installed: in its place the best other backend, as keyring's chainer
    ranks them, so the key is neither stored in nor looked up through pyx-auth itself.
    """
    import keyring
    from keyring.backends import chainer, fail, null
    from keyring.errors import NoKeyringError

    from pyx_auth.keyring_backend import PyxKeyring

    backend = keyring.get_keyring()
    if isinstance(backend, PyxKeyring | chainer.ChainerBackend):
        others = [b for b in chainer.ChainerBackend.backends if not isinstance(b, PyxKeyring)]
        if not others:
            raise NoKeyringError(NO_KEYRING)
        backend = others[0]
    if isinstance(backend, fail.Keyring | null.Keyring):
        raise NoKeyringError(NO_KEYRING)
    return backend


def _translate(exc: BaseException) -> KeyringError:
    """A one-line ``KeyringError`` for what a backend raised; not its message, which may echo."""
    if isinstance(exc, KeyringError):
        return exc
    if isinstance(exc, ImportError):
        return KeyringError(f"the keyring package cannot be loaded: {NO_KEYRING}")
    from keyring.errors import KeyringLocked, NoKeyringError

    if isinstance(exc, NoKeyringError):
        return KeyringError(NO_KEYRING)
    if isinstance(exc, KeyringLocked):
        return KeyringError("the system keyring is locked: unlock it, or set PYX_API_KEY instead")
    return KeyringError(
        f"the system keyring failed ({type(exc).__name__}): set PYX_API_KEY instead"
    )


def backend_name(settings: Settings, timeout: float) -> str:
    """The usable backend's display name, e.g. "SecretService Keyring"; ``KeyringError`` if none."""
    return _call(settings, timeout, lambda backend: str(backend.name))


def get_key(settings: Settings, timeout: float) -> str | None:
    """The API key stored for this API, or None."""
    service = service_name(settings)

    def action(backend: KeyringBackend) -> str | None:
        value = backend.get_password(service, USERNAME)
        return value if isinstance(value, str) and value else None

    return _call(settings, timeout, action)


def set_key(settings: Settings, key: str, timeout: float) -> str:
    """Store the key, read it back to be sure it was kept, and return the backend's name."""
    service = service_name(settings)

    def action(backend: KeyringBackend) -> str:
        backend.set_password(service, USERNAME, key)
        if backend.get_password(service, USERNAME) != key:
            raise KeyringError(
                f"the system keyring ({backend.name}) did not keep the key: set PYX_API_KEY instead"
            )
        return str(backend.name)

    return _call(settings, timeout, action)


def delete_key(settings: Settings, timeout: float) -> bool:
    """Remove the stored key; False if there was none."""
    service = service_name(settings)

    def action(backend: KeyringBackend) -> bool:
        from keyring.errors import PasswordDeleteError

        if backend.get_password(service, USERNAME) is None:
            return False
        try:
            backend.delete_password(service, USERNAME)
        except PasswordDeleteError:
            return False
        return True

    return _call(settings, timeout, action)
