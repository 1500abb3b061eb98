"""The emulator's accounts and tokens: API-key exchange, single-use refresh tokens (and the
refresh faults the "never lose a login" work needs), logout, and the token helpers tests seed
with."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from emulator_http import KEY, assert_problem, basic, bearer, refresh
from pyx_auth.emulator import PyxEmulator

# -- POST /auth/cli/access-token -------------------------------------------------------------------


def test_access_token_valid_key_returns_signed_jwt(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    response = emulator_client.post("/auth/cli/access-token", headers=bearer(KEY))

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    token = response.json()["access_token"]
    assert "=" not in token, "uv rejects padded base64url"
    claims = emulator.verify(token)
    assert claims is not None
    assert claims["iss"] == emulator.url
    assert claims["urn:pyx:org_name"] == "acme"
    assert claims["exp"] - claims["iat"] == 3600
    assert KEY not in json.dumps(claims), "the API key must not leak into the token"


@pytest.mark.parametrize(
    "headers",
    [{}, bearer("sk-pyx-wrong"), {"Authorization": "Bearer"}, basic("__token__", KEY)],
    ids=["missing", "unknown", "empty", "basic-scheme"],
)
def test_access_token_bad_key_401(emulator_client: httpx.Client, headers: dict[str, str]) -> None:
    response = emulator_client.post("/auth/cli/access-token", headers=headers)

    assert_problem(response, 401)
    assert "WWW-Authenticate" in response.headers


def test_access_token_any_content_type_accepted(emulator_client: httpx.Client) -> None:
    headers = {**bearer(KEY), "Content-Type": "text/plain"}
    response = emulator_client.post("/auth/cli/access-token", headers=headers, content=b"ignored")

    assert response.status_code == 200


def test_access_token_path_prefix_ignored(emulator_client: httpx.Client) -> None:
    response = emulator_client.post("/some/prefix/auth/cli/access-token", headers=bearer(KEY))

    assert response.status_code == 200


def test_access_token_lifetime_follows_token_lifetime(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    emulator.token_lifetime = 60
    token = emulator_client.post("/auth/cli/access-token", headers=bearer(KEY)).json()[
        "access_token"
    ]

    claims = emulator.verify(token)
    assert claims is not None
    assert claims["exp"] - claims["iat"] == 60


def test_access_token_tokens_minted_same_second_differ(emulator_client: httpx.Client) -> None:
    tokens = {
        emulator_client.post("/auth/cli/access-token", headers=bearer(KEY)).json()["access_token"]
        for _ in range(3)
    }

    assert len(tokens) == 3


def test_access_token_added_key_accepted(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    assert (
        emulator_client.post("/auth/cli/access-token", headers=bearer("sk-pyx-new")).status_code
        == 401
    )
    emulator.add_api_key("sk-pyx-new")

    assert (
        emulator_client.post("/auth/cli/access-token", headers=bearer("sk-pyx-new")).status_code
        == 200
    )


def test_access_token_get_method_404(emulator_client: httpx.Client) -> None:
    assert_problem(emulator_client.get("/auth/cli/access-token", headers=bearer(KEY)), 404)


# -- POST /auth/cli/refresh ------------------------------------------------------------------------


def test_refresh_valid_token_rotates_pair(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    _, refresh_token = emulator.issue_tokens("alice")

    response = refresh(emulator_client, refresh_token)

    assert response.status_code == 200
    assert response.request.headers.get("Content-Type") is None
    pair = response.json()
    assert pair["refresh_token"] != refresh_token
    claims = emulator.verify(pair["access_token"])
    assert claims is not None
    assert claims["sub"] == "alice"
    assert refresh(emulator_client, pair["refresh_token"]).status_code == 200


def test_refresh_reused_token_401(emulator: PyxEmulator, emulator_client: httpx.Client) -> None:
    _, refresh_token = emulator.issue_tokens()
    assert refresh(emulator_client, refresh_token).status_code == 200

    assert_problem(refresh(emulator_client, refresh_token), 401)


def test_refresh_unknown_token_401(emulator_client: httpx.Client) -> None:
    assert_problem(refresh(emulator_client, "pyx-rt-never-issued"), 401)


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"[]", b"{}", b'{"refresh_token": 1}', b"\xff\xfe"],
    ids=["empty", "not-json", "array", "no-field", "not-string", "not-utf8"],
)
def test_refresh_malformed_body_400(emulator_client: httpx.Client, body: bytes) -> None:
    assert_problem(emulator_client.post("/auth/cli/refresh", content=body), 400)


def test_refresh_json_content_type_also_accepted(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    _, refresh_token = emulator.issue_tokens()

    response = emulator_client.post("/auth/cli/refresh", json={"refresh_token": refresh_token})

    assert response.status_code == 200


# -- refresh faults: rotate_then_delay and rejected_refresh_tokens -------------------------------


def test_rotate_then_delay_client_that_gives_up_has_lost_its_refresh_token(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    _, refresh_token = emulator.issue_tokens()
    emulator.rotate_then_delay = 3.0

    with pytest.raises(httpx.ReadTimeout):
        emulator_client.post("/auth/cli/refresh", json={"refresh_token": refresh_token}, timeout=1)

    emulator.rotate_then_delay = 0.0
    assert_problem(refresh(emulator_client, refresh_token), 401)  # pyx rotated: it is spent
    assert emulator.rejected_refresh_tokens == 1


def test_rotate_then_delay_answers_a_working_pair_after_the_delay(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    _, refresh_token = emulator.issue_tokens()
    emulator.rotate_then_delay = 0.3

    started = time.monotonic()
    response = refresh(emulator_client, refresh_token)

    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200
    emulator.rotate_then_delay = 0.0
    assert refresh(emulator_client, response.json()["refresh_token"]).status_code == 200
    assert emulator.rejected_refresh_tokens == 0


def test_rotate_then_delay_set_through_control_config(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    _, refresh_token = emulator.issue_tokens()
    emulator_client.post("/_emulator/config", json={"rotate_then_delay": 0.3})

    started = time.monotonic()
    assert refresh(emulator_client, refresh_token).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_rejected_refresh_tokens_counts_spent_and_unknown_only(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    _, refresh_token = emulator.issue_tokens()
    refresh(emulator_client, refresh_token)  # accepted
    refresh(emulator_client, refresh_token)  # spent
    refresh(emulator_client, "pyx-rt-never-issued")  # unknown
    emulator_client.post("/auth/cli/refresh", content=b"not json")  # malformed: not a token

    assert emulator.rejected_refresh_tokens == 2
    counts = emulator_client.get("/_emulator/counts").json()
    assert counts["rejected_refresh_tokens"] == 2
    assert counts["refresh"] == 4


def test_rejected_refresh_tokens_counts_revoked_and_resets(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    access, refresh_token = emulator.issue_tokens("alice")
    emulator_client.get("/auth/cli/logout", headers=bearer(access))
    refresh(emulator_client, refresh_token)
    assert emulator.rejected_refresh_tokens == 1

    reset = emulator_client.post("/_emulator/reset").json()

    assert reset["rejected_refresh_tokens"] == 0
    assert emulator.rejected_refresh_tokens == 0


# -- GET /auth/cli/logout --------------------------------------------------------------------------


def test_logout_revokes_refresh_tokens_of_subject(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    access, refresh_1 = emulator.issue_tokens("alice")
    _, refresh_2 = emulator.issue_tokens("alice")
    _, bobs = emulator.issue_tokens("bob")

    response = emulator_client.get("/auth/cli/logout", headers=bearer(access))

    assert response.status_code == 200
    assert refresh(emulator_client, refresh_1).status_code == 401
    assert refresh(emulator_client, refresh_2).status_code == 401
    assert refresh(emulator_client, bobs).status_code == 200


@pytest.mark.parametrize("kind", ["missing", "garbage", "expired", "forged"])
def test_logout_bad_token_401(
    emulator: PyxEmulator, emulator_client: httpx.Client, kind: str
) -> None:
    with PyxEmulator() as other:
        forged = other.mint_access_token()
    tokens = {
        "missing": {},
        "garbage": bearer("not-a-jwt"),
        "expired": bearer(emulator.mint_access_token(lifetime=-10)),
        "forged": bearer(forged),
    }

    assert_problem(emulator_client.get("/auth/cli/logout", headers=tokens[kind]), 401)


# -- control: /_emulator/api-keys and /_emulator/tokens --------------------------------------------


def test_control_api_keys_adds_key(emulator_client: httpx.Client) -> None:
    assert (
        emulator_client.post("/_emulator/api-keys", json={"key": "sk-pyx-extra"}).status_code == 200
    )

    assert (
        emulator_client.post("/auth/cli/access-token", headers=bearer("sk-pyx-extra")).status_code
        == 200
    )


def test_control_api_keys_missing_key_400(emulator_client: httpx.Client) -> None:
    assert_problem(emulator_client.post("/_emulator/api-keys", json={}), 400)


def test_control_tokens_issues_login_pair(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    pair = emulator_client.post("/_emulator/tokens", json={"subject": "ci", "lifetime": -10}).json()

    assert emulator.verify(pair["access_token"]) is None, "lifetime -10 gives an expired token"
    assert refresh(emulator_client, pair["refresh_token"]).status_code == 200


# -- token helpers ---------------------------------------------------------------------------------


def test_verify_rejects_garbage_expired_and_forged(emulator: PyxEmulator) -> None:
    with PyxEmulator() as other:
        forged = other.mint_access_token()

    assert emulator.verify("not.a.jwt") is None
    assert emulator.verify(emulator.mint_access_token(lifetime=-10)) is None
    assert emulator.verify(forged) is None
    assert emulator.verify(emulator.mint_access_token("bob", lifetime=30)) is not None


def test_issue_tokens_pair_like_a_login(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    access, refresh_token = emulator.issue_tokens("carol")

    claims = emulator.verify(access)
    assert claims is not None
    assert claims["sub"] == "carol"
    assert refresh(emulator_client, refresh_token).status_code == 200
