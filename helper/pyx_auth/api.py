"""The pyx API client: pyx's policy on top of the HTTP boundary (``http_boundary``).

Connection errors and 5xx answers are retried with backoff while time remains, and each status
has its own message. No message ever carries a token, key, query string or raw response body.
"""

from __future__ import annotations

import json
import time

from pyx_auth.errors import (
    CredentialRejectedError,
    PyxAuthError,
    ServiceError,
    UnreachableError,
)
from pyx_auth.http_boundary import Call, new_client, send, shown_url
from pyx_auth.sources.base import is_single_word

TYPE_CHECKING = False
if TYPE_CHECKING:
    import httpx

    from pyx_auth.settings import Settings

MAX_ATTEMPTS = 3
BACKOFF = 0.25
"""First retry delay in seconds; doubled for each further attempt."""
MAX_DETAIL = 200


REDACTED = "[redacted]"


def _problem_summary(response: httpx.Response, secrets: tuple[str, ...] = ()) -> str:
    """The RFC 9457 ``title``/``detail`` of an error answer, one short line, or ''.

    A server may echo what it was sent: every presented secret is cut out before quoting.
    """
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return ""
    if not isinstance(body, dict):
        return ""
    parts = [str(body[key]) for key in ("title", "detail") if isinstance(body.get(key), str)]
    text = ": ".join(parts)
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = " ".join(text.split())
    return f": {text[:MAX_DETAIL]}" if text else ""


def _status_error(
    response: httpx.Response, call: Call, hint: str, secrets: tuple[str, ...]
) -> PyxAuthError:
    """The error for a status pyx-auth does not accept: 401/403, other 4xx, 5xx."""
    status, summary, label = response.status_code, _problem_summary(response, secrets), call.label
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
            self._client = new_client()
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
        secrets: tuple[str, ...] = (),
    ) -> httpx.Response:
        """Send one request with retries; raise a ``PyxAuthError`` for anything but success.

        ``credential`` names what authenticates the request ("the API key in PYX_API_KEY")
        and ``hint`` says what to do, for the message a 401/403 produces. Statuses in
        ``accept_statuses`` are returned. ``label`` starts every message. ``secrets`` are the
        values the request presents (key, refresh token, OIDC token): never quoted back.
        """
        url = self.settings.endpoint(path)
        call = Call(
            shown_url(url), label=label, credential=credential, budget=self.settings.timeout
        )
        delay = BACKOFF
        for attempt in range(MAX_ATTEMPTS):
            retry = attempt < MAX_ATTEMPTS - 1
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
            raise _status_error(response, call, hint, secrets)
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
            secrets=(api_key,),
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
            secrets=(refresh_token,),
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
            secrets=(oidc_token,),
            accept_statuses=(401, 403, 404),
            label=label,
        )
        status, url = response.status_code, response.request.url
        summary = _problem_summary(response, (oidc_token,))
        if status in (401, 403):
            raise CredentialRejectedError(
                f"pyx refused the OIDC token for workspace {workspace} (HTTP {status}"
                f"{summary}); the token presented {presented}; make an"
                " accessor's Repository or Subject pattern match these claims (pyx: Team >"
                " Trusted Access)"
            )
        if status == 404:
            raise ServiceError(
                f"{url} was not found (HTTP 404{summary}); check the"
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
            secrets=(access_token,),
            accept_statuses=(401,),
        )
        return response.status_code != 401
