"""The HTTP boundary: every outbound HTTP call of pyx-auth goes through ``send``.

The only module that imports httpx (``api`` only for type hints), and only the slow path
imports it. Each request runs within the run's deadline (``deadline.run_within``: httpx's
timeouts are per phase, not total) and ``http_errors`` turns every httpx exception into a
``pyx_auth.errors`` class where it enters, most specific first, as httpx itself maps
httpcore's (``map_httpcore_exceptions``). No message ever carries a token, key, query string
or raw response body. ``fetch`` is the one-shot call for services other than pyx (CI token
services).
"""

from __future__ import annotations

import contextlib
import time

import httpx

from pyx_auth import __version__
from pyx_auth.deadline import run_within
from pyx_auth.errors import (
    ConfigError,
    NetworkError,
    PyxAuthError,
    ServiceError,
    UnreachableError,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    MakeError = Callable[["Call", Exception], PyxAuthError]

USER_AGENT = f"pyx-auth/{__version__}"
MAX_REASON = 200


class Call:
    """What one request's error messages may say: never a secret, only names and the URL."""

    __slots__ = ("budget", "credential", "label", "url")

    def __init__(self, url: str, *, label: str, credential: str, budget: float | None) -> None:
        self.url = url
        """Shown without userinfo, query or fragment (``shown_url``)."""
        self.label = label
        """Who asks, e.g. ``"GitHub Actions: "``; empty for pyx itself."""
        self.credential = credential
        """What authenticates the request, e.g. "the API key in PYX_API_KEY"."""
        self.budget = budget
        """The run's whole time budget in seconds, for the timeout message; None: unknown."""

    def timed_out(self) -> NetworkError:
        within = "in time" if self.budget is None else f"within {self.budget:g} s"
        return NetworkError(
            f"{self.label}{self.url} did not answer {within} (set PYX_AUTH_TIMEOUT to wait longer)"
        )


def shown_url(url: str | httpx.URL, unparsable: str = "the URL") -> str:
    """The URL without userinfo, query and fragment, which may carry secrets; ``unparsable``
    (such as the name of the variable it came from) when it is not a URL at all."""
    try:
        return str(httpx.URL(url).copy_with(userinfo=b"", query=None, fragment=None))
    except httpx.InvalidURL:
        return unparsable


def _reason(exc: Exception) -> str:
    return " ".join(str(exc).split())[:MAX_REASON] or type(exc).__name__


def _error_map() -> tuple[tuple[tuple[type[Exception], ...], MakeError], ...]:
    """httpx exception classes, most specific first, and the error each becomes."""
    return (
        (
            (httpx.InvalidURL, httpx.UnsupportedProtocol),
            lambda call, exc: ConfigError(f"{call.label}{call.url} is not a usable http(s) URL"),
        ),
        (
            # Raised before sending; its text would quote the header, i.e. the secret.
            (httpx.LocalProtocolError, UnicodeEncodeError),
            lambda call, exc: ConfigError(
                f"{call.label}{call.credential} contains characters that cannot be sent in an"
                " HTTP header"
            ),
        ),
        ((httpx.TimeoutException,), lambda call, exc: call.timed_out()),
        (
            # The operating system's reason ("Connection refused", "Name or service not known").
            (httpx.ConnectError,),
            lambda call, exc: UnreachableError(
                f"{call.label}cannot reach {call.url}: {_reason(exc)}"
            ),
        ),
        (
            # Not quoted from here on: the text may come from the server or the request.
            (httpx.TransportError,),
            lambda call, exc: UnreachableError(
                f"{call.label}cannot reach {call.url} ({type(exc).__name__})"
            ),
        ),
        (
            (httpx.DecodingError,),
            lambda call, exc: ServiceError(
                f"{call.label}{call.url} answered with a body that cannot be decoded"
            ),
        ),
        (
            # The rest of httpx's tree, and its two other roots; not expected without streaming.
            (httpx.HTTPError, httpx.StreamError, httpx.CookieConflict),
            lambda call, exc: NetworkError(
                f"{call.label}the request to {call.url} failed ({type(exc).__name__})"
            ),
        ),
    )


@contextlib.contextmanager
def http_errors(call: Call) -> Iterator[None]:
    """Turn an httpx exception (or a header that cannot be encoded) into a ``PyxAuthError``."""
    try:
        yield
    except Exception as exc:
        for kind, make in _error_map():
            if isinstance(exc, kind):
                raise make(call, exc) from exc
        raise  # not httpx's: a bug, shown as an internal error


def _trace(method: str, url: str, status: int | None, elapsed: float) -> None:
    """One ``PYX_AUTH_DEBUG`` line per HTTP call (CI token services have no settings at hand).

    Method, URL (``shown_url``: no userinfo, no query), status and time; never a header or body.
    """
    import os

    from pyx_auth.settings import debug_enabled, write_trace

    if debug_enabled(os.environ):
        outcome = "no answer" if status is None else f"HTTP {status}"
        write_trace(f"{method} {url} -> {outcome} in {elapsed:.3f} s")


def new_client() -> httpx.Client:
    """A client that never follows redirects (a token goes only where it was sent)."""
    return httpx.Client(headers={"User-Agent": USER_AGENT}, follow_redirects=False, trust_env=True)


def send(
    client: Callable[[], httpx.Client],
    method: str,
    url: str,
    *,
    deadline: float,
    call: Call,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
    params: Mapping[str, str] | None = None,
) -> httpx.Response:
    """One request through the boundary: within ``deadline``, httpx errors mapped, traced.

    ``client()`` gives the httpx client; it is called within the deadline too, because making
    one loads the CA certificates (over a second on a loaded machine). ``params`` are merged
    into the URL's own query, which is kept (di/id#441).
    """
    started = time.monotonic()
    status: int | None = None

    def request() -> httpx.Response:
        with http_errors(call):
            target = httpx.URL(url).copy_merge_params(dict(params or {}))
            left = max(deadline - time.monotonic(), 0.001)
            return client().request(method, target, headers=headers, content=content, timeout=left)

    try:
        response = run_within(deadline, request, call.timed_out, "pyx-auth http")
        status = response.status_code
        return response
    finally:
        _trace(method, call.url, status, time.monotonic() - started)


def fetch(
    method: str,
    url: str,
    *,
    deadline: float,
    label: str,
    url_name: str,
    credential: str,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
) -> httpx.Response:
    """One request to a service other than pyx (a CI's OIDC token service), no retries.

    ``label`` starts every message ("GitHub Actions: "); ``url_name`` stands for a URL that
    does not parse, ``credential`` for what the headers carry.
    """
    call = Call(shown_url(url, url_name), label=label, credential=credential, budget=None)
    made: httpx.Client | None = None  # None if the deadline passed first

    def client() -> httpx.Client:
        nonlocal made
        made = new_client()
        return made

    try:
        return send(
            client, method, url, deadline=deadline, call=call, headers=headers, params=params
        )
    finally:
        if made is not None:
            made.close()
