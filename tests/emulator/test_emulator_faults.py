"""The emulator's fault injection: request counts, queued failures, latency, clock skew and the
``/_emulator/`` control endpoints that drive them from another process."""

from __future__ import annotations

import email.utils
import http.client
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from emulator_http import KEY, assert_problem, bearer, refresh
from pyx_auth.emulator import ENDPOINTS, PyxEmulator

# -- counts() ------------------------------------------------------------------------------------


def test_counts_per_endpoint_name(emulator: PyxEmulator, emulator_client: httpx.Client) -> None:
    emulator_client.post("/auth/cli/access-token", headers=bearer(KEY))
    emulator_client.post("/auth/cli/access-token", headers=bearer("wrong"))  # failures count too
    emulator_client.get("/simple/acme/main/")
    emulator_client.get("/not/a/route")  # unknown paths are not counted

    counts = emulator.counts()

    assert set(counts) == set(ENDPOINTS)
    assert counts["access-token"] == 2
    assert counts["simple"] == 1
    assert sum(counts.values()) == 3


def test_counts_reset_and_copy(emulator: PyxEmulator, emulator_client: httpx.Client) -> None:
    emulator_client.post("/auth/cli/access-token", headers=bearer(KEY))
    snapshot = emulator.counts()
    snapshot["access-token"] = 99

    assert emulator.counts()["access-token"] == 1
    emulator.reset_counts()
    assert emulator.counts() == dict.fromkeys(ENDPOINTS, 0)


# -- fail_next() -----------------------------------------------------------------------------------


