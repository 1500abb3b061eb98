"""The HTTP boundary (every outbound HTTP call of pyx-auth) and the pyx API client.

The only module that imports httpx, and only the slow path imports it. ``send`` is the one way
out: each request runs within the run's deadline (``deadline.run_within``: httpx's timeouts are
per phase, not total) and ``http_errors`` turns every httpx exception into a
``pyx_auth.errors`` class where it enters, most specific first, as httpx itself maps httpcore's
(``map_httpcore_exceptions``). ``PyxClient`` adds pyx's policy on top: connection errors and
5xx answers are retried with backoff while time remains, and each status has its own message.
No message ever carries a token, key, query string or raw response body.
"""

from __future__ import annotations

import contextlib
import json
import time

import httpx

from pyx_auth import __version__
from pyx_auth.deadline import run_within
from pyx_auth.errors import (
    ConfigError,
    CredentialRejectedError,
    NetworkError,
    PyxAuthError,
    ServiceError,
    UnreachableError,
)
from pyx_auth.sources.base import is_single_word

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from pyx_auth.settings import Settings

    MakeError = Callable[["Call", Exception], PyxAuthError]

USER_AGENT = f"pyx-auth/{__version__}"
MAX_ATTEMPTS = 3
BACKOFF = 0.25
"""First retry delay in seconds; doubled for each further attempt."""
MAX_DETAIL = 200
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


def _new_client() -> httpx.Client:
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
    clients: list[httpx.Client] = []

    def client() -> httpx.Client:
        clients.append(_new_client())
        return clients[0]

    try:
        return send(
            client, method, url, deadline=deadline, call=call, headers=headers, params=params
        )
    finally:
        for made in clients:
            made.close()


