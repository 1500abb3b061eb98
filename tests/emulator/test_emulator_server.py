"""The pyx emulator's HTTP server: keep-alive, concurrency, chunked bodies, an instant stop, and
`run_cli` (``pyx-auth emulator``) with its signals.

Every other test (and uv, pip and the benchmarks) trusts this emulator to behave like pyx did, so
each behaviour pyx-auth depends on is pinned in tests/emulator/, one file per emulator module.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from emulator_http import KEY, bearer
from pyx_auth.emulator import PyxEmulator, run_cli

HELPER_DIR = Path(__file__).resolve().parents[2] / "helper"


# -- HTTP/1.1 behaviour ----------------------------------------------------------------------------


def test_http_keep_alive_every_response_has_content_length(emulator: PyxEmulator) -> None:
    host, port = emulator.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    requests = [
        ("POST", "/auth/cli/access-token", b"", bearer(KEY)),
        ("POST", "/auth/cli/access-token", b"", {}),
        ("POST", "/auth/cli/refresh", b"garbage", {}),
        ("GET", "/auth/cli/status/x", b"", {}),
        ("GET", "/simple/acme/main/", b"", {}),
        ("GET", "/nope", b"", {}),
        ("HEAD", "/nope", b"", {}),
        ("GET", "/_emulator/counts", b"", {}),
    ]
    try:
        connection.connect()
        sock = connection.sock
        for method, path, body, headers in requests:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            assert response.getheader("Content-Length") is not None, (method, path)
            assert not response.will_close, (method, path)
        assert connection.sock is sock, "all requests went over one connection"
    finally:
        connection.close()


def test_http_concurrent_clients_all_served(emulator: PyxEmulator) -> None:
    barrier = threading.Barrier(64)

    def exchange(_: int) -> int:
        with httpx.Client(base_url=emulator.url, timeout=5) as c:
            barrier.wait()
            return c.post("/auth/cli/access-token", headers=bearer(KEY)).status_code

    started = time.monotonic()
    with ThreadPoolExecutor(64) as pool:
        statuses = list(pool.map(exchange, range(64)))

    assert statuses == [200] * 64
    assert emulator.counts()["access-token"] == 64
    assert time.monotonic() - started < 3


def test_http_chunked_request_body_read(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    _, refresh_token = emulator.issue_tokens()
    body = json.dumps({"refresh_token": refresh_token}).encode()

    response = emulator_client.post("/auth/cli/refresh", content=iter([body[:10], body[10:]]))

    assert response.request.headers["Transfer-Encoding"] == "chunked"
    assert response.status_code == 200


# -- lifecycle -------------------------------------------------------------------------------------


def test_stop_fast_while_handler_hangs() -> None:
    emulator = PyxEmulator(api_keys=[KEY]).start()
    emulator.fail_next("access-token", hang=5)
    outcome: list[BaseException | int] = []

    def call() -> None:
        try:
            url = f"{emulator.url}/auth/cli/access-token"
            outcome.append(httpx.post(url, headers=bearer(KEY), timeout=10).status_code)
        except httpx.TransportError as exc:
            outcome.append(exc)

    hung = threading.Thread(target=call)
    hung.start()
    time.sleep(0.1)

    started = time.monotonic()
    emulator.stop()

    assert time.monotonic() - started < 1
    hung.join(timeout=2)
    assert not hung.is_alive(), "the hung emulator_client saw its connection cut"
    assert isinstance(outcome[0], httpx.TransportError)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{emulator.url}/_emulator/counts", timeout=1)


def test_start_url_is_loopback_with_bound_port() -> None:
    with PyxEmulator() as emulator:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", emulator.url)
        assert not emulator.url.endswith(":0")


def test_start_twice_raises() -> None:
    with PyxEmulator() as emulator, pytest.raises(RuntimeError):
        emulator.start()


# -- run_cli ---------------------------------------------------------------------------------------


def start_cli(prelude: str = "") -> subprocess.Popen[str]:
    pythonpath = os.pathsep.join([str(HELPER_DIR), os.environ.get("PYTHONPATH", "")])
    code = (
        f"{prelude}import sys; from pyx_auth.emulator import run_cli; "
        "sys.exit(run_cli(0, api_key='sk-pyx-demo-key'))"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": pythonpath},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize(
    ("signum", "prelude"),
    [
        (signal.SIGINT, ""),
        (signal.SIGTERM, ""),
        # What `pyx-auth emulator &` in a script gets: the shell sets SIGINT to "ignore".
        (signal.SIGINT, "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN); "),
    ],
    ids=["sigint", "sigterm", "sigint-backgrounded"],
)
def test_run_cli_prints_settings_serves_and_exits_0_on_signal(
    signum: signal.Signals, prelude: str
) -> None:
    process = start_cli(prelude)
    try:
        assert process.stdout is not None
        url_line = process.stdout.readline()
        key_line = process.stdout.readline()
        match = re.fullmatch(r"PYX_API_URL=(http://127\.0\.0\.1:\d+)\n", url_line)
        assert match, url_line
        assert key_line == "PYX_API_KEY=sk-pyx-demo-key\n"

        response = httpx.post(
            f"{match[1]}/auth/cli/access-token", headers=bearer("sk-pyx-demo-key"), timeout=5
        )
        assert response.status_code == 200

        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=5)
    finally:
        process.kill()
        process.communicate()

    assert process.returncode == 0
    assert stdout == ""
    assert stderr == "", "no traceback, no request log"


def test_run_cli_port_in_use_raises_oserror(
    emulator: PyxEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    port = int(emulator.url.rsplit(":", 1)[1])

    with pytest.raises(OSError):
        run_cli(port)

    assert capsys.readouterr().out == ""


def test_serve_forever_returns_after_stop_from_another_thread() -> None:
    emulator = PyxEmulator(api_keys=[KEY])
    server = threading.Thread(target=emulator.serve_forever)
    server.start()
    deadline = time.monotonic() + 5
    while not emulator.url and time.monotonic() < deadline:
        time.sleep(0.01)
    assert (
        httpx.post(f"{emulator.url}/auth/cli/access-token", headers=bearer(KEY)).status_code == 200
    )

    emulator.stop()

    server.join(timeout=2)
    assert not server.is_alive()
