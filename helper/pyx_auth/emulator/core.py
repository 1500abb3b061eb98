"""A local stand-in for the pyx API, because pyx itself has shut down.

`PyxEmulator` serves the endpoints pyx-auth, uv 0.12.6 and pip use, over real HTTP/1.1 on loopback
(see ``shared/reference/pyx-and-uv.md`` section 4):

- ``POST /auth/cli/access-token``: API key (``Authorization: Bearer <key>``) -> an access JWT.
- ``POST /auth/cli/refresh``: ``{"refresh_token"}`` -> a new pair; refresh tokens are single-use.
- ``GET /auth/cli/login/{id}`` approves session ``id``; ``GET /auth/cli/status/{id}`` answers 404
  until then, then the token pair exactly once (later polls get 404 again).
- ``GET /auth/cli/logout``: revokes every refresh token of the access token's subject.
- ``GET /simple/{workspace}/{view}/[{project}/]`` and ``GET /files/{workspace}/{view}/{filename}``:
  a PEP 503 index that wants ``Bearer <jwt>`` or ``Basic __token__:<jwt>``.
- ``/_emulator/...``: unauthenticated control endpoints for tests that run the emulator in another
  process (counts, reset, config and failure injection, API keys, tokens, files).
- Trusted Access (shape unconfirmed, from the closed uv PR #18254): ``POST
  /v1/trusted-access/{workspace}/mint-token`` with ``{"token": <OIDC JWT>}`` -> ``{"token",
  "expires"}``, after checking the OIDC token's RS256 signature, expiry, audience and issuer and
  the workspace's accessors (`add_accessor`: fnmatch patterns on ``repository`` and ``sub``).
- A fake OIDC issuer for it (``{url}/_oidc``, one RS256 key per instance): `issue_oidc_token` for
  tokens a CI puts in the environment (GitLab, Kubernetes), ``GET /_oidc/github/jobs/{job}/idtoken``
  shaped like GitHub's ``ACTIONS_ID_TOKEN_REQUEST_URL`` (`github_oidc_env`), and ``POST
  /_oidc/buildkite/v3/jobs/{job}/oidc/tokens`` shaped like the Buildkite agent API.

Like the real API, ``/auth/cli/`` endpoints match whatever path prefix comes before them. Access
tokens are HS256 JWTs signed with a per-instance secret, so a token from one emulator is forged in
the eyes of another. Nothing is logged: tests read other processes' stderr; secrets must not leak.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fnmatch
import hashlib
import html
import json
import re
import secrets
import selectors
import signal
import socket
import socketserver
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import jwt

__all__ = ["ENDPOINTS", "PyxEmulator", "run_cli"]

ENDPOINTS = (
    "access-token",
    "refresh",
    "login",
    "status",
    "logout",
    "simple",
    "files",
    "control",
    "oidc-token",
    "mint-token",
)
"""Endpoint names used by `PyxEmulator.counts` and `PyxEmulator.fail_next`."""

_AUTH_ENDPOINTS = frozenset({"access-token", "refresh", "login", "status", "logout"})
_AUTH_PATH = re.compile(
    r"/auth/cli/(?P<name>access-token|refresh|logout|login|status)(?:/(?P<id>[^/]+))?/?$"
)
_PEP503_RUN = re.compile(r"[-_.]+")
_MAX_BODY = 64 * 1024 * 1024
_LOGIN_SUBJECT = "user"
_JSON_TYPE = ("Content-Type", "application/json")
_HTML_TYPE = ("Content-Type", "text/html; charset=utf-8")
_NO_STORE = ("Cache-Control", "no-store")
_BEARER_CHALLENGE = ("WWW-Authenticate", 'Bearer realm="pyx"')
_BASIC_CHALLENGE = ("WWW-Authenticate", 'Basic realm="pyx"')


def _normalize(name: str) -> str:
    """PEP 503 project name normalisation, so ``Foo_Bar`` and ``foo.bar`` are one project."""
    return _PEP503_RUN.sub("-", name).lower()


TRUSTED_ACCESS_AUDIENCE = "pyx:trusted-access"
_GITHUB_IMMUTABLE_SUB = re.compile(r"repo:([^@/:]+)@\d+/([^@/:]+)@\d+:(.*)", re.DOTALL)


def _subject_forms(sub: str) -> list[str]:
    """``sub`` as given, plus, for GitHub's immutable ``repo:OWNER@ID/REPO@ID:...`` form, the
    same subject without the IDs, so an accessor's pattern may be written either way."""
    match = _GITHUB_IMMUTABLE_SUB.fullmatch(sub)
    return [sub] if match is None else [sub, f"repo:{match[1]}/{match[2]}:{match[3]}"]


