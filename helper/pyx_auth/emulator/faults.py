"""Fault injection and the request counters: queued failures, latency, clock skew, and the
``/_emulator/counts``, ``/reset`` and ``/config`` control endpoints that drive them."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from pyx_auth.emulator.accounts import Accounts
from pyx_auth.emulator.responses import (
    JSON_TYPE,
    Request,
    Response,
    control_payload,
    is_int,
    is_number,
    json_response,
    problem,
)

ENDPOINTS = (
    "access-token",
    "refresh",
    "login",
    "status",
    "logout",
    "simple",
    "files",
    "upload",
    "control",
    "oidc-token",
    "mint-token",
)
"""Endpoint names used by `PyxEmulator.counts` and `PyxEmulator.fail_next`."""

AUTH_ENDPOINTS = frozenset({"access-token", "refresh", "login", "status", "logout"})
"""The endpoints that `PyxEmulator.latency` slows down."""

_FAIL_FIELDS = frozenset({"endpoint", "status", "body", "hang", "times"})


@dataclass
class Failure:
    status: int | None
    body: bytes | None
    hang: float | None
    remaining: int

    def response(self, endpoint: str) -> Response | None:
        """The injected answer, or None to answer normally (after the hang)."""
        if self.status is not None:
            if self.body is not None:
                return Response(self.status, self.body, [JSON_TYPE])
            return problem(self.status, f"injected failure on {endpoint}")
        if self.body is not None:
            return Response(200, self.body, [JSON_TYPE])
        return None


class Faults(Accounts):
    """What tests break on purpose. Sleeps happen in the handler thread, outside the lock."""

    def _init_faults(self) -> None:
        self._counts = dict.fromkeys(ENDPOINTS, 0)
        self._failures: dict[str, deque[Failure]] = {}
        self.latency = 0.0
        """Seconds every auth endpoint (`AUTH_ENDPOINTS`) sleeps before answering."""
        self.clock_skew = 0.0
        """Seconds added to the clock in every response's ``Date`` header (tokens keep the real
        clock): a server whose clock is off, for clock checks."""

    def fail_next(
        self,
        endpoint: str,
        *,
        status: int | None = None,
        body: bytes | None = None,
        hang: float | None = None,
        times: int = 1,
    ) -> None:
        """Make the next `times` requests to `endpoint` fail, to test clients' error paths.

        ``status``: answer with it and a problem body (or ``body``). ``body`` alone: answer 200 with
        those raw bytes. ``hang``: sleep that long first, then answer as above or normally. Calls
        queue up in order.
        """
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {ENDPOINTS}")
        if status is not None and not 200 <= status <= 599:
            raise ValueError(f"status must be 200-599, not {status}")
        if hang is not None and hang < 0:
            raise ValueError("hang must be >= 0")
        if times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            queue = self._failures.setdefault(endpoint, deque())
            queue.append(Failure(status, body, hang, times))

    def counts(self) -> dict[str, int]:
        """Requests seen per endpoint name (every name present, zero if unseen); a copy."""
        with self._lock:
            return dict(self._counts)

    def reset_counts(self) -> None:
        """Zero the request counts and `rejected_refresh_tokens`."""
        with self._lock:
            self._counts = dict.fromkeys(ENDPOINTS, 0)
            self._rejected_refresh = 0

    def _count(self, endpoint: str) -> tuple[Failure | None, float]:
        """Count a request; its injected failure (if any) and the latency it must sleep."""
        with self._lock:
            self._counts[endpoint] += 1
            latency = self.latency if endpoint in AUTH_ENDPOINTS else 0.0
            queue = self._failures.get(endpoint)
            if not queue:
                return None, latency
            failure = queue[0]
            failure.remaining -= 1
            if failure.remaining <= 0:
                queue.popleft()
            return failure, latency

    # -- control endpoints (/_emulator/...) ----------------------------------------------------

    def _control_counts(self) -> dict[str, int]:
        with self._lock:
            return {**self._counts, "rejected_refresh_tokens": self._rejected_refresh}

    def _ctl_counts(self, request: Request) -> Response:
        return json_response(200, self._control_counts())

    def _ctl_reset(self, request: Request) -> Response:
        self.reset_counts()
        return json_response(200, self._control_counts())

    def _ctl_config(self, request: Request) -> Response:
        """``POST /_emulator/config``: validate everything first, then change anything."""
        payload = control_payload(request.body)
        settings = _checked_settings(payload)
        fail = payload.get("fail")
        if fail is not None:
            self.fail_next(**_checked_fail(fail))
        for name, value in settings.items():
            setattr(self, name, value)
        return json_response(
            200,
            {
                "token_lifetime": self.token_lifetime,
                "latency": self.latency,
                "clock_skew": self.clock_skew,
                "rotate_then_delay": self.rotate_then_delay,
            },
        )


def _checked_settings(payload: dict[str, Any]) -> dict[str, Any]:
    """The attributes a config payload sets, each checked; TypeError names a bad one."""
    settings: dict[str, Any] = {}
    lifetime = payload.get("token_lifetime")
    if lifetime is not None:
        if not is_int(lifetime):
            raise TypeError("token_lifetime must be an integer")
        settings["token_lifetime"] = lifetime
    for name, minimum in (("latency", 0.0), ("rotate_then_delay", 0.0), ("clock_skew", None)):
        value = payload.get(name)
        if value is None:
            continue
        if not is_number(value) or (minimum is not None and value < minimum):
            raise TypeError(f"{name} must be a number" + (" >= 0" if minimum is not None else ""))
        settings[name] = float(value)
    return settings


def _checked_fail(fail: object) -> dict[str, Any]:
    """`PyxEmulator.fail_next` keyword arguments from a config payload's ``fail`` object."""
    if not isinstance(fail, dict):
        raise TypeError("fail must be an object")
    unknown = set(fail) - _FAIL_FIELDS
    if unknown:
        raise TypeError(f"unknown fail fields {sorted(unknown)}")
    raw_body = fail.get("body")
    if raw_body is not None and not isinstance(raw_body, str):
        raise TypeError("fail.body must be a string")
    status, hang, times = fail.get("status"), fail.get("hang"), fail.get("times", 1)
    if status is not None and not is_int(status):
        raise TypeError("fail.status must be an integer")
    if hang is not None and not is_number(hang):
        raise TypeError("fail.hang must be a number")
    if not is_int(times):
        raise TypeError("fail.times must be an integer")
    return {
        "endpoint": str(fail.get("endpoint")),
        "status": status,
        "hang": hang,
        "times": times,
        "body": None if raw_body is None else raw_body.encode(),
    }
