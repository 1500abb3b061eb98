"""The one HTTP edge (``http_boundary``): errors mapped to one line, deadlines, proxies, trace.

Real parts: httpx against local sockets (a recording proxy, a server that never answers) and
the emulator; nothing of httpx is mocked.
"""

from __future__ import annotations

import http.server
import re
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from pyx_auth import http_boundary
from pyx_auth.emulator import PyxEmulator
from pyx_auth.errors import (
    ConfigError,
    NetworkError,
    PyxAuthError,
    UnreachableError,
)
from pyx_auth.http_boundary import Call, fetch, http_errors, new_client, send


def _fetch(
    method: str,
    url: str,
    *,
    seconds: float = 10,
    label: str = "",
    credential: str = "nothing",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """``fetch`` as a CI provider calls it, with ``seconds`` left of the budget."""
    return fetch(
        method,
        url,
        deadline=time.monotonic() + seconds,
        label=label,
        url_name="the URL",
        credential=credential,
        headers=headers,
    )


def _httpx_exceptions() -> list[type[Exception]]:
    """Every exception class httpx defines (its ``__all__``), as httpx's own test lists them."""
    return [
        value
        for name in httpx.__all__
        if isinstance(value := getattr(httpx, name), type) and issubclass(value, Exception)
    ]


@pytest.mark.parametrize("kind", _httpx_exceptions(), ids=lambda kind: kind.__name__)
def test_every_httpx_exception_becomes_one_line_without_its_text(kind: type[Exception]) -> None:
    """httpx's ``test_httpcore_all_exceptions_mapped``, for our boundary: a new upstream class
    cannot escape as a traceback, and only a connect error's (OS) reason is ever quoted."""
    call = Call(
        "https://pyx.test/auth/cli/access-token", label="Here: ", credential="the key", budget=8
    )
    if issubclass(kind, httpx.HTTPStatusError):
        request = httpx.Request("GET", "https://pyx.test/")
        exc: Exception = kind("SECRET", request=request, response=httpx.Response(500))
    else:
        try:
            exc = kind("SECRET")
        except TypeError:  # StreamClosed, StreamConsumed, ...: a fixed message of their own
            exc = kind()
    with pytest.raises(PyxAuthError) as caught, http_errors(call):
        raise exc
    message = str(caught.value)
    assert message.startswith("Here: ") and "\n" not in message
    assert ("SECRET" in message) == (kind is httpx.ConnectError), message
    assert caught.value.__cause__ is exc


def test_mapping_is_most_specific_first() -> None:
    call = Call("https://pyx.test/x", label="", credential="the key", budget=8)
    expected = {
        httpx.ConnectTimeout("t"): NetworkError,
        httpx.ConnectError("c"): UnreachableError,
        httpx.LocalProtocolError("l"): ConfigError,
        httpx.RemoteProtocolError("r"): UnreachableError,
        httpx.UnsupportedProtocol("u"): ConfigError,
    }
    for exc, error in expected.items():
        with pytest.raises(PyxAuthError) as caught, http_errors(call):
            raise exc
        assert type(caught.value) is error, exc


def test_a_header_that_cannot_be_encoded_is_refused_without_quoting_it(
    emulator: PyxEmulator,
) -> None:
    for secret in ("sk-SECRET-\u00e9t\u00e9", "sk-SECRET\r\nX-Evil: 1"):
        with pytest.raises(ConfigError) as caught:
            _fetch(
                "GET",
                f"{emulator.url}/auth/cli/logout",
                label="Test: ",
                credential="the token in TEST_TOKEN",
                headers={"Authorization": f"Bearer {secret}"},
            )
        message = str(caught.value)
        assert "TEST_TOKEN contains characters that cannot be sent" in message
        assert "SECRET" not in message
    assert emulator.counts()["logout"] == 0


def test_no_request_is_started_after_the_deadline(emulator: PyxEmulator) -> None:
    with pytest.raises(NetworkError, match="did not answer"):
        _fetch("POST", f"{emulator.url}/auth/cli/access-token", seconds=-0.01)
    assert emulator.counts()["access-token"] == 0


def test_fetch_closes_the_client_it_opened(
    emulator: PyxEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CI provider's OIDC request leaves no connection open behind it."""
    opened: list[httpx.Client] = []
    real_new_client = http_boundary.new_client

    def recorded() -> httpx.Client:
        opened.append(real_new_client())
        return opened[-1]

    monkeypatch.setattr(http_boundary, "new_client", recorded)
    response = _fetch("GET", f"{emulator.url}/healthz")
    assert response.status_code in (200, 404)
    assert opened and all(client.is_closed for client in opened)


def test_a_url_that_does_not_parse_is_shown_by_its_name() -> None:
    """An unparsable URL (from a variable) is named, never quoted: it may hold a secret."""
    assert http_boundary.shown_url("https://sk-secret:port/", "PYX_API_URL") == "PYX_API_URL"
    assert http_boundary.shown_url("https://u:sk-secret@pyx.example/p?k=v#f") == (
        "https://pyx.example/p"
    )


def test_an_os_reason_is_quoted_on_one_line_and_cut_at_200_characters() -> None:
    call = Call("https://pyx.test/x", label="", credential="the key", budget=8)
    reason = "Name or\nservice   not known " + "x" * 300
    with pytest.raises(UnreachableError) as caught, http_errors(call):
        raise httpx.ConnectError(reason)
    shown = " ".join(reason.split())[:200]
    assert str(caught.value) == f"cannot reach https://pyx.test/x: {shown}"
    with pytest.raises(UnreachableError) as caught, http_errors(call):
        raise httpx.ConnectError("")
    assert str(caught.value) == "cannot reach https://pyx.test/x: ConnectError"


class _Proxy(http.server.BaseHTTPRequestHandler):
    """A forward proxy that answers every request itself, recording its request line."""

    def do_GET(self) -> None:
        self.server.seen.append(self.requestline)  # type: ignore[attr-defined]
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def recording_proxy() -> Iterator[tuple[str, list[str]]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", server.seen  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()
    thread.join()


def test_requests_go_through_the_proxy_the_environment_names(
    recording_proxy: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CI runner behind a proxy (``HTTP_PROXY``, ``HTTPS_PROXY``) reaches pyx through it."""
    proxy, seen = recording_proxy
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy)
    response = _fetch("GET", "http://pyx-auth-proxy-test.invalid/simple/")
    assert response.status_code == 204
    assert seen == ["GET http://pyx-auth-proxy-test.invalid/simple/ HTTP/1.1"]


@pytest.fixture
def silent_server() -> Iterator[tuple[str, list[float]]]:
    """Accepts one connection and never answers; records when the client hung up."""
    listener = socket.create_server(("127.0.0.1", 0))
    hung_up: list[float] = []

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.settimeout(10)
            try:
                while connection.recv(4096):
                    pass
            except OSError:
                return
            hung_up.append(time.monotonic())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/", hung_up
    thread.join(12)
    listener.close()


def test_a_request_past_its_deadline_is_dropped_on_the_wire_too(
    silent_server: tuple[str, list[float]],
) -> None:
    """The caller stops waiting at the deadline, and httpx, given only the time left, hangs
    up then too: no connection lingers behind an abandoned request (a second call, uv's
    own, may be waiting for the server's attention)."""
    url, hung_up = silent_server
    started = time.monotonic()
    call = Call(url, label="", credential="nothing", budget=0.2)
    with new_client() as client, pytest.raises(NetworkError, match="did not answer"):
        send(lambda: client, "GET", url, deadline=started + 0.2, call=call)
    for _ in range(100):
        if hung_up:
            break
        time.sleep(0.02)
    assert hung_up and hung_up[0] - started < 0.85  # given 1 s it would still be connected


def test_the_trace_gives_each_calls_status_and_its_time(
    emulator: PyxEmulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PYX_AUTH_DEBUG", "1")
    started = time.monotonic()
    _fetch("GET", f"{emulator.url}/healthz?secret=1")
    took = time.monotonic() - started
    trace = capsys.readouterr().err
    found = re.search(
        rf"^pyx-auth: debug: GET {re.escape(emulator.url)}/healthz -> HTTP \d+ in (\d+\.\d+) s$",
        trace,
        re.MULTILINE,
    )
    assert found is not None, trace
    assert 0 <= float(found.group(1)) <= took
    assert "secret" not in trace
