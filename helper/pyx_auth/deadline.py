"""Run one blocking call within the run's deadline: the one place pyx-auth stops waiting.

A run has one deadline (``time.monotonic()`` seconds, ``PYX_AUTH_TIMEOUT`` from the start),
shared by every call it makes, so that the whole run fits Bazel's 10 s helper timeout. None of
the calls can be trusted to return in time on its own: httpx's timeouts bound each connect and
each read, not their sum (a server that trickles a byte a second never times out); a keyring
backend may wait for an unlock nobody can answer; a ``buildkite-agent`` may never exit. So the
call runs on a daemon thread, and the caller stops waiting when the deadline passes: the thread
is abandoned and dies with the process. Standard library only (the keyring path imports it).
"""

from __future__ import annotations

import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeVar

    from pyx_auth.errors import PyxAuthError

    T = TypeVar("T")

__all__ = ["run_within"]


def run_within(
    deadline: float, call: Callable[[], T], timed_out: Callable[[], PyxAuthError], name: str
) -> T:
    """``call()``'s result, or its exception re-raised here, or ``timed_out()`` once the
    deadline has passed; nothing is started when no time is left. ``name`` names the thread."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise timed_out()
    results: list[T] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(call())
        except BaseException as exc:  # handed to the caller's thread, which decides
            errors.append(exc)

    worker = threading.Thread(target=work, name=name, daemon=True)
    worker.start()
    worker.join(left)
    if errors:
        raise errors[0]
    if results:
        return results[0]
    raise timed_out()
