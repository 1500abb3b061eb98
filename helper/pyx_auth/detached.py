"""Spend a single-use credential in a process that outlives the one that asked.

Bazel kills a credential helper (SIGKILL, on its pid alone) at ``--credential_helper_timeout``,
and pyx-auth gives up at its own deadline; pyx may have rotated the refresh token by then, and
a rotated token that never reaches disk loses the user's login. So the exchange and the write
of its result run in a forked child in its own session, with its own longer bound: a kill of
the caller does not reach it, and its standard streams are ``/dev/null``, not Bazel's pipes
(Bazel reads the helper's output until EOF). The child shares the caller's open lock file, so
the lock stays held until the result is on disk; others waiting on it then read the result.

The caller waits only until its own deadline, then fails with one line.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import time

from pyx_auth import errors

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

DETACHED_BUDGET = 60.0
"""Seconds the child gives pyx, however little the caller had left."""
SLOW_MESSAGE = "pyx is slow; the refresh continues in the background, try again"
ENDED = "the background refresh ended without an answer (killed?); try again"


def spend_detached(spend: Callable[[float], str], deadline: float) -> str:
    """Run ``spend(child_deadline)`` in a detached child; its result, once it has succeeded.

    The result (an access token) comes back through a private pipe.

    Raises the child's ``PyxAuthError`` (same class and message), or ``NetworkError`` with
    ``SLOW_MESSAGE`` when ``deadline`` passes first. Without ``os.fork``, or with other
    threads running (forking them is unsafe), ``spend`` runs here instead.
    """
    import threading

    if not hasattr(os, "fork") or threading.active_count() > 1:
        return spend(deadline)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the caller's code
        os.close(read_end)
        _child(spend, max(deadline, time.monotonic() + DETACHED_BUDGET), write_end)
    os.close(write_end)
    try:
        report = _wait(read_end, deadline)
    finally:
        os.close(read_end)
    if report is None:
        raise errors.NetworkError(SLOW_MESSAGE)
    os.waitpid(pid, 0)  # it has reported, so it is exiting: no zombie left behind
    return _result(report)


def _child(spend: Callable[[float], str], deadline: float, report_fd: int) -> None:
    """Detach, run ``spend``, report its result or error on ``report_fd``, and exit."""
    status = 1
    try:
        os.setsid()  # a new session: no signal to the caller's process group reaches us
        null = os.open(os.devnull, os.O_RDWR)
        for stream in (0, 1, 2):
            os.dup2(null, stream)
        os.close(null)
        try:
            report = {"result": spend(deadline)}
            status = 0
        except errors.PyxAuthError as exc:
            report = {"error": type(exc).__name__, "message": str(exc)}
        except BaseException:  # reported as one line, never a traceback
            report = {"error": "PyxAuthError", "message": "the background refresh failed"}
        with contextlib.suppress(OSError):  # the caller is gone: the result is on disk
            os.write(report_fd, json.dumps(report).encode())
    finally:
        os._exit(status)


def _wait(read_end: int, deadline: float) -> dict[str, str] | None:
    """The child's report, or None if ``deadline`` passes first."""
    data = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        ready, _, _ = select.select([read_end], [], [], left)
        if not ready:
            continue
        chunk = os.read(read_end, 65536)
        if not chunk:
            break  # the child closed its end: the report is complete
        data += chunk
    try:
        report = json.loads(data) if data else None
    except ValueError:
        report = None
    return report if isinstance(report, dict) else {"error": "PyxAuthError", "message": ENDED}


def _result(report: dict[str, str]) -> str:
    """The child's result, or its error raised as the same ``PyxAuthError`` class."""
    result = report.get("result")
    if isinstance(result, str):
        return result
    name = report.get("error")
    cls = getattr(errors, str(name), errors.PyxAuthError)
    if not (isinstance(cls, type) and issubclass(cls, errors.PyxAuthError)):
        cls = errors.PyxAuthError
    raise cls(str(report.get("message") or "the background refresh failed"))
