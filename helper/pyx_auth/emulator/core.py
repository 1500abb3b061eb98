"""`PyxEmulator`: the concerns put together, their lifecycle, and the dispatch of one request."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from urllib.parse import urlsplit

from pyx_auth.emulator.faults import Faults
from pyx_auth.emulator.index import Index
from pyx_auth.emulator.login import Login
from pyx_auth.emulator.responses import Request, Response, problem
from pyx_auth.emulator.routes import find_route
from pyx_auth.emulator.server import Server
from pyx_auth.emulator.trusted_access import TrustedAccess

_CONTROL_ERRORS = (ValueError, TypeError, KeyError, UnicodeDecodeError)


class PyxEmulator(Login, Index, TrustedAccess, Faults):
    """A local pyx API + Simple index for tests, benchmarks and the README demo.

    All state lives behind one lock; sleeps (``latency``, injected hangs) happen outside it, so a
    slow request never stalls the others. ``url`` is set by `start` (or `serve_forever`).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token_lifetime: int = 3600,
        api_keys: Iterable[str] = ("sk-pyx-test",),
        org: str = "acme",
    ) -> None:
        self.host = host
        self.port = port
        self.url = ""
        self._init_accounts(api_keys, token_lifetime, org)
        self._init_login()
        self._init_index()
        self._init_trusted_access()
        self._init_faults()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._loop_started = False
        self._connections: set[socket.socket] = set()

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> PyxEmulator:
        """Serve from a background daemon thread, so a test can talk to it from the same process."""
        server = self._bind()
        self._loop_started = True
        self._thread = threading.Thread(
            target=server.run, daemon=True, name=f"pyx-emulator {self.url}"
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until `stop` (from another thread) or KeyboardInterrupt."""
        server = self._server or self._bind()
        with self._lock:
            if self._server is not server:
                return  # stopped in between
            self._loop_started = True
        try:
            server.run()
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop accepting, cut open connections (even ones whose handler hangs) and close.

        Returns at once: the accept loop is woken rather than polled, and handler threads are
        daemons whose sockets are shut down under them.
        """
        with self._lock:
            server, self._server = self._server, None
            thread, self._thread = self._thread, None
            loop_started, self._loop_started = self._loop_started, False
            connections = list(self._connections)
            self._connections.clear()
        if server is None:
            return
        server.wake()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        if not loop_started:
            server.server_close()  # otherwise the loop closes it on its way out

    def __enter__(self) -> PyxEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _bind(self) -> Server:
        """Bind now, so a port in use raises OSError to the caller before anything is printed."""
        if self._server is not None:
            raise RuntimeError("emulator already started")
        server = Server((self.host, self.port), self)
        port = server.server_address[1]
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        self.url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        self._server = server
        return server

    # -- request handling (called from handler threads) ----------------------------------------

    def _handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> Response:
        """Route one request: count it, apply latency and injected failures, then answer.

        ``headers`` has lower-cased names (hyper, hence uv, sends them lower-cased anyway).
        """
        split = urlsplit(target)
        found = find_route(method, split.path)
        if found is None:
            return problem(404, f"no route for {method} {split.path}")
        route, args = found
        failure, latency = self._count(route.endpoint)
        if latency > 0:
            time.sleep(latency)
        if failure is not None:
            if failure.hang:
                time.sleep(failure.hang)
            injected = failure.response(route.endpoint)
            if injected is not None:
                return injected
        request = Request(method, args, split.query, headers, body)
        if route.endpoint != "control":
            return route.handler(self, request)
        try:
            return route.handler(self, request)
        except _CONTROL_ERRORS as exc:
            return problem(400, f"bad control request: {exc}")
