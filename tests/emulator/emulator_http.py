"""HTTP helpers shared by the emulator's tests (the server and client fixtures are in conftest)."""

from __future__ import annotations

import base64
import json

import httpx

from conftest import EMULATOR_API_KEY

KEY = EMULATOR_API_KEY
WHEEL = "demo_pkg-1.0-py3-none-any.whl"
WHEEL_BYTES = b"PK\x03\x04 not really a wheel"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def refresh(client: httpx.Client, token: str) -> httpx.Response:
    # Raw bytes: like uv, send the JSON with no Content-Type header.
    return client.post("/auth/cli/refresh", content=json.dumps({"refresh_token": token}).encode())


def assert_problem(response: httpx.Response, status: int) -> None:
    assert response.status_code == status
    problem = response.json()
    assert problem["status"] == status
    assert problem["title"]
    assert problem["detail"]
