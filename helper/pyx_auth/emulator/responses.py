"""The emulator's HTTP values: one parsed request in, one answer out, and their shapes."""

from __future__ import annotations

import base64
import binascii
import html
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

JSON_TYPE = ("Content-Type", "application/json")
HTML_TYPE = ("Content-Type", "text/html; charset=utf-8")
NO_STORE = ("Cache-Control", "no-store")
BEARER_CHALLENGE = ("WWW-Authenticate", 'Bearer realm="pyx"')
BASIC_CHALLENGE = ("WWW-Authenticate", 'Basic realm="pyx"')


@dataclass(frozen=True)
class Request:
    """One routed request; ``headers`` has lower-cased names (uv's hyper sends them so)."""

    method: str
    args: tuple[str, ...]
    """The path arguments the route captured, percent-decoded."""
    query: str
    headers: Mapping[str, str]
    body: bytes


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)


def json_response(status: int, payload: object, *extra: tuple[str, str]) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Response(status, body, [JSON_TYPE, *extra])


def problem(status: int, detail: str, *extra: tuple[str, str]) -> Response:
    """An RFC 9457 problem body, the error shape pyx uses."""
    payload = {"type": "about:blank", "status": status, "title": _phrase(status), "detail": detail}
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Response(status, body, [("Content-Type", "application/problem+json"), *extra])


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def token_pair(access: str, refresh: str) -> Response:
    return json_response(200, {"access_token": access, "refresh_token": refresh}, NO_STORE)


def bearer(headers: Mapping[str, str]) -> str | None:
    """The credential of ``Authorization: Bearer <credential>``, else None."""
    scheme, _, value = headers.get("authorization", "").strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def index_token(headers: Mapping[str, str]) -> str | None:
    """The pyx token of ``Bearer <jwt>`` or ``Basic __token__:<jwt>`` (pip, twine), else None."""
    scheme, _, value = headers.get("authorization", "").strip().partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme == "bearer":
        return value or None
    if scheme != "basic":
        return None
    try:
        user, sep, token = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return token if sep and user == "__token__" and token else None


def html_page(title: str, links: Iterable[tuple[str, str]]) -> Response:
    """A PEP 503 page of ``(href, text)`` anchors."""
    anchors = "".join(
        f'    <a href="{html.escape(href)}">{html.escape(text)}</a><br/>\n' for href, text in links
    )
    page = (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        '    <meta name="pypi:repository-version" content="1.0">\n'
        f"    <title>{html.escape(title)}</title>\n  </head>\n"
        f"  <body>\n{anchors}  </body>\n</html>\n"
    ).encode()
    return Response(200, page, [HTML_TYPE])


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def control_payload(body: bytes) -> dict[str, Any]:
    """The JSON object of a control request; its ValueError or TypeError becomes a 400."""
    payload = json.loads(body)
    if not isinstance(payload, dict):
        raise TypeError("body must be a JSON object")
    return payload
