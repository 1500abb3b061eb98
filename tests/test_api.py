"""What users see when pyx misbehaves: one line, no traceback, no secret, nothing lost."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import socket
import subprocess
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import EMULATOR_API_KEY, RunPyxAuth, write_uv_login
from pyx_auth import api
from pyx_auth.api import PyxClient
from pyx_auth.emulator import PyxEmulator
from pyx_auth.errors import NetworkError, ServiceError, UnreachableError
from pyx_auth.settings import Settings
from pyx_auth.store import api_key_file, store_directory


def _assert_clean_failure(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("pyx-auth: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert EMULATOR_API_KEY not in result.stderr
    assert "eyJ" not in result.stderr  # no JWT, whatever it is
    for needle in needles:
        assert needle in result.stderr, result.stderr


def _cached_file(env: dict[str, str]) -> Path:
    return Path(store_directory(Settings(env))) / api_key_file(EMULATOR_API_KEY)


def test_api_key_rejected_names_the_variable_and_server(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    result = run_pyx_auth("token", env={**os.environ, "PYX_API_KEY": "sk-pyx-wrong"})
    _assert_clean_failure(
        result,
        f"the API key in PYX_API_KEY was rejected by {emulator.url}/auth/cli/access-token",
        "HTTP 401",
    )
    assert "sk-pyx-wrong" not in result.stderr


def test_server_error_is_retried_then_succeeds(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, api_key_env: dict[str, str]
) -> None:
    emulator.fail_next("access-token", status=503)
    result = run_pyx_auth("token", env=api_key_env)
    assert result.returncode == 0, result.stderr
    assert emulator.counts()["access-token"] == 2


@pytest.mark.parametrize("status", [400, 499])
def test_client_error_is_not_retried(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, api_key_env: dict[str, str], status: int
) -> None:
    """Only pyx's own failures (5xx) are worth a second try; a 4xx would fail the same way."""
    emulator.fail_next("access-token", status=status, times=3)
    result = run_pyx_auth("token", env=api_key_env)
    _assert_clean_failure(result, f"refused the request with HTTP {status}")
    assert "try again later" not in result.stderr  # that is for pyx's own failures
    assert emulator.counts()["access-token"] == 1


def test_persistent_server_error_says_try_later(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, api_key_env: dict[str, str]
) -> None:
    emulator.fail_next("access-token", status=500, times=10)
    result = run_pyx_auth("token", env=api_key_env)
    _assert_clean_failure(result, "failed with HTTP 500", "try again later")
    assert emulator.counts()["access-token"] == 3  # bounded retries


def test_other_client_error_is_reported_with_problem_title(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, api_key_env: dict[str, str]
) -> None:
    emulator.fail_next("access-token", status=429)
    result = run_pyx_auth("token", env=api_key_env)
    _assert_clean_failure(result, "refused the request with HTTP 429")


@pytest.mark.parametrize("body", [b"<html>not json</html>", b"\x80 not UTF-8"])
def test_garbage_answer_is_a_service_error(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, api_key_env: dict[str, str], body: bytes
) -> None:
    emulator.fail_next("access-token", body=body)
    result = run_pyx_auth("token", env=api_key_env)
    _assert_clean_failure(result, "answered with something other than JSON")


@pytest.mark.parametrize("body", [b"<html>Bad Gateway</html>", b"\x80 not UTF-8"])
def test_an_error_answer_without_a_problem_document_is_reported_by_its_status(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, api_key_env: dict[str, str], body: bytes
) -> None:
    emulator.fail_next("access-token", status=502, body=body, times=10)
    result = run_pyx_auth("token", env=api_key_env)
    _assert_clean_failure(result, "failed with HTTP 502; pyx may be down")


def test_answer_without_token_is_a_service_error(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, api_key_env: dict[str, str]
) -> None:
    emulator.fail_next("access-token", body=b'{"access_token": "has spaces in it"}')
    result = run_pyx_auth("token", env=api_key_env)
    _assert_clean_failure(result, "without a usable 'access_token'")


def test_hanging_server_fails_within_the_budget(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, api_key_env: dict[str, str]
) -> None:
    emulator.fail_next("access-token", hang=20)
    started = time.monotonic()
    result = run_pyx_auth("token", env={**api_key_env, "PYX_AUTH_TIMEOUT": "2"})
    elapsed = time.monotonic() - started
    _assert_clean_failure(result, "did not answer within 2 s", "PYX_AUTH_TIMEOUT")
    assert elapsed < 8


