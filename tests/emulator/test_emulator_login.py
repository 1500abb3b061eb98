"""The emulator's browser login flow: the login page approves a session, the status poll hands
out its token pair exactly once."""

from __future__ import annotations

import httpx

from emulator_http import assert_problem, refresh
from pyx_auth.emulator import PyxEmulator

# -- GET /auth/cli/login/{id} and GET /auth/cli/status/{id} ----------------------------------------


def test_status_pending_404_until_login_page_visited(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    session = "0b5c8a52-7d0e-4c38-9a55-2f7f5f1d2c11"
    assert_problem(emulator_client.get(f"/auth/cli/status/{session}"), 404)

    page = emulator_client.get(f"/auth/cli/login/{session}")
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "Logged in to acme" in page.text

    response = emulator_client.get(f"/auth/cli/status/{session}")
    assert response.status_code == 200
    pair = response.json()
    assert set(pair) == {"access_token", "refresh_token"}
    claims = emulator.verify(pair["access_token"])
    assert claims is not None
    assert claims["sub"] == "user"
    assert refresh(emulator_client, pair["refresh_token"]).status_code == 200


def test_status_tokens_handed_out_once(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    emulator.approve_login("s1")
    assert emulator_client.get("/auth/cli/status/s1").status_code == 200

    assert_problem(emulator_client.get("/auth/cli/status/s1"), 404)


def test_status_approve_login_other_session_stays_pending(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    emulator.approve_login("s1")

    assert emulator_client.get("/auth/cli/status/s2").status_code == 404
    assert emulator_client.get("/auth/cli/status/s1").status_code == 200


def test_login_page_names_the_org(emulator_client: httpx.Client) -> None:
    with PyxEmulator(org="example-org") as other:
        page = httpx.get(f"{other.url}/auth/cli/login/abc", timeout=5)

    assert "Logged in to example-org" in page.text