@dataclass(frozen=True)
class _Accessor:
    """A Trusted Access accessor: who (issuer + fnmatch patterns) may read a workspace."""

    workspace: str
    issuer: str
    repository: str | None
    subject: str | None

    def matches(self, claims: Mapping[str, Any]) -> bool:
        """Issuer equal; ``repository`` (GitLab: ``project_path``) and ``sub`` fnmatch."""
        if claims.get("iss") != self.issuer:
            return False
        if self.repository is not None:
            repository = claims.get("repository", claims.get("project_path"))
            if not isinstance(repository, str):
                return False
            if not fnmatch.fnmatchcase(repository, self.repository):
                return False
        if self.subject is not None:
            sub = claims.get("sub")
            if not isinstance(sub, str):
                return False
            forms = _subject_forms(sub)
            return any(fnmatch.fnmatchcase(form, self.subject) for form in forms)
        return True


@dataclass
class _Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _Failure:
    status: int | None
    body: bytes | None
    hang: float | None
    remaining: int


def _json(status: int, payload: object, *extra: tuple[str, str]) -> _Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return _Response(status, body, [_JSON_TYPE, *extra])


def _problem(status: int, detail: str, *extra: tuple[str, str]) -> _Response:
    """An RFC 9457 problem body, the error shape pyx uses."""
    payload = {
        "type": "about:blank",
        "status": status,
        "title": _phrase(status),
        "detail": detail,
    }
    body = json.dumps(payload, separators=(",", ":")).encode()
    return _Response(status, body, [("Content-Type", "application/problem+json"), *extra])


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _tokens(access: str, refresh: str) -> _Response:
    return _json(200, {"access_token": access, "refresh_token": refresh}, _NO_STORE)


def _bearer(headers: Mapping[str, str]) -> str | None:
    scheme, _, value = headers.get("authorization", "").strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _html_page(title: str, links: Iterable[tuple[str, str]]) -> bytes:
    anchors = "".join(
        f'    <a href="{html.escape(href)}">{html.escape(text)}</a><br/>\n' for href, text in links
    )
    return (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        '    <meta name="pypi:repository-version" content="1.0">\n'
        f"    <title>{html.escape(title)}</title>\n  </head>\n"
        f"  <body>\n{anchors}  </body>\n</html>\n"
    ).encode()


