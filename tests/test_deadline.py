"""``deadline.run_within``: the one helper every outbound call (HTTP, keyring, agent) uses."""

from __future__ import annotations

import threading
import time

import pytest

from pyx_auth.deadline import run_within
from pyx_auth.errors import NetworkError


def _late() -> NetworkError:
    return NetworkError("too late")


def test_result_and_exception_come_back_to_the_caller() -> None:
    assert run_within(time.monotonic() + 5, lambda: 42, _late, "t") == 42
    assert run_within(time.monotonic() + 5, lambda: None, _late, "t") is None
    failure = ValueError("from the worker")

    def fail() -> None:
        raise failure

    with pytest.raises(ValueError) as caught:
        run_within(time.monotonic() + 5, fail, _late, "t")
    assert caught.value is failure


def test_a_call_that_never_returns_is_abandoned_at_the_deadline() -> None:
    never = threading.Event()  # a real block: nothing ever sets it (until cleanup)
    started = time.monotonic()
    with pytest.raises(NetworkError, match="too late"):
        run_within(started + 0.3, never.wait, _late, "t")
    assert 0.3 <= time.monotonic() - started < 1.5
    never.set()


def test_nothing_starts_when_no_time_is_left() -> None:
    calls: list[int] = []
    with pytest.raises(NetworkError):
        run_within(time.monotonic() - 1, lambda: calls.append(1), _late, "t")
    assert calls == []
