"""Accounts and tokens: API keys, signed access JWTs and single-use refresh tokens.

The base of every other concern: it owns the lock all state lives behind and the signing secret.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterable
from typing import Any

import jwt

from pyx_auth.emulator.responses import (
    BEARER_CHALLENGE,
    NO_STORE,
    Request,
    Response,
    bearer,
    control_payload,
    is_int,
    json_response,
    problem,
    token_pair,
)

LOGIN_SUBJECT = "user"


class Accounts:
    """API-key exchange, refresh with rotation, logout; and the token helpers tests seed with."""

    url: str

    def _init_accounts(self, api_keys: Iterable[str], token_lifetime: int, org: str) -> None:
        self._lock = threading.Lock()
        self._secret = secrets.token_bytes(32)
        self._api_keys = set(api_keys)
        self._refresh_tokens: dict[str, str] = {}  # refresh token -> subject
        self._rejected_refresh = 0
        self.org = org
        self.token_lifetime = token_lifetime
        self.rotate_then_delay = 0.0
        """Seconds a refresh sleeps after rotating, before answering: the answer can be lost
        while the old refresh token is already spent."""

    def add_api_key(self, key: str) -> None:
        with self._lock:
            self._api_keys.add(key)

    def issue_tokens(self, subject: str = LOGIN_SUBJECT) -> tuple[str, str]:
        """An (access JWT, refresh token) pair as a browser login would give, to seed a store."""
        return self.mint_access_token(subject), self._new_refresh_token(subject)

    def _new_refresh_token(self, subject: str) -> str:
        refresh = "pyx-rt-" + secrets.token_urlsafe(32)
        with self._lock:
            self._refresh_tokens[refresh] = subject
        return refresh

    def mint_access_token(self, subject: str = LOGIN_SUBJECT, lifetime: int | None = None) -> str:
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

    @property
    def rejected_refresh_tokens(self) -> int:
        """Refreshes refused because their refresh token was spent, revoked or unknown."""
        with self._lock:
            return self._rejected_refresh

    # -- endpoints -----------------------------------------------------------------------------

    def _ep_access_token(self, request: Request) -> Response:
        key = bearer(request.headers)
        with self._lock:
            known = key is not None and key in self._api_keys
        if key is None or not known:
            return problem(401, "invalid or missing API key", BEARER_CHALLENGE)
        subject = "api-key:" + hashlib.sha256(key.encode()).hexdigest()[:16]  # never the key itself
        return json_response(200, {"access_token": self.mint_access_token(subject)}, NO_STORE)

    def _ep_refresh(self, request: Request) -> Response:
        try:
            payload = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            return problem(400, "body must be JSON")
        token = payload.get("refresh_token") if isinstance(payload, dict) else None
        if not isinstance(token, str):
            return problem(400, 'body must be {"refresh_token": "<token>"}')
        with self._lock:
            subject = self._refresh_tokens.pop(token, None)  # single use: gone either way
            if subject is None:
                self._rejected_refresh += 1
            delay = self.rotate_then_delay
        if subject is None:
            return problem(401, "unknown, used or revoked refresh token")
        answer = token_pair(*self.issue_tokens(subject))
        if delay > 0:
            time.sleep(delay)  # rotated already: a client that gives up now has lost its login
        return answer

    def _ep_logout(self, request: Request) -> Response:
        token = bearer(request.headers)
        claims = self.verify(token) if token else None
        if claims is None:
            return problem(401, "invalid or expired access token", BEARER_CHALLENGE)
        subject = claims.get("sub")
        with self._lock:
            for refresh in [t for t, s in self._refresh_tokens.items() if s == subject]:
                del self._refresh_tokens[refresh]
        return json_response(200, {})

    # -- control endpoints (/_emulator/...) ----------------------------------------------------

    def _ctl_api_keys(self, request: Request) -> Response:
        key = control_payload(request.body)["key"]
        if not isinstance(key, str) or not key:
            raise TypeError("key must be a non-empty string")
        self.add_api_key(key)
        return json_response(200, {})

    def _ctl_tokens(self, request: Request) -> Response:
        payload = control_payload(request.body)
        subject = payload.get("subject", LOGIN_SUBJECT)
        lifetime = payload.get("lifetime")
        if not isinstance(subject, str) or not (lifetime is None or is_int(lifetime)):
            raise TypeError("subject must be a string and lifetime an integer")
        access = self.mint_access_token(subject, lifetime)
        return token_pair(access, self._new_refresh_token(subject))