def test_fail_next_status_500_then_recovers(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    emulator.fail_next("access-token", status=500)

    assert_problem(emulator_client.post("/auth/cli/access-token", headers=bearer(KEY)), 500)
    assert emulator_client.post("/auth/cli/access-token", headers=bearer(KEY)).status_code == 200


def test_fail_next_status_with_custom_body(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    emulator.fail_next("refresh", status=503, body=b'{"title": "down"}')

    response = refresh(emulator_client, "anything")

    assert response.status_code == 503
    assert response.content == b'{"title": "down"}'


def test_fail_next_body_alone_answers_200_garbage(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    emulator.fail_next("access-token", body=b"not json")

    response = emulator_client.post("/auth/cli/access-token", headers=bearer(KEY))

    assert response.status_code == 200
    assert response.content == b"not json"
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_fail_next_times_counts_down(emulator: PyxEmulator, emulator_client: httpx.Client) -> None:
    emulator.fail_next("simple", status=502, times=2)
    headers = bearer(emulator.mint_access_token())

    statuses = [emulator_client.get("/simple/a/b/", headers=headers).status_code for _ in range(3)]

    assert statuses == [502, 502, 200]


def test_fail_next_queued_failures_apply_in_order(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    emulator.fail_next("access-token", status=500)
    emulator.fail_next("access-token", status=429)

    statuses = [
        emulator_client.post("/auth/cli/access-token", headers=bearer(KEY)).status_code
        for _ in range(3)
    ]

    assert statuses == [500, 429, 200]


def test_fail_next_other_endpoints_unaffected(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    emulator.fail_next("refresh", status=500)

    assert emulator_client.post("/auth/cli/access-token", headers=bearer(KEY)).status_code == 200


def test_fail_next_hang_client_times_out(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    emulator.fail_next("access-token", hang=1.0)

    with pytest.raises(httpx.ReadTimeout):
        emulator_client.post("/auth/cli/access-token", headers=bearer(KEY), timeout=0.2)
    # The hanging handler holds no lock: the next request is answered at once.
    started = time.monotonic()
    assert emulator_client.post("/auth/cli/access-token", headers=bearer(KEY)).status_code == 200
    assert time.monotonic() - started < 0.5


def test_fail_next_hang_then_normal_answer(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    emulator.fail_next("access-token", hang=0.2)

    started = time.monotonic()
    response = emulator_client.post("/auth/cli/access-token", headers=bearer(KEY))

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize(
    ("endpoint", "kwargs"),
    [
        ("nope", {}),
        ("refresh", {"times": 0}),
        ("refresh", {"status": 99}),
        ("refresh", {"hang": -1}),
    ],
    ids=["unknown-endpoint", "zero-times", "bad-status", "negative-hang"],
)
def test_fail_next_bad_arguments_valueerror(
    emulator: PyxEmulator, endpoint: str, kwargs: dict[str, int]
) -> None:
    with pytest.raises(ValueError):
        emulator.fail_next(endpoint, **kwargs)  # type: ignore[arg-type]


# -- latency ---------------------------------------------------------------------------------------


def test_latency_delays_auth_endpoints_only(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    emulator.latency = 0.2
    headers = bearer(emulator.mint_access_token())

    started = time.monotonic()
    assert emulator_client.post("/auth/cli/access-token", headers=bearer(KEY)).status_code == 200
    auth_elapsed = time.monotonic() - started
    started = time.monotonic()
    assert emulator_client.get("/simple/acme/main/", headers=headers).status_code == 200
    index_elapsed = time.monotonic() - started

    assert auth_elapsed >= 0.2
    assert index_elapsed < 0.15


def test_latency_sleeps_run_in_parallel(emulator: PyxEmulator) -> None:
    emulator.latency = 0.3

    def exchange(_: int) -> int:
        with httpx.Client(base_url=emulator.url, timeout=5) as c:
            return c.post("/auth/cli/access-token", headers=bearer(KEY)).status_code

    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(exchange, range(8)))

    assert statuses == [200] * 8
    assert time.monotonic() - started < 1.2, "latency must not be slept under the lock"


# -- clock_skew: the Date header ------------------------------------------------------------------

RFC_7231_DATE = re.compile(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT")


def server_clock(response: httpx.Response) -> float:
    """The emulator's clock, as its ``Date`` header tells it, in Unix seconds."""
    date = response.headers["Date"]
    assert RFC_7231_DATE.fullmatch(date), date
    return email.utils.parsedate_to_datetime(date).timestamp()


@pytest.mark.parametrize("skew", [0.0, 3600.0, -600.0])
def test_clock_skew_shifts_the_date_of_every_answer(
    emulator: PyxEmulator, emulator_client: httpx.Client, skew: float
) -> None:
    emulator.clock_skew = skew
    emulator.fail_next("logout", status=503)
    responses = [
        emulator_client.post("/auth/cli/access-token", headers=bearer(KEY)),  # 200
        emulator_client.get("/simple/acme/main/"),  # 401
        emulator_client.get("/nope"),  # 404
        emulator_client.get("/auth/cli/logout"),  # injected 503
    ]

    for response in responses:
        assert abs(server_clock(response) - (time.time() + skew)) < 3, response.status_code


def test_clock_skew_also_dates_the_servers_own_400(emulator: PyxEmulator) -> None:
    emulator.clock_skew = 86400.0
    host, port = emulator.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        connection.putrequest("POST", "/auth/cli/refresh")
        connection.putheader("Content-Length", "not a number")  # httpx refuses to send this
        connection.endheaders()
        response = connection.getresponse()
        date = response.getheader("Date") or ""
    finally:
        connection.close()

    assert response.status == 400
    assert RFC_7231_DATE.fullmatch(date), date
    assert abs(email.utils.parsedate_to_datetime(date).timestamp() - time.time() - 86400) < 3


def test_clock_skew_set_through_control_config_and_tokens_keep_real_time(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    emulator_client.post("/_emulator/config", json={"clock_skew": -7200})

    response = emulator_client.post("/auth/cli/access-token", headers=bearer(KEY))

    assert abs(server_clock(response) - (time.time() - 7200)) < 3
    claims = emulator.verify(response.json()["access_token"])
    assert claims is not None
    assert abs(claims["iat"] - time.time()) < 3


# -- /_emulator/ control endpoints -----------------------------------------------------------------


def test_control_counts_returns_json(emulator_client: httpx.Client) -> None:
    emulator_client.post("/auth/cli/access-token", headers=bearer(KEY))

    counts = emulator_client.get("/_emulator/counts").json()

    assert counts["access-token"] == 1
    assert counts["control"] == 1, "the counts request counts itself"


def test_control_reset_zeroes_counts(emulator: PyxEmulator, emulator_client: httpx.Client) -> None:
    emulator_client.post("/auth/cli/access-token", headers=bearer(KEY))

    assert emulator_client.post("/_emulator/reset").status_code == 200
    assert emulator.counts() == dict.fromkeys(ENDPOINTS, 0)


def test_control_config_sets_every_setting_and_answers_them(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    settings = {"token_lifetime": 90, "latency": 0.05, "clock_skew": -7.5, "rotate_then_delay": 2}
    response = emulator_client.post("/_emulator/config", json=settings)

    assert response.json() == settings
    assert (
        emulator.token_lifetime,
        emulator.latency,
        emulator.clock_skew,
        emulator.rotate_then_delay,
    ) == (90, 0.05, -7.5, 2.0)


def test_control_config_partial_keeps_the_rest(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    emulator.latency = 0.01
    emulator_client.post("/_emulator/config", json={"clock_skew": 30})

    assert (emulator.latency, emulator.clock_skew, emulator.token_lifetime) == (0.01, 30.0, 3600)


def test_control_config_fail_injects_failure(emulator_client: httpx.Client) -> None:
    fail = {"endpoint": "access-token", "status": 500, "body": "oops", "times": 2}
    assert emulator_client.post("/_emulator/config", json={"fail": fail}).status_code == 200

    responses = [
        emulator_client.post("/auth/cli/access-token", headers=bearer(KEY)) for _ in range(3)
    ]

    assert [(r.status_code, r.content) for r in responses[:2]] == [(500, b"oops")] * 2
    assert responses[2].status_code == 200


def test_control_config_fail_body_alone_and_hang(emulator_client: httpx.Client) -> None:
    fail = {"endpoint": "access-token", "body": "not json", "hang": 0.1}
    emulator_client.post("/_emulator/config", json={"fail": fail})

    started = time.monotonic()
    response = emulator_client.post("/auth/cli/access-token", headers=bearer(KEY))

    assert (response.status_code, response.content) == (200, b"not json")
    assert time.monotonic() - started >= 0.1


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"token_lifetime": "60"}',
        b'{"latency": -1}',
        b'{"fail": {"endpoint": "nope"}}',
        b'{"fail": {"endpoint": "refresh", "colour": "red"}}',
        b'{"fail": {"endpoint": "refresh", "times": 0}}',
        b'{"clock_skew": "60"}',
        b'{"rotate_then_delay": -1}',
        b'{"rotate_then_delay": true}',
        b'{"latency": 1, "clock_skew": 5, "fail": {"endpoint": "nope"}}',
    ],
    ids=[
        "not-json",
        "not-object",
        "lifetime-str",
        "latency-neg",
        "bad-endpoint",
        "bad-field",
        "zero-times",
        "skew-str",
        "rotate-neg",
        "rotate-bool",
        "good-settings-bad-fail",
    ],
)
def test_control_config_invalid_400_and_nothing_changes(
    emulator: PyxEmulator, emulator_client: httpx.Client, body: bytes
) -> None:
    assert_problem(emulator_client.post("/_emulator/config", content=body), 400)
    assert (
        emulator.token_lifetime,
        emulator.latency,
        emulator.clock_skew,
        emulator.rotate_then_delay,
    ) == (3600, 0.0, 0.0, 0.0)
    assert emulator_client.post("/auth/cli/access-token", headers=bearer(KEY)).status_code == 200
