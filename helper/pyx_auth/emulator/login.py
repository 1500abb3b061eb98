"""The browser login flow: the page a user visits approves a session, the CLI polls for it."""

from __future__ import annotations

import html

from pyx_auth.emulator.accounts import LOGIN_SUBJECT, Accounts
from pyx_auth.emulator.responses import HTML_TYPE, Request, Response, problem, token_pair


class Login(Accounts):
    """``GET /auth/cli/login/{id}`` approves; ``GET /auth/cli/status/{id}`` answers 404 until
    then, then the token pair exactly once."""

    def _init_login(self) -> None:
        self._approved: dict[str, str] = {}  # login session id -> subject

    def approve_login(self, session_id: str, subject: str = LOGIN_SUBJECT) -> None:
        """What a user finishing the browser login does; the next status poll gets the tokens."""
        with self._lock:
            self._approved[session_id] = subject

    def _ep_login(self, request: Request) -> Response:
        self.approve_login(request.args[0])
        text = html.escape(f"Logged in to {self.org}")
        page = (
            f"<!DOCTYPE html>\n<html><head><title>{text}</title></head>"
            f"<body><p>{text}</p><p>You can close this tab.</p></body></html>\n"
        ).encode()
        return Response(200, page, [HTML_TYPE])

    def _ep_status(self, request: Request) -> Response:
        with self._lock:
            subject = self._approved.pop(request.args[0], None)  # tokens are handed out once
        if subject is None:
            return problem(404, "login session pending or unknown")
        return token_pair(*self.issue_tokens(subject))
