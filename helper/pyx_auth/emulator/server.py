"""The HTTP/1.1 server: one daemon thread per connection, keep-alive, a woken (not polled)
accept loop so `PyxEmulator.stop` returns at once, and no logging (other processes' stderr is
asserted on, and paths can carry session ids)."""

from __future__ import annotations

import contextlib
import selectors
import socket
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from pyx_auth.emulator.responses import Response, problem

if TYPE_CHECKING:
    from pyx_auth.emulator.core import PyxEmulator

_MAX_BODY = 64 * 1024 * 1024


class Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its emulator, keeps quiet and never does reverse DNS."""

    daemon_threads = True
    request_queue_size = 128  # the default 5 drops SYNs when 64 clients connect at once

    def __init__(self, address: tuple[str, int], emulator: PyxEmulator) -> None:
        self.emulator = emulator
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def run(self) -> None:
        """Accept until `wake`, then close; like serve_forever, but woken instead of polling."""
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self, selectors.EVENT_READ)
                selector.register(self._wake_r, selectors.EVENT_READ)
                while not self._stopping.is_set():
                    for key, _ in selector.select():
                        if key.fileobj is self and not self._stopping.is_set():
                            self._accept()
        finally:
            self.server_close()

    def _accept(self) -> None:
        try:
            request, client_address = self.get_request()
        except OSError:
            return
        try:
            self.process_request(request, client_address)  # starts a handler thread
        except Exception:
            self.shutdown_request(request)

    def wake(self) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def server_close(self) -> None:
        super().server_close()
        self._wake_r.close()
        self._wake_w.close()

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse lookup that can stall.
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    def handle_error(self, request: object, client_address: object) -> None:
        """Dropped connections are normal in tests (timeouts, stop()); never print tracebacks."""


class _Handler(BaseHTTPRequestHandler):
    """Reads the whole request (keeps keep-alive in sync), asks the emulator, writes the answer."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes; don't wait 40 ms
    server: Server

    def setup(self) -> None:
        super().setup()
        emulator = self.server.emulator
        with emulator._lock:
            emulator._connections.add(self.connection)

    def finish(self) -> None:
        emulator = self.server.emulator
        with emulator._lock:
            emulator._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The ``Date`` header of every answer: now plus the emulator's `clock_skew`."""
        if timestamp is None:
            timestamp = time.time() + self.server.emulator.clock_skew
        return super().date_time_string(timestamp)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: other processes' stderr is asserted on, and paths can carry session ids."""

    def _dispatch(self) -> None:
        try:
            body = self._read_body()
        except ValueError as exc:
            self.close_connection = True
            self._write(problem(400, str(exc), ("Connection", "close")))
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            response = self.server.emulator._handle(self.command, self.path, headers, body)
        except Exception as exc:  # a bug in the emulator must still produce an HTTP answer
            response = problem(500, f"emulator error: {type(exc).__name__}")
        self._write(response)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _dispatch

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        try:
            length = int(raw)
        except ValueError:
            raise ValueError("invalid Content-Length") from None
        if not 0 <= length <= _MAX_BODY:
            raise ValueError("Content-Length out of range")
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise ValueError("invalid chunk size") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            total += size
            if total > _MAX_BODY:
                raise ValueError("body too large")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _write(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            for name, value in response.headers:
                self.send_header(name, value)
            bodyless = response.status in (204, 304)  # may carry neither body nor length
            if not bodyless:
                self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD" and not bodyless and response.body:
                self.wfile.write(response.body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True