def test_unreachable_host_is_a_network_error(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, api_key_env: dict[str, str]
) -> None:
    env = {**api_key_env, "PYX_API_URL": "http://127.0.0.1:9"}
    result = run_pyx_auth("token", env=env)
    _assert_clean_failure(result, "cannot reach http://127.0.0.1:9/auth/cli/access-token")


def test_failed_refresh_keeps_the_cached_token(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, api_key_env: dict[str, str]
) -> None:
    token = run_pyx_auth("token", env=api_key_env).stdout.strip()
    emulator.fail_next("access-token", status=500, times=10)
    result = run_pyx_auth("token", "--min-ttl", "2h", env=api_key_env)
    _assert_clean_failure(result, "HTTP 500")
    assert _cached_file(api_key_env).read_text() == token
    assert run_pyx_auth("token", env=api_key_env).stdout.strip() == token


def test_failed_login_refresh_keeps_tokens_json(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    tokens = write_uv_login(*emulator.issue_tokens())
    original = tokens.read_text()
    emulator.fail_next("refresh", status=502, times=10)
    result = run_pyx_auth("token", "--min-ttl", "2h")
    _assert_clean_failure(result, "HTTP 502")
    assert tokens.read_text() == original


def test_rejected_refresh_token_says_to_log_in_again(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    write_uv_login(emulator.mint_access_token(lifetime=10), "spent")
    result = run_pyx_auth("token")
    _assert_clean_failure(result, "refresh token", "was rejected", "HTTP 401", "pyx-auth login")


def test_corrupt_cache_file_is_replaced(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, api_key_env: dict[str, str]
) -> None:
    cached = _cached_file(api_key_env)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"\x00garbage \xff")
    result = run_pyx_auth("token", env=api_key_env)
    assert result.returncode == 0, result.stderr
    assert cached.read_text() == result.stdout.strip()


def test_corrupt_tokens_json_is_no_login_not_a_crash(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    write_uv_login("x", "y").write_text('{"access_token": ')
    result = run_pyx_auth("token")
    _assert_clean_failure(result, "cannot be read as a uv login", "pyx-auth login")


def test_unwritable_store_is_a_clear_error_and_keeps_nothing_half_written(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, api_key_env: dict[str, str], tmp_path: Path
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the store folder should be")
    env = {**api_key_env, "PYX_CREDENTIALS_DIR": str(blocker)}
    result = run_pyx_auth("token", env=env)
    _assert_clean_failure(result, "cannot create the token store")
    assert blocker.read_text() == "a file where the store folder should be"


def test_api_key_that_cannot_be_a_header_is_refused_without_echo(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    for key in ("sk-pyx-SECRET\nKEY", "sk-pyx-SECRÉT", "sk-pyx SECRET"):
        result = run_pyx_auth("token", env={**os.environ, "PYX_API_KEY": key})
        _assert_clean_failure(result, "PYX_API_KEY contains spaces, control or non-ASCII")
        assert "SECR" not in result.stderr
    assert emulator.counts()["access-token"] == 0


@pytest.fixture
def trickling_server() -> Iterator[str]:
    """A server that answers one byte every 0.3 s, forever: no single read ever times out.

    The emulator's ``hang`` sleeps before a whole answer; this is the other kind of slow.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.sendall(b"HTTP/1.1 200 OK\r\n")
                while not stop.wait(0.3):
                    try:
                        connection.sendall(b"X")
                    except OSError:
                        break

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    listener.close()


def test_trickling_server_fails_within_the_total_budget(
    run_pyx_auth: RunPyxAuth, trickling_server: str, pyx_env: dict[str, str]
) -> None:
    env = {
        **os.environ,
        "PYX_API_URL": trickling_server,
        "PYX_API_KEY": EMULATOR_API_KEY,
        "PYX_AUTH_TIMEOUT": "2",
    }
    started = time.monotonic()
    result = run_pyx_auth("token", env=env)
    _assert_clean_failure(result, "did not answer within 2 s")
    assert time.monotonic() - started < 6


def test_debug_trace_shows_each_call_without_secrets(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, api_key_env: dict[str, str]
) -> None:
    """The boundary's one trace call site (``http_boundary._trace``): method, URL, status, time."""
    result = run_pyx_auth("token", env={**api_key_env, "PYX_AUTH_DEBUG": "1"})
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    line = f"POST {emulator.url}/auth/cli/access-token -> HTTP 200 in "
    assert line in result.stderr, result.stderr
    assert EMULATOR_API_KEY not in result.stderr and token not in result.stderr
    quiet = run_pyx_auth("token", "--min-ttl", "59m", env={**api_key_env, "PYX_AUTH_DEBUG": "0"})
    assert "debug:" not in quiet.stderr


# -- where credentials may go, and how often a request is tried ---------------------------------


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Records each request (path, headers, body) in ``server.seen``; answers per ``server``."""

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode(errors="replace")
        self.server.seen.append(f"{self.path} {self.headers} {body}")  # type: ignore[attr-defined]
        location = self.server.location  # type: ignore[attr-defined]
        self.send_response(307 if location else 404)
        if location:
            self.send_header("Location", location + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _handle

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def _recording_server(location: str = "") -> Iterator[tuple[str, list[str]]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.seen = []  # type: ignore[attr-defined]
    server.location = location  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.seen  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


@pytest.fixture
def redirected_api() -> Iterator[tuple[str, list[str]]]:
    """An API URL whose every endpoint answers 307 to another origin, and what that origin saw."""
    with _recording_server() as (elsewhere, seen), _recording_server(elsewhere) as (api, _):
        yield api, seen


def test_a_redirect_to_another_origin_never_carries_the_api_key(
    run_pyx_auth: RunPyxAuth, redirected_api: tuple[str, list[str]], pyx_env: dict[str, str]
) -> None:
    api, elsewhere = redirected_api
    env = {**os.environ, "PYX_API_URL": api, "PYX_API_KEY": EMULATOR_API_KEY}
    result = run_pyx_auth("token", env=env)
    _assert_clean_failure(result, "HTTP 307")
    assert elsewhere == []


def test_a_redirect_to_another_origin_never_carries_the_refresh_token(
    run_pyx_auth: RunPyxAuth, redirected_api: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    api, elsewhere = redirected_api
    monkeypatch.setenv("PYX_API_URL", api)
    tokens = write_uv_login("expired-access-token", "the-single-use-refresh-token")
    result = run_pyx_auth("token")
    _assert_clean_failure(result, "HTTP 307")
    assert elsewhere == []
    assert "the-single-use-refresh-token" in tokens.read_text()  # not spent, still there


@pytest.fixture
def hanging_up_server() -> Iterator[tuple[str, list[int]]]:
    """A server that accepts and hangs up at once (a proxy restarting): its URL, and a list
    with one entry per connection it took."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[int] = []

    def hang_up() -> None:
        listener.settimeout(0.2)
        while len(accepted) < 10:
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(1)
            connection.close()

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    listener.close()
    thread.join()


def test_a_dropped_connection_is_tried_three_times_in_all(
    run_pyx_auth: RunPyxAuth, pyx_env: dict[str, str], hanging_up_server: tuple[str, list[int]]
) -> None:
    """A server that accepts and hangs up (a proxy restarting) gets two more attempts."""
    api, accepted = hanging_up_server
    env = {**os.environ, "PYX_API_URL": api, "PYX_API_KEY": EMULATOR_API_KEY}
    result = run_pyx_auth("token", env=env)
    _assert_clean_failure(result, "cannot reach")
    assert len(accepted) == 3


def test_api_key_refused_with_403_names_the_key_and_the_fix(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, api_key_env: dict[str, str]
) -> None:
    emulator.fail_next("access-token", status=403)
    result = run_pyx_auth("token", env=api_key_env)
    _assert_clean_failure(
        result, "the API key in PYX_API_KEY was rejected by", "HTTP 403", "check the key"
    )
    assert emulator.counts()["access-token"] == 1  # a refusal is not retried


def test_a_long_problem_detail_is_cut_to_keep_the_error_one_short_line(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, api_key_env: dict[str, str]
) -> None:
    detail = "start-of-detail " + "x" * 5000
    body = json.dumps({"title": "Too Many Requests", "detail": detail}).encode()
    emulator.fail_next("access-token", status=429, body=body)
    result = run_pyx_auth("token", env=api_key_env)
    _assert_clean_failure(result, "HTTP 429: Too Many Requests: start-of-detail xxx")
    assert len(result.stderr) < 500
    shown = "Too Many Requests: start-of-detail " + "x" * (200 - 35)  # 200 characters in all
    assert result.stderr.endswith(f"HTTP 429: {shown}\n")


@pytest.fixture
def backoff_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delays ``api`` sleeps between attempts, recorded instead of slept."""
    slept: list[float] = []
    recording = types.SimpleNamespace(monotonic=time.monotonic, sleep=slept.append)
    monkeypatch.setattr(api, "time", recording)
    return slept


def test_a_failing_pyx_is_tried_three_times_backing_off_a_quarter_then_half_a_second(
    emulator: PyxEmulator, pyx_env: dict[str, str], backoff_sleeps: list[float]
) -> None:
    emulator.fail_next("access-token", status=503, times=10)
    failing = pytest.raises(ServiceError, match="HTTP 503")
    with PyxClient(Settings(os.environ), time.monotonic() + 30) as client, failing:
        client.exchange_api_key(EMULATOR_API_KEY, "the key")
    assert emulator.counts()["access-token"] == 3
    assert backoff_sleeps == [0.25, 0.5]


def test_a_dropped_connection_backs_off_as_a_failing_pyx_does(
    backoff_sleeps: list[float], hanging_up_server: tuple[str, list[int]]
) -> None:
    api, accepted = hanging_up_server
    unreachable = pytest.raises(UnreachableError)
    with PyxClient(Settings({"PYX_API_URL": api}), time.monotonic() + 30) as client, unreachable:
        client.exchange_api_key(EMULATOR_API_KEY, "the key")
    assert backoff_sleeps == [0.25, 0.5]
    assert len(accepted) == 3


def test_a_retry_that_would_start_after_the_deadline_is_not_made(
    emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    """With less time left than the backoff, the 503 is the answer: no late second attempt
    that could only time out."""
    with PyxClient(Settings(os.environ), time.monotonic() + 30) as client:
        client.exchange_api_key(EMULATOR_API_KEY, "the key")  # the connection is set up
        emulator.fail_next("access-token", status=503, times=10)
        client.deadline = time.monotonic() + 0.2
        with pytest.raises(ServiceError, match="HTTP 503"):
            client.exchange_api_key(EMULATOR_API_KEY, "the key")
    assert emulator.counts()["access-token"] == 2


def test_a_server_that_does_not_answer_in_time_is_a_network_error_not_pyxs_failure(
    emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    emulator.fail_next("access-token", hang=10)
    late = pytest.raises(NetworkError, match="did not answer")
    with PyxClient(Settings(os.environ), time.monotonic() + 1) as client, late as caught:
        client.exchange_api_key(EMULATOR_API_KEY, "the key")
    assert not isinstance(caught.value, ServiceError)


@pytest.mark.parametrize("status", [401, 429, 500])
def test_a_server_that_echoes_the_api_key_never_gets_it_printed(
    status: int, run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, api_key_env: dict[str, str]
) -> None:
    echo = {"title": f"bad key {EMULATOR_API_KEY}", "detail": f"you sent {EMULATOR_API_KEY}!"}
    emulator.fail_next("access-token", status=status, body=json.dumps(echo).encode(), times=3)
    result = run_pyx_auth("token", env={**api_key_env, "PYX_AUTH_DEBUG": "1"})
    assert result.returncode == 2
    assert EMULATOR_API_KEY not in result.stderr + result.stdout
    assert f"HTTP {status}: bad key [redacted]: you sent [redacted]!" in result.stderr


def test_a_server_that_echoes_the_refresh_token_never_gets_it_printed(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    _, refresh = emulator.issue_tokens()
    write_uv_login(emulator.mint_access_token(lifetime=10), refresh)
    echo = {"title": "Unauthorized", "detail": f"refresh token {refresh} is not valid"}
    emulator.fail_next("refresh", status=401, body=json.dumps(echo).encode())
    result = run_pyx_auth("token")
    assert result.returncode == 2
    assert refresh not in result.stderr + result.stdout
    assert "HTTP 401: Unauthorized: refresh token [redacted] is not valid" in result.stderr