def _problem_summary(response: httpx.Response) -> str:
    """The RFC 9457 ``title``/``detail`` of an error answer, one short line, or ''."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return ""
    if not isinstance(body, dict):
        return ""
    parts = [str(body[key]) for key in ("title", "detail") if isinstance(body.get(key), str)]
    text = " ".join(": ".join(parts).split())
    return f": {text[:MAX_DETAIL]}" if text else ""


def _status_error(response: httpx.Response, call: Call, hint: str) -> PyxAuthError:
    """The error for a status pyx-auth does not accept: 401/403, other 4xx, 5xx."""
    status, summary, label = response.status_code, _problem_summary(response), call.label
    if status in (401, 403):
        return CredentialRejectedError(
            f"{label}{call.credential} was rejected by {call.url} (HTTP {status}{summary}){hint}"
        )
    if status >= 500:
        return ServiceError(
            f"{label}{call.url} failed with HTTP {status}{summary}; pyx may be down, try again"
            " later"
        )
    return ServiceError(f"{label}{call.url} refused the request with HTTP {status}{summary}")


class PyxClient:
    """HTTP calls to one pyx API, sharing one deadline."""

    def __init__(self, settings: Settings, deadline: float) -> None:
        self.settings = settings
        self.deadline = deadline
        self._client: httpx.Client | None = None

    def __enter__(self) -> PyxClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._client is not None:
            self._client.close()

    def _http(self) -> httpx.Client:
        """The one httpx client, made on first use (inside the deadline: see ``send``)."""
        if self._client is None:
            self._client = _new_client()
        return self._client

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def request(
        self,
        method: str,
        path: str,
        *,
        credential: str,
        hint: str = "",
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
        accept_statuses: tuple[int, ...] = (),
        label: str = "",
    ) -> httpx.Response:
        """Send one request with retries; raise a ``PyxAuthError`` for anything but success.

        ``credential`` names what authenticates the request ("the API key in PYX_API_KEY")
        and ``hint`` says what to do, for the message a 401/403 produces. Statuses in
        ``accept_statuses`` are returned. ``label`` starts every message.
        """
        url = self.settings.endpoint(path)
        call = Call(
            shown_url(url), label=label, credential=credential, budget=self.settings.timeout
        )
        delay = BACKOFF
        for attempt in range(1, MAX_ATTEMPTS + 1):
            retry = attempt < MAX_ATTEMPTS
            try:
                response = send(
                    self._http,
                    method,
                    url,
                    deadline=self.deadline,
                    call=call,
                    headers=headers,
                    content=content,
                )
            except UnreachableError:
                if not (retry and self._backoff(delay)):
                    raise
                delay *= 2
                continue
            status = response.status_code
            if response.is_success or status in accept_statuses:
                return response
            if status >= 500 and retry and self._backoff(delay):
                delay *= 2
                continue
            raise _status_error(response, call, hint)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def _backoff(self, delay: float) -> bool:
        """Sleep ``delay`` before another attempt; False when that would leave no time."""
        if self.remaining() <= delay:
            return False
        time.sleep(delay)
        return True

    def json_object(self, response: httpx.Response) -> dict[str, object]:
        """The answer as a JSON object, or ``ServiceError``."""
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            raise ServiceError(f"{response.request.url} answered with something other than JSON")
        return body

    def token_field(self, body: dict[str, object], field: str, url: object) -> str:
        """A token-shaped string field of an answer: non-empty, no whitespace."""
        value = body.get(field)
        if not isinstance(value, str) or not is_single_word(value):
            raise ServiceError(f"{url} answered without a usable {field!r}")
        return value

    def exchange_api_key(self, api_key: str, credential: str) -> str:
        """``POST /auth/cli/access-token`` with the key as Bearer: a fresh access token."""
        response = self.request(
            "POST",
            "auth/cli/access-token",
            credential=credential,
            hint="; check the key, or create a new one in pyx",
            headers={"Authorization": f"Bearer {api_key}"},
        )
        return self.token_field(self.json_object(response), "access_token", response.request.url)

    def refresh(self, refresh_token: str, credential: str) -> tuple[str | None, str]:
        """``POST /auth/cli/refresh``: the new (access token, refresh token) pair.

        The old refresh token is spent whatever happens next; the caller must store the pair.
        The access token is None when pyx sent none usable: the rotated refresh token must
        still be stored, or the login is lost.
        """
        response = self.request(
            "POST",
            "auth/cli/refresh",
            credential=credential,
            hint="; the login has expired or was revoked: run `pyx-auth login`",
            headers={"Content-Type": "application/json"},
            content=json.dumps({"refresh_token": refresh_token}).encode(),
        )
        body = self.json_object(response)
        rotated = self.token_field(body, "refresh_token", response.request.url)
        access = body.get("access_token")
        return (access if isinstance(access, str) and is_single_word(access) else None), rotated

    def mint_trusted_access(
        self, path: str, oidc_token: str, *, workspace: str, presented: str, label: str = ""
    ) -> tuple[str, int | None]:
        """``POST {api}/{path}`` with ``{"token": <OIDC token>}``: a pyx token and its ``expires``.

        Three failures, told apart as gh-action-pypi-publish does: pyx refusing the identity
        (401/403: ``CredentialRejectedError`` with pyx's problem detail and ``presented``, the
        token's non-secret claims, so the accessor's patterns can be fixed); an endpoint that is
        not there (404: the workspace or the unconfirmed path); and server errors (retried,
        then ``ServiceError``: try again later). ``label`` (the CI) starts the messages of
        ``request``: no answer, unreachable, 5xx, another 4xx.
        """
        response = self.request(
            "POST",
            path,
            credential=f"the OIDC token for workspace {workspace}",
            headers={"Content-Type": "application/json"},
            content=json.dumps({"token": oidc_token}).encode(),
            accept_statuses=(401, 403, 404),
            label=label,
        )
        status, url = response.status_code, response.request.url
        if status in (401, 403):
            raise CredentialRejectedError(
                f"pyx refused the OIDC token for workspace {workspace} (HTTP {status}"
                f"{_problem_summary(response)}); the token presented {presented}; make an"
                " accessor's Repository or Subject pattern match these claims (pyx: Team >"
                " Trusted Access)"
            )
        if status == 404:
            raise ServiceError(
                f"{url} was not found (HTTP 404{_problem_summary(response)}); check the"
                " workspace name, PYX_API_URL and PYX_TRUSTED_ACCESS_PATH"
            )
        body = self.json_object(response)
        token = self.token_field(body, "token", url)
        expires = body.get("expires")
        if isinstance(expires, int) and not isinstance(expires, bool):
            return token, expires
        return token, None  # optional: without it the token's own exp counts

    def login_status(self, session_id: str) -> tuple[str, str] | None:
        """``GET /auth/cli/status/{id}``: None while the browser login is pending (404), then
        the (access token, refresh token) pair, which pyx hands out once."""
        response = self.request(
            "GET",
            f"auth/cli/status/{session_id}",
            credential="the browser login",
            accept_statuses=(404,),
        )
        if response.status_code == 404:
            return None
        body = self.json_object(response)
        url = response.request.url
        return self.token_field(body, "access_token", url), self.token_field(
            body, "refresh_token", url
        )

    def logout(self, access_token: str) -> bool:
        """``GET /auth/cli/logout``: revoke the login's refresh tokens on the server.

        False when pyx answers 401 (the access token is no longer valid), which uv tolerates.
        """
        response = self.request(
            "GET",
            "auth/cli/logout",
            credential="the login's access token",
            headers={"Authorization": f"Bearer {access_token}"},
            accept_statuses=(401,),
        )
        return response.status_code != 401