class PyxEmulator:
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
        self.org = org
        self.url = ""
        self.token_lifetime = token_lifetime
        self.latency = 0.0
        self._secret = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._api_keys = set(api_keys)
        self._refresh_tokens: dict[str, str] = {}  # refresh token -> subject
        self._approved: dict[str, str] = {}  # login session id -> subject
        self._files: dict[tuple[str, str], dict[str, dict[str, bytes]]] = {}
        self._counts = dict.fromkeys(ENDPOINTS, 0)
        self._failures: dict[str, deque[_Failure]] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._loop_started = False
        self._connections: set[socket.socket] = set()
        self.trusted_access_audience = TRUSTED_ACCESS_AUDIENCE
        self.mint_returns_expires = True
        """False: the mint-token answer is ``{"token"}`` alone, the other shape clients accept."""
        self._oidc_key: Any = None  # RSA key (cryptography), made on first use
        self._oidc_requesters: dict[str, dict[str, Any]] = {}  # request token -> claims
        self._accessors: list[_Accessor] = []

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

    def _bind(self) -> _Server:
        """Bind now, so a port in use raises OSError to the caller before anything is printed."""
        if self._server is not None:
            raise RuntimeError("emulator already started")
        server = _Server((self.host, self.port), self)
        port = server.server_address[1]
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        self.url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        self._server = server
        return server

    # -- test-facing controls ------------------------------------------------------------------

    def fail_next(
        self,
        endpoint: str,
        *,
        status: int | None = None,
        body: bytes | None = None,
        hang: float | None = None,
        times: int = 1,
    ) -> None:
        """Make the next `times` requests to `endpoint` fail, to test clients' error paths.

        ``status``: answer with it and a problem body (or ``body``). ``body`` alone: answer 200 with
        those raw bytes. ``hang``: sleep that long first, then answer as above or normally. Calls
        queue up in order.
        """
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {ENDPOINTS}")
        if status is not None and not 200 <= status <= 599:
            raise ValueError(f"status must be 200-599, not {status}")
        if hang is not None and hang < 0:
            raise ValueError("hang must be >= 0")
        if times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            queue = self._failures.setdefault(endpoint, deque())
            queue.append(_Failure(status, body, hang, times))

    def counts(self) -> dict[str, int]:
        """Requests seen per endpoint name (every name present, zero if unseen); a copy."""
        with self._lock:
            return dict(self._counts)

    def reset_counts(self) -> None:
        with self._lock:
            self._counts = dict.fromkeys(ENDPOINTS, 0)

    def add_api_key(self, key: str) -> None:
        with self._lock:
            self._api_keys.add(key)

    def issue_tokens(self, subject: str = _LOGIN_SUBJECT) -> tuple[str, str]:
        """An (access JWT, refresh token) pair as a browser login would give, to seed a store."""
        return self.mint_access_token(subject), self._new_refresh_token(subject)

    def _new_refresh_token(self, subject: str) -> str:
        refresh = "pyx-rt-" + secrets.token_urlsafe(32)
        with self._lock:
            self._refresh_tokens[refresh] = subject
        return refresh

    def mint_access_token(self, subject: str = _LOGIN_SUBJECT, lifetime: int | None = None) -> str:
        """A signed access JWT; ``lifetime`` (default `token_lifetime`) may be negative: expired."""
        now = int(time.time())
        claims = {
            "iss": self.url,
            "sub": subject,
            "iat": now,
            "exp": now + (self.token_lifetime if lifetime is None else lifetime),
            "jti": secrets.token_hex(8),
            "urn:pyx:org_name": self.org,
        }
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def verify(self, token: str) -> dict[str, Any] | None:
        """The claims if `token` was signed by this emulator and has not expired, else None."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token, self._secret, algorithms=["HS256"], options={"require": ["exp"]}
            )
        except jwt.InvalidTokenError:
            return None
        return claims

    def add_file(self, workspace: str, view: str, project: str, filename: str, data: bytes) -> None:
        """Publish `filename` under `project` in the index ``/simple/{workspace}/{view}/``."""
        for part in (workspace, view, project, filename):
            if not part or "/" in part:
                raise ValueError(f"invalid path component {part!r}")
        with self._lock:
            projects = self._files.setdefault((workspace, view), {})
            projects.setdefault(_normalize(project), {})[filename] = bytes(data)

    def approve_login(self, session_id: str, subject: str = _LOGIN_SUBJECT) -> None:
        """What a user finishing the browser login does; the next status poll gets the tokens."""
        with self._lock:
            self._approved[session_id] = subject

    # -- Trusted Access: the fake OIDC issuer and the workspace accessors ----------------------

    @property
    def oidc_issuer(self) -> str:
        """The ``iss`` of the OIDC tokens this emulator issues."""
        return f"{self.url}/_oidc"

    def _oidc_signing_key(self) -> Any:
        from cryptography.hazmat.primitives.asymmetric import rsa

        with self._lock:
            if self._oidc_key is None:
                self._oidc_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            return self._oidc_key

    def issue_oidc_token(
        self,
        claims: Mapping[str, Any] | None = None,
        *,
        audience: str | list[str] = TRUSTED_ACCESS_AUDIENCE,
        lifetime: int = 300,
        issuer: str | None = None,
    ) -> str:
        """An RS256 OIDC token, as a CI hands out (GitHub's live 300 s); ``claims`` override."""
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.oidc_issuer if issuer is None else issuer,
            "aud": audience,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "jti": secrets.token_hex(8),
            **dict(claims or {}),
        }
        return jwt.encode(payload, self._oidc_signing_key(), algorithm="RS256")

    def oidc_request_token(self, claims: Mapping[str, Any]) -> str:
        """A bearer for the GitHub- and Buildkite-style token endpoints, whose tokens carry
        ``claims`` (and the audience asked for)."""
        request_token = "oidc-rt-" + secrets.token_urlsafe(16)
        with self._lock:
            self._oidc_requesters[request_token] = dict(claims)
        return request_token

    def github_oidc_env(self, claims: Mapping[str, Any]) -> dict[str, str]:
        """What the GitHub runner sets in a job with ``permissions: id-token: write``; like the
        runner's, the request URL names the job (a new one per call)."""
        return {
            "GITHUB_ACTIONS": "true",
            "ACTIONS_ID_TOKEN_REQUEST_URL": (
                f"{self.url}/_oidc/github/jobs/{secrets.token_hex(4)}/idtoken?api-version=2.0"
            ),
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": self.oidc_request_token(claims),
        }

    def add_accessor(
        self,
        workspace: str,
        *,
        repository: str | None = None,
        subject: str | None = None,
        issuer: str | None = None,
    ) -> None:
        """Let OIDC tokens whose ``repository`` and ``sub`` match these fnmatch patterns (from
        ``issuer``, by default this emulator's) mint tokens for ``workspace``."""
        if repository is None and subject is None:
            raise ValueError("an accessor needs a repository or a subject pattern")
        accessor = _Accessor(workspace, issuer or self.oidc_issuer, repository, subject)
        with self._lock:
            self._accessors.append(accessor)

    def _verify_oidc(self, token: str) -> tuple[dict[str, Any] | None, str]:
        """(claims, "") for a valid OIDC token of this issuer, else (None, why it is not)."""
        key = self._oidc_signing_key().public_key()
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=self.trusted_access_audience,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            return None, "the OIDC token has expired"
        except jwt.InvalidAudienceError:
            return None, f"the OIDC token's audience is not {self.trusted_access_audience!r}"
        except jwt.InvalidSignatureError:
            return None, "the OIDC token's signature does not verify"
        except jwt.MissingRequiredClaimError as exc:
            return None, f"the OIDC token has no {exc.claim!r} claim"
        except jwt.InvalidTokenError:
            return None, "the OIDC token is malformed"
        return claims, ""

    # -- request handling (called from handler threads) ----------------------------------------

    def _handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> _Response:
        """Route one request: count it, apply latency and injected failures, then answer.

        ``headers`` has lower-cased names (hyper, hence uv, sends them lower-cased anyway).
        """
        split = urlsplit(target)
        path = split.path
        route = self._route(method, path)
        if route is None:
            return _problem(404, f"no route for {method} {path}")
        endpoint, args = route
        if endpoint == "oidc-token":
            args = [*args, split.query]  # GitHub's endpoint takes its audience in the query
        with self._lock:
            self._counts[endpoint] += 1
            failure = self._take_failure(endpoint)
            latency = self.latency if endpoint in _AUTH_ENDPOINTS else 0.0
        if latency > 0:
            time.sleep(latency)
        if failure is not None:
            if failure.hang:
                time.sleep(failure.hang)
            if failure.status is not None:
                if failure.body is not None:
                    return _Response(failure.status, failure.body, [_JSON_TYPE])
                return _problem(failure.status, f"injected failure on {endpoint}")
            if failure.body is not None:
                return _Response(200, failure.body, [_JSON_TYPE])
        handlers = {
            "access-token": self._ep_access_token,
            "refresh": self._ep_refresh,
            "login": self._ep_login,
            "status": self._ep_status,
            "logout": self._ep_logout,
            "simple": self._ep_simple,
            "files": self._ep_files,
            "control": self._ep_control,
            "oidc-token": self._ep_oidc_token,
            "mint-token": self._ep_mint_token,
        }
        return handlers[endpoint](method, args, headers, body)

    def _take_failure(self, endpoint: str) -> _Failure | None:
        queue = self._failures.get(endpoint)
        if not queue:
            return None
        failure = queue[0]
        failure.remaining -= 1
        if failure.remaining <= 0:
            queue.popleft()
        return failure

    def _route(self, method: str, path: str) -> tuple[str, list[str]] | None:
        """(endpoint name, path arguments) for a method and path, or None for a 404."""
        get = method in ("GET", "HEAD")
        match = _AUTH_PATH.search(path)
        if match:
            name, session = match["name"], match["id"]
            wants_id = name in ("login", "status")
            if (session is not None) != wants_id:
                return None
            ok = method == "POST" if name in ("access-token", "refresh") else get
            return (name, [unquote(session)] if session else []) if ok else None
        parts = [unquote(p) for p in path.split("/")[1:]]
        if parts and parts[-1] == "" and len(parts) > 1:
            parts.pop()  # one trailing slash is optional everywhere
        if not parts or "" in parts:
            return None
        head, rest = parts[0], parts[1:]
        if head == "simple" and get and len(rest) in (2, 3):
            return "simple", rest
        if head == "files" and get and len(rest) == 3:
            return "files", rest
        if head in ("_oidc", "v1"):
            return _trusted_access_route(method, parts)
        if head == "_emulator" and rest:
            allowed = {
                "counts": ("GET",),
                "reset": ("POST",),
                "config": ("POST",),
                "api-keys": ("POST",),
                "tokens": ("POST",),
                "files": ("PUT", "POST"),
            }
            want_len = 5 if rest[0] == "files" else 1
            if method in allowed.get(rest[0], ()) and len(rest) == want_len:
                return "control", rest
        return None

    def _ep_access_token(
        self, method: str, args: list[str], headers: Mapping[str, str], body: bytes
    ) -> _Response:
        key = _bearer(headers)
        with self._lock:
            known = key is not None and key in self._api_keys
        if key is None or not known:
            return _problem(401, "invalid or missing API key", _BEARER_CHALLENGE)
        subject = "api-key:" + hashlib.sha256(key.encode()).hexdigest()[:16]  # never the key itself
        return _json(200, {"access_token": self.mint_access_token(subject)}, _NO_STORE)

    def _ep_refresh(
        self, method: str, args: list[str], headers: Mapping[str, str], body: bytes
    ) -> _Response:
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return _problem(400, "body must be JSON")
        token = payload.get("refresh_token") if isinstance(payload, dict) else None
        if not isinstance(token, str):
            return _problem(400, 'body must be {"refresh_token": "<token>"}')
        with self._lock:
            subject = self._refresh_tokens.pop(token, None)  # single use: gone either way
        if subject is None:
            return _problem(401, "unknown, used or revoked refresh token")
        return _tokens(*self.issue_tokens(subject))

    def _ep_login(
        self, method: str, args: list[str], headers: Mapping[str, str], body: bytes
    ) -> _Response:
        self.approve_login(args[0])
        text = f"Logged in to {self.org}"
        page = (
            f"<!DOCTYPE html>\n<html><head><title>{html.escape(text)}</title></head>"
            f"<body><p>{html.escape(text)}</p><p>You can close this tab.</p></body></html>\n"
        ).encode()
        return _Response(200, page, [_HTML_TYPE])

    def _ep_status(
        self, method: str, args: list[str], headers: Mapping[str, str], body: bytes
    ) -> _Response:
        with self._lock:
            subject = self._approved.pop(args[0], None)  # tokens are handed out once
        if subject is None:
            return _problem(404, "login session pending or unknown")
        return _tokens(*self.issue_tokens(subject))

    def _ep_logout(
        self, method: str, args: list[str], headers: Mapping[str, str], body: bytes
    ) -> _Response:
        token = _bearer(headers)
        claims = self.verify(token) if token else None
        if claims is None:
            return _problem(401, "invalid or expired access token", _BEARER_CHALLENGE)
        subject = claims.get("sub")
        with self._lock:
            for refresh in [t for t, s in self._refresh_tokens.items() if s == subject]:
                del self._refresh_tokens[refresh]
        return _json(200, {})

    def _index_authorized(self, headers: Mapping[str, str]) -> bool:
        """Bearer <jwt>, or Basic __token__:<jwt> (what pip sends from netrc or keyring)."""
        scheme, _, value = headers.get("authorization", "").strip().partition(" ")
        scheme, value = scheme.lower(), value.strip()
        if scheme == "bearer":
            token = value
        elif scheme == "basic":
            try:
                user, sep, token = base64.b64decode(value, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False
            if not sep or user != "__token__":
                return False
        else:
            return False
        return bool(token) and self.verify(token) is not None

    def _unauthorized_index(self) -> _Response:
        # pip sends netrc/keyring credentials only after a 401 carrying a Basic challenge.
        return _problem(401, "valid pyx access token required", _BASIC_CHALLENGE)

    def _ep_simple(
        self, method: str, args: list[str], headers: Mapping[str, str], body: bytes
    ) -> _Response:
        if not self._index_authorized(headers):
            return self._unauthorized_index()
        workspace, view = args[0], args[1]
        base = f"{self.url}/simple/{quote(workspace)}/{quote(view)}"
        with self._lock:
            projects = self._files.get((workspace, view), {})
            if len(args) == 2:
                links = [(f"{base}/{quote(name)}/", name) for name in sorted(projects)]
                return _Response(200, _html_page("Simple index", links), [_HTML_TYPE])
            project = _normalize(args[2])
            files = dict(projects.get(project, {}))
        if not files:
            return _problem(404, f"project {project!r} not found in {workspace}/{view}")
        files_base = f"{self.url}/files/{quote(workspace)}/{quote(view)}"
        links = [
            (f"{files_base}/{quote(name)}#sha256={hashlib.sha256(data).hexdigest()}", name)
            for name, data in sorted(files.items())
        ]
        return _Response(200, _html_page(f"Links for {project}", links), [_HTML_TYPE])

    def _ep_files(
        self, method: str, args: list[str], headers: Mapping[str, str], body: bytes
    ) -> _Response:
        if not self._index_authorized(headers):
            return self._unauthorized_index()
        workspace, view, filename = args
        with self._lock:
            projects = self._files.get((workspace, view), {})
            data = next((f[filename] for f in projects.values() if filename in f), None)
        if data is None:
            return _problem(404, f"file {filename!r} not found in {workspace}/{view}")
        return _Response(200, data, [("Content-Type", "application/octet-stream")])

    def _ep_oidc_token(
        self, method: str, args: list[str], headers: Mapping[str, str], body: bytes
    ) -> _Response:
        """GitHub: ``GET ...?api-version=2.0&audience=A`` with ``bearer <request token>`` ->
        ``{"count", "value"}``. Buildkite: ``POST`` ``{"audience": A}`` with ``Token <agent
        token>`` -> ``{"token"}``. The request token decides the claims."""
        flavour, query = args[0], parse_qs(args[-1])
        scheme, _, credential = headers.get("authorization", "").strip().partition(" ")
        with self._lock:
            claims = self._oidc_requesters.get(credential.strip())
        wanted = "token" if flavour == "buildkite" else "bearer"
        if scheme.lower() != wanted or claims is None:
            return _problem(401, "unknown or missing OIDC request token", _BEARER_CHALLENGE)
        if flavour == "github":
            if query.get("api-version") != ["2.0"]:
                return _problem(400, "api-version=2.0 is required (keep the URL's query)")
            owner = claims.get("repository_owner", "")
            audience = query.get("audience", [f"https://github.com/{owner}"])[-1]
            token = self.issue_oidc_token(claims, audience=audience)
            return _json(200, {"count": 1, "value": token}, _NO_STORE)
        try:
            payload = json.loads(body)
            audience = payload["audience"]
        except (ValueError, UnicodeDecodeError, TypeError, KeyError):
            return _problem(400, 'body must be {"audience": "<audience>"}')
        if not isinstance(audience, str) or not audience:
            return _problem(400, "audience must be a non-empty string")
        return _json(200, {"token": self.issue_oidc_token(claims, audience=audience)}, _NO_STORE)

    def _ep_mint_token(
        self, method: str, args: list[str], headers: Mapping[str, str], body: bytes
    ) -> _Response:
        workspace = args[0]
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return _problem(415, "Content-Type must be application/json")
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            payload = None
        token = payload.get("token") if isinstance(payload, dict) else None
        if not isinstance(token, str):
            return _problem(400, 'invalid-payload: body must be {"token": "<OIDC token>"}')
        claims, reason = self._verify_oidc(token)
        if claims is None:
            return _problem(401, f"invalid-token: {reason}")
        with self._lock:
            accessors = [a for a in self._accessors if a.workspace == workspace]
        if not any(accessor.matches(claims) for accessor in accessors):
            return _problem(
                403,
                f"invalid-accessor: valid token, but no Trusted Access accessor of workspace"
                f" {workspace!r} matches its issuer, repository and subject",
            )
        access = self.mint_access_token(f"trusted-access:{workspace}:{claims['sub']}")
        answer: dict[str, Any] = {"token": access}
        if self.mint_returns_expires:
            answer["expires"] = jwt.decode(access, options={"verify_signature": False})["exp"]
        return _json(200, answer, _NO_STORE)

    def _ep_control(
        self, method: str, args: list[str], headers: Mapping[str, str], body: bytes
    ) -> _Response:
        action = args[0]
        if action == "counts":
            return _json(200, self.counts())
        if action == "reset":
            self.reset_counts()
            return _json(200, self.counts())
        try:
            if action == "files":
                self.add_file(args[1], args[2], args[3], args[4], body)
                return _json(200, {})
            payload = json.loads(body)
            if not isinstance(payload, dict):
                raise TypeError("body must be a JSON object")
            if action == "api-keys":
                key = payload["key"]
                if not isinstance(key, str) or not key:
                    raise TypeError("key must be a non-empty string")
                self.add_api_key(key)
                return _json(200, {})
            if action == "tokens":
                subject = payload.get("subject", _LOGIN_SUBJECT)
                lifetime = payload.get("lifetime")
                if not isinstance(subject, str) or not (lifetime is None or _is_int(lifetime)):
                    raise TypeError("subject must be a string and lifetime an integer")
                access = self.mint_access_token(subject, lifetime)
                return _tokens(access, self._new_refresh_token(subject))
            return self._configure(payload)
        except (ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
            return _problem(400, f"bad control request: {exc}")

    def _configure(self, payload: dict[str, Any]) -> _Response:
        """Apply ``POST /_emulator/config``: validate everything first, then change anything."""
        lifetime = payload.get("token_lifetime")
        latency = payload.get("latency")
        fail = payload.get("fail")
        if lifetime is not None and not _is_int(lifetime):
            raise TypeError("token_lifetime must be an integer")
        if latency is not None and (not _is_number(latency) or latency < 0):
            raise TypeError("latency must be a number >= 0")
        if fail is not None:
            if not isinstance(fail, dict):
                raise TypeError("fail must be an object")
            unknown = set(fail) - {"endpoint", "status", "body", "hang", "times"}
            if unknown:
                raise TypeError(f"unknown fail fields {sorted(unknown)}")
            raw_body = fail.get("body")
            if raw_body is not None and not isinstance(raw_body, str):
                raise TypeError("fail.body must be a string")
            status, hang, times = fail.get("status"), fail.get("hang"), fail.get("times", 1)
            if status is not None and not _is_int(status):
                raise TypeError("fail.status must be an integer")
            if hang is not None and not _is_number(hang):
                raise TypeError("fail.hang must be a number")
            if not _is_int(times):
                raise TypeError("fail.times must be an integer")
            self.fail_next(
                str(fail.get("endpoint")),
                status=status,
                hang=hang,
                times=times,
                body=None if raw_body is None else raw_body.encode(),
            )
        if lifetime is not None:
            self.token_lifetime = lifetime
        if latency is not None:
            self.latency = float(latency)
        return _json(200, {"token_lifetime": self.token_lifetime, "latency": self.latency})


def _trusted_access_route(method: str, parts: list[str]) -> tuple[str, list[str]] | None:
    """Routes of the fake OIDC issuer (``/_oidc/...``) and of the mint-token endpoint."""
    if method in ("GET", "HEAD") and len(parts) == 5 and parts[:3] == ["_oidc", "github", "jobs"]:
        return ("oidc-token", ["github"]) if parts[4] == "idtoken" else None
    if method != "POST" or len(parts) not in (4, 7):
        return None
    if parts[:4] == ["_oidc", "buildkite", "v3", "jobs"] and parts[5:] == ["oidc", "tokens"]:
        return "oidc-token", ["buildkite", parts[4]]
    if parts[:2] == ["v1", "trusted-access"] and parts[3:] == ["mint-token"]:
        return "mint-token", [parts[2]]
    return None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class _Server(ThreadingHTTPServer):
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
    server: _Server

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

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: other processes' stderr is asserted on, and paths can carry session ids."""

    def _dispatch(self) -> None:
        try:
            body = self._read_body()
        except ValueError as exc:
            self.close_connection = True
            self._write(_problem(400, str(exc), ("Connection", "close")))
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            response = self.server.emulator._handle(self.command, self.path, headers, body)
        except Exception as exc:  # a bug in the emulator must still produce an HTTP answer
            response = _problem(500, f"emulator error: {type(exc).__name__}")
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

    def _write(self, response: _Response) -> None:
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


class _Interrupted(BaseException):
    """Raised from `run_cli`'s SIGINT/SIGTERM handler to unwind out of the accept loop.

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` on the way (the
    signal can land anywhere in the main thread) swallows it.
    """


def run_cli(
    port: int, *, host: str = "127.0.0.1", api_key: str = "sk-pyx-demo", token_lifetime: int = 3600
) -> int:
    """Serve in the foreground for ``pyx-auth emulator``; print the settings scripts need.

    Prints ``PYX_API_URL=...`` and ``PYX_API_KEY=...`` (one per line) once the port is bound, serves
    until SIGINT or SIGTERM, then returns 0. A port in use raises OSError for the caller to report.
    """
    emulator = PyxEmulator(host=host, port=port, token_lifetime=token_lifetime, api_keys=(api_key,))
    emulator._bind()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        raise _Interrupted

    # Both signals explicitly: a shell starting us with `&` sets SIGINT to "ignore", and
    # `kill -INT` must still stop the emulator. Restored afterwards for in-process callers.
    previous: dict[int, Any] = {}
    try:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                previous[signum] = signal.signal(signum, on_signal)
        try:
            sys.stdout.write(f"PYX_API_URL={emulator.url}\nPYX_API_KEY={api_key}\n")
            sys.stdout.flush()
        except OSError:
            pass  # nobody reads stdout; keep serving
        emulator.serve_forever()
    except (KeyboardInterrupt, _Interrupted):
        pass
    finally:
        emulator.stop()
        for restored, handler in previous.items():
            if handler is not None:
                signal.signal(restored, handler)
    return 0
