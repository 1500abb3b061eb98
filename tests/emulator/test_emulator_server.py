"""The pyx emulator, specified endpoint by endpoint against a real server and a real HTTP client.

Every other test (and uv, pip and the benchmarks) trusts this emulator to behave like pyx did,
so each behaviour pyx-auth depends on is pinned here: key exchange, single-use refresh tokens, the
login poll, logout, the authenticated Simple index, failure injection and the control endpoints.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from pyx_auth.emulator import ENDPOINTS, PyxEmulator, run_cli

KEY = "sk-pyx-test"
HELPER_DIR = Path(__file__).resolve().parents[2] / "helper"
WHEEL = "demo_pkg-1.0-py3-none-any.whl"
WHEEL_BYTES = b"PK\x03\x04 not really a wheel"


@pytest.fixture
def emu() -> Iterator[PyxEmulator]:
    with PyxEmulator(api_keys=[KEY]) as emulator:
        yield emulator


@pytest.fixture
def client(emu: PyxEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.url, timeout=5) as c:
        yield c


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


# -- POST /auth/cli/access-token -------------------------------------------------------------------


def test_access_token_valid_key_returns_signed_jwt(emu: PyxEmulator, client: httpx.Client) -> None:
    response = client.post("/auth/cli/access-token", headers=bearer(KEY))

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    token = response.json()["access_token"]
    assert "=" not in token, "uv rejects padded base64url"
    claims = emu.verify(token)
    assert claims is not None
    assert claims["iss"] == emu.url
    assert claims["urn:pyx:org_name"] == "acme"
    assert claims["exp"] - claims["iat"] == 3600
    assert KEY not in json.dumps(claims), "the API key must not leak into the token"


@pytest.mark.parametrize(
    "headers",
    [{}, bearer("sk-pyx-wrong"), {"Authorization": "Bearer"}, basic("__token__", KEY)],
    ids=["missing", "unknown", "empty", "basic-scheme"],
)
def test_access_token_bad_key_401(client: httpx.Client, headers: dict[str, str]) -> None:
    response = client.post("/auth/cli/access-token", headers=headers)

    assert_problem(response, 401)
    assert "WWW-Authenticate" in response.headers


def test_access_token_any_content_type_accepted(client: httpx.Client) -> None:
    headers = {**bearer(KEY), "Content-Type": "text/plain"}
    response = client.post("/auth/cli/access-token", headers=headers, content=b"ignored")

    assert response.status_code == 200


def test_access_token_path_prefix_ignored(client: httpx.Client) -> None:
    response = client.post("/some/prefix/auth/cli/access-token", headers=bearer(KEY))

    assert response.status_code == 200


def test_access_token_lifetime_follows_token_lifetime(
    emu: PyxEmulator, client: httpx.Client
) -> None:
    emu.token_lifetime = 60
    token = client.post("/auth/cli/access-token", headers=bearer(KEY)).json()["access_token"]

    claims = emu.verify(token)
    assert claims is not None
    assert claims["exp"] - claims["iat"] == 60


def test_access_token_tokens_minted_same_second_differ(client: httpx.Client) -> None:
    tokens = {
        client.post("/auth/cli/access-token", headers=bearer(KEY)).json()["access_token"]
        for _ in range(3)
    }

    assert len(tokens) == 3


def test_access_token_added_key_accepted(emu: PyxEmulator, client: httpx.Client) -> None:
    assert client.post("/auth/cli/access-token", headers=bearer("sk-pyx-new")).status_code == 401
    emu.add_api_key("sk-pyx-new")

    assert client.post("/auth/cli/access-token", headers=bearer("sk-pyx-new")).status_code == 200


def test_access_token_get_method_404(client: httpx.Client) -> None:
    assert_problem(client.get("/auth/cli/access-token", headers=bearer(KEY)), 404)


# -- POST /auth/cli/refresh ------------------------------------------------------------------------


def test_refresh_valid_token_rotates_pair(emu: PyxEmulator, client: httpx.Client) -> None:
    _, refresh_token = emu.issue_tokens("alice")

    response = refresh(client, refresh_token)

    assert response.status_code == 200
    assert response.request.headers.get("Content-Type") is None
    pair = response.json()
    assert pair["refresh_token"] != refresh_token
    claims = emu.verify(pair["access_token"])
    assert claims is not None
    assert claims["sub"] == "alice"
    assert refresh(client, pair["refresh_token"]).status_code == 200


def test_refresh_reused_token_401(emu: PyxEmulator, client: httpx.Client) -> None:
    _, refresh_token = emu.issue_tokens()
    assert refresh(client, refresh_token).status_code == 200

    assert_problem(refresh(client, refresh_token), 401)


def test_refresh_unknown_token_401(client: httpx.Client) -> None:
    assert_problem(refresh(client, "pyx-rt-never-issued"), 401)


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"[]", b"{}", b'{"refresh_token": 1}', b"\xff\xfe"],
    ids=["empty", "not-json", "array", "no-field", "not-string", "not-utf8"],
)
def test_refresh_malformed_body_400(client: httpx.Client, body: bytes) -> None:
    assert_problem(client.post("/auth/cli/refresh", content=body), 400)


def test_refresh_json_content_type_also_accepted(emu: PyxEmulator, client: httpx.Client) -> None:
    _, refresh_token = emu.issue_tokens()

    response = client.post("/auth/cli/refresh", json={"refresh_token": refresh_token})

    assert response.status_code == 200


# -- GET /auth/cli/login/{id} and GET /auth/cli/status/{id} ----------------------------------------


def test_status_pending_404_until_login_page_visited(
    emu: PyxEmulator, client: httpx.Client
) -> None:
    session = "0b5c8a52-7d0e-4c38-9a55-2f7f5f1d2c11"
    assert_problem(client.get(f"/auth/cli/status/{session}"), 404)

    page = client.get(f"/auth/cli/login/{session}")
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "Logged in to acme" in page.text

    response = client.get(f"/auth/cli/status/{session}")
    assert response.status_code == 200
    pair = response.json()
    assert set(pair) == {"access_token", "refresh_token"}
    claims = emu.verify(pair["access_token"])
    assert claims is not None
    assert claims["sub"] == "user"
    assert refresh(client, pair["refresh_token"]).status_code == 200


def test_status_tokens_handed_out_once(emu: PyxEmulator, client: httpx.Client) -> None:
    emu.approve_login("s1")
    assert client.get("/auth/cli/status/s1").status_code == 200

    assert_problem(client.get("/auth/cli/status/s1"), 404)


def test_status_approve_login_other_session_stays_pending(
    emu: PyxEmulator, client: httpx.Client
) -> None:
    emu.approve_login("s1")

    assert client.get("/auth/cli/status/s2").status_code == 404
    assert client.get("/auth/cli/status/s1").status_code == 200


def test_login_page_names_the_org(client: httpx.Client) -> None:
    with PyxEmulator(org="example-org") as other:
        page = httpx.get(f"{other.url}/auth/cli/login/abc", timeout=5)

    assert "Logged in to example-org" in page.text


# -- GET /auth/cli/logout --------------------------------------------------------------------------


def test_logout_revokes_refresh_tokens_of_subject(emu: PyxEmulator, client: httpx.Client) -> None:
    access, refresh_1 = emu.issue_tokens("alice")
    _, refresh_2 = emu.issue_tokens("alice")
    _, bobs = emu.issue_tokens("bob")

    response = client.get("/auth/cli/logout", headers=bearer(access))

    assert response.status_code == 200
    assert refresh(client, refresh_1).status_code == 401
    assert refresh(client, refresh_2).status_code == 401
    assert refresh(client, bobs).status_code == 200


@pytest.mark.parametrize("kind", ["missing", "garbage", "expired", "forged"])
def test_logout_bad_token_401(emu: PyxEmulator, client: httpx.Client, kind: str) -> None:
    with PyxEmulator() as other:
        forged = other.mint_access_token()
    tokens = {
        "missing": {},
        "garbage": bearer("not-a-jwt"),
        "expired": bearer(emu.mint_access_token(lifetime=-10)),
        "forged": bearer(forged),
    }

    assert_problem(client.get("/auth/cli/logout", headers=tokens[kind]), 401)


# -- GET /simple/{workspace}/{view}/... ------------------------------------------------------------


def test_simple_no_auth_401_with_basic_challenge(emu: PyxEmulator, client: httpx.Client) -> None:
    response = client.get("/simple/acme/main/")

    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Basic realm="pyx"'


def test_simple_bearer_token_200(emu: PyxEmulator, client: httpx.Client) -> None:
    response = client.get("/simple/acme/main/", headers=bearer(emu.mint_access_token()))

    assert response.status_code == 200


def test_simple_basic_token_user_200(emu: PyxEmulator, client: httpx.Client) -> None:
    headers = basic("__token__", emu.mint_access_token())

    assert client.get("/simple/acme/main/", headers=headers).status_code == 200


def test_simple_basic_other_user_401(emu: PyxEmulator, client: httpx.Client) -> None:
    headers = basic("alice", emu.mint_access_token())

    assert_problem(client.get("/simple/acme/main/", headers=headers), 401)


def test_simple_expired_token_401(emu: PyxEmulator, client: httpx.Client) -> None:
    expired = emu.mint_access_token(lifetime=-10)

    assert_problem(client.get("/simple/acme/main/", headers=bearer(expired)), 401)


def test_simple_token_lifetime_negative_mints_expired_401(
    emu: PyxEmulator, client: httpx.Client
) -> None:
    emu.token_lifetime = -1
    token = client.post("/auth/cli/access-token", headers=bearer(KEY)).json()["access_token"]

    assert_problem(client.get("/simple/acme/main/", headers=bearer(token)), 401)


def test_simple_forged_token_401(client: httpx.Client) -> None:
    with PyxEmulator() as other:
        forged = other.mint_access_token()

    assert_problem(client.get("/simple/acme/main/", headers=bearer(forged)), 401)


def test_simple_api_key_as_token_401(client: httpx.Client) -> None:
    assert_problem(client.get("/simple/acme/main/", headers=bearer(KEY)), 401)


def test_simple_empty_index_200(emu: PyxEmulator, client: httpx.Client) -> None:
    response = client.get("/simple/nobody/nothing/", headers=bearer(emu.mint_access_token()))

    assert response.status_code == 200
    assert "<a " not in response.text


def test_simple_view_lists_normalized_projects(emu: PyxEmulator, client: httpx.Client) -> None:
    emu.add_file("acme", "main", "My_Project.Foo", "my_project_foo-1.0.tar.gz", b"x")
    emu.add_file("acme", "main", "abc", "abc-1.0.tar.gz", b"y")

    response = client.get("/simple/acme/main/", headers=bearer(emu.mint_access_token()))

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    hrefs = re.findall(r'<a href="([^"]+)">([^<]+)</a>', response.text)
    assert hrefs == [
        (f"{emu.url}/simple/acme/main/abc/", "abc"),
        (f"{emu.url}/simple/acme/main/my-project-foo/", "my-project-foo"),
    ]


def test_simple_project_lists_files_with_sha256(emu: PyxEmulator, client: httpx.Client) -> None:
    emu.add_file("acme", "main", "demo-pkg", WHEEL, WHEEL_BYTES)

    response = client.get("/simple/acme/main/demo-pkg/", headers=bearer(emu.mint_access_token()))

    assert response.status_code == 200
    digest = hashlib.sha256(WHEEL_BYTES).hexdigest()
    expected = f'<a href="{emu.url}/files/acme/main/{WHEEL}#sha256={digest}">{WHEEL}</a>'
    assert expected in response.text


@pytest.mark.parametrize(
    "path",
    ["Demo_Pkg/", "DEMO.PKG/", "demo-pkg"],
    ids=["underscore", "dots-upper", "no-slash"],
)
def test_simple_project_any_spelling_served(
    emu: PyxEmulator, client: httpx.Client, path: str
) -> None:
    emu.add_file("acme", "main", "demo-pkg", WHEEL, WHEEL_BYTES)

    response = client.get(f"/simple/acme/main/{path}", headers=bearer(emu.mint_access_token()))

    assert response.status_code == 200
    assert WHEEL in response.text


def test_simple_unknown_project_404(emu: PyxEmulator, client: httpx.Client) -> None:
    emu.add_file("acme", "main", "demo-pkg", WHEEL, WHEEL_BYTES)

    response = client.get("/simple/acme/main/nope/", headers=bearer(emu.mint_access_token()))

    assert_problem(response, 404)


def test_simple_project_in_other_view_404(emu: PyxEmulator, client: httpx.Client) -> None:
    emu.add_file("acme", "main", "demo-pkg", WHEEL, WHEEL_BYTES)

    response = client.get("/simple/acme/dev/demo-pkg/", headers=bearer(emu.mint_access_token()))

    assert_problem(response, 404)


def test_simple_head_has_length_but_no_body(emu: PyxEmulator, client: httpx.Client) -> None:
    emu.add_file("acme", "main", "demo-pkg", WHEEL, WHEEL_BYTES)
    headers = bearer(emu.mint_access_token())
    full = client.get("/simple/acme/main/demo-pkg/", headers=headers)

    response = client.head("/simple/acme/main/demo-pkg/", headers=headers)

    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(len(full.content))
    assert response.content == b""


# -- GET /files/{workspace}/{view}/{filename} ------------------------------------------------------


def test_files_download_bytes_match(emu: PyxEmulator, client: httpx.Client) -> None:
    emu.add_file("acme", "main", "demo-pkg", WHEEL, WHEEL_BYTES)
    headers = bearer(emu.mint_access_token())
    page = client.get("/simple/acme/main/demo-pkg/", headers=headers).text
    href = re.search(r'href="([^"#]+)#sha256=([0-9a-f]{64})"', page)
    assert href is not None

    response = client.get(href[1], headers=headers)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.content == WHEEL_BYTES
    assert hashlib.sha256(response.content).hexdigest() == href[2]


def test_files_no_auth_401(emu: PyxEmulator, client: httpx.Client) -> None:
    emu.add_file("acme", "main", "demo-pkg", WHEEL, WHEEL_BYTES)

    response = client.get(f"/files/acme/main/{WHEEL}")

    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Basic realm="pyx"'


def test_files_basic_token_user_200(emu: PyxEmulator, client: httpx.Client) -> None:
    emu.add_file("acme", "main", "demo-pkg", WHEEL, WHEEL_BYTES)

    response = client.get(
        f"/files/acme/main/{WHEEL}", headers=basic("__token__", emu.mint_access_token())
    )

    assert response.content == WHEEL_BYTES


def test_files_unknown_file_404(emu: PyxEmulator, client: httpx.Client) -> None:
    response = client.get(
        "/files/acme/main/nope-1.0.tar.gz", headers=bearer(emu.mint_access_token())
    )

    assert_problem(response, 404)


# -- counts() ------------------------------------------------------------------------------------


def test_counts_per_endpoint_name(emu: PyxEmulator, client: httpx.Client) -> None:
    client.post("/auth/cli/access-token", headers=bearer(KEY))
    client.post("/auth/cli/access-token", headers=bearer("wrong"))  # failures count too
    client.get("/simple/acme/main/")
    client.get("/not/a/route")  # unknown paths are not counted

    counts = emu.counts()

    assert set(counts) == set(ENDPOINTS)
    assert counts["access-token"] == 2
    assert counts["simple"] == 1
    assert sum(counts.values()) == 3


def test_counts_reset_and_copy(emu: PyxEmulator, client: httpx.Client) -> None:
    client.post("/auth/cli/access-token", headers=bearer(KEY))
    snapshot = emu.counts()
    snapshot["access-token"] = 99

    assert emu.counts()["access-token"] == 1
    emu.reset_counts()
    assert emu.counts() == dict.fromkeys(ENDPOINTS, 0)


# -- fail_next() -----------------------------------------------------------------------------------


def test_fail_next_status_500_then_recovers(emu: PyxEmulator, client: httpx.Client) -> None:
    emu.fail_next("access-token", status=500)

    assert_problem(client.post("/auth/cli/access-token", headers=bearer(KEY)), 500)
    assert client.post("/auth/cli/access-token", headers=bearer(KEY)).status_code == 200


def test_fail_next_status_with_custom_body(emu: PyxEmulator, client: httpx.Client) -> None:
    emu.fail_next("refresh", status=503, body=b'{"title": "down"}')

    response = refresh(client, "anything")

    assert response.status_code == 503
    assert response.content == b'{"title": "down"}'


def test_fail_next_body_alone_answers_200_garbage(emu: PyxEmulator, client: httpx.Client) -> None:
    emu.fail_next("access-token", body=b"not json")

    response = client.post("/auth/cli/access-token", headers=bearer(KEY))

    assert response.status_code == 200
    assert response.content == b"not json"
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_fail_next_times_counts_down(emu: PyxEmulator, client: httpx.Client) -> None:
    emu.fail_next("simple", status=502, times=2)
    headers = bearer(emu.mint_access_token())

    statuses = [client.get("/simple/a/b/", headers=headers).status_code for _ in range(3)]

    assert statuses == [502, 502, 200]


def test_fail_next_queued_failures_apply_in_order(emu: PyxEmulator, client: httpx.Client) -> None:
    emu.fail_next("access-token", status=500)
    emu.fail_next("access-token", status=429)

    statuses = [
        client.post("/auth/cli/access-token", headers=bearer(KEY)).status_code for _ in range(3)
    ]

    assert statuses == [500, 429, 200]


def test_fail_next_other_endpoints_unaffected(emu: PyxEmulator, client: httpx.Client) -> None:
    emu.fail_next("refresh", status=500)

    assert client.post("/auth/cli/access-token", headers=bearer(KEY)).status_code == 200


def test_fail_next_hang_client_times_out(emu: PyxEmulator, client: httpx.Client) -> None:
    emu.fail_next("access-token", hang=1.0)

    with pytest.raises(httpx.ReadTimeout):
        client.post("/auth/cli/access-token", headers=bearer(KEY), timeout=0.2)
    # The hanging handler holds no lock: the next request is answered at once.
    started = time.monotonic()
    assert client.post("/auth/cli/access-token", headers=bearer(KEY)).status_code == 200
    assert time.monotonic() - started < 0.5


def test_fail_next_hang_then_normal_answer(emu: PyxEmulator, client: httpx.Client) -> None:
    emu.fail_next("access-token", hang=0.2)

    started = time.monotonic()
    response = client.post("/auth/cli/access-token", headers=bearer(KEY))

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize(
    ("endpoint", "kwargs"),
    [
        ("nope", {}),
        ("refresh", {"times": 0}),
        ("refresh", {"status": 99}),
        ("refresh", {"hang": -1}),
    ],
    ids=["unknown-endpoint", "zero-times", "bad-status", "negative-hang"],
)
def test_fail_next_bad_arguments_valueerror(
    emu: PyxEmulator, endpoint: str, kwargs: dict[str, int]
) -> None:
    with pytest.raises(ValueError):
        emu.fail_next(endpoint, **kwargs)  # type: ignore[arg-type]


# -- latency ---------------------------------------------------------------------------------------


def test_latency_delays_auth_endpoints_only(emu: PyxEmulator, client: httpx.Client) -> None:
    emu.latency = 0.2
    headers = bearer(emu.mint_access_token())

    started = time.monotonic()
    assert client.post("/auth/cli/access-token", headers=bearer(KEY)).status_code == 200
    auth_elapsed = time.monotonic() - started
    started = time.monotonic()
    assert client.get("/simple/acme/main/", headers=headers).status_code == 200
    index_elapsed = time.monotonic() - started

    assert auth_elapsed >= 0.2
    assert index_elapsed < 0.15


def test_latency_sleeps_run_in_parallel(emu: PyxEmulator) -> None:
    emu.latency = 0.3

    def exchange(_: int) -> int:
        with httpx.Client(base_url=emu.url, timeout=5) as c:
            return c.post("/auth/cli/access-token", headers=bearer(KEY)).status_code

    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(exchange, range(8)))

    assert statuses == [200] * 8
    assert time.monotonic() - started < 1.2, "latency must not be slept under the lock"


# -- /_emulator/ control endpoints -----------------------------------------------------------------


def test_control_counts_returns_json(client: httpx.Client) -> None:
    client.post("/auth/cli/access-token", headers=bearer(KEY))

    counts = client.get("/_emulator/counts").json()

    assert counts["access-token"] == 1
    assert counts["control"] == 1, "the counts request counts itself"


def test_control_reset_zeroes_counts(emu: PyxEmulator, client: httpx.Client) -> None:
    client.post("/auth/cli/access-token", headers=bearer(KEY))

    assert client.post("/_emulator/reset").status_code == 200
    assert emu.counts() == dict.fromkeys(ENDPOINTS, 0)


def test_control_config_sets_lifetime_and_latency(emu: PyxEmulator, client: httpx.Client) -> None:
    response = client.post("/_emulator/config", json={"token_lifetime": 90, "latency": 0.05})

    assert response.json() == {"token_lifetime": 90, "latency": 0.05}
    assert (emu.token_lifetime, emu.latency) == (90, 0.05)


def test_control_config_fail_injects_failure(client: httpx.Client) -> None:
    fail = {"endpoint": "access-token", "status": 500, "body": "oops", "times": 2}
    assert client.post("/_emulator/config", json={"fail": fail}).status_code == 200

    responses = [client.post("/auth/cli/access-token", headers=bearer(KEY)) for _ in range(3)]

    assert [(r.status_code, r.content) for r in responses[:2]] == [(500, b"oops")] * 2
    assert responses[2].status_code == 200


def test_control_config_fail_body_alone_and_hang(client: httpx.Client) -> None:
    fail = {"endpoint": "access-token", "body": "not json", "hang": 0.1}
    client.post("/_emulator/config", json={"fail": fail})

    started = time.monotonic()
    response = client.post("/auth/cli/access-token", headers=bearer(KEY))

    assert (response.status_code, response.content) == (200, b"not json")
    assert time.monotonic() - started >= 0.1


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"token_lifetime": "60"}',
        b'{"latency": -1}',
        b'{"fail": {"endpoint": "nope"}}',
        b'{"fail": {"endpoint": "refresh", "colour": "red"}}',
        b'{"fail": {"endpoint": "refresh", "times": 0}}',
    ],
    ids=[
        "not-json",
        "not-object",
        "lifetime-str",
        "latency-neg",
        "bad-endpoint",
        "bad-field",
        "zero-times",
    ],
)
def test_control_config_invalid_400_and_nothing_changes(
    emu: PyxEmulator, client: httpx.Client, body: bytes
) -> None:
    assert_problem(client.post("/_emulator/config", content=body), 400)
    assert (emu.token_lifetime, emu.latency) == (3600, 0.0)
    assert client.post("/auth/cli/access-token", headers=bearer(KEY)).status_code == 200


def test_control_api_keys_adds_key(client: httpx.Client) -> None:
    assert client.post("/_emulator/api-keys", json={"key": "sk-pyx-extra"}).status_code == 200

    assert client.post("/auth/cli/access-token", headers=bearer("sk-pyx-extra")).status_code == 200


def test_control_api_keys_missing_key_400(client: httpx.Client) -> None:
    assert_problem(client.post("/_emulator/api-keys", json={}), 400)


def test_control_tokens_issues_login_pair(emu: PyxEmulator, client: httpx.Client) -> None:
    pair = client.post("/_emulator/tokens", json={"subject": "ci", "lifetime": -10}).json()

    assert emu.verify(pair["access_token"]) is None, "lifetime -10 gives an expired token"
    assert refresh(client, pair["refresh_token"]).status_code == 200


def test_control_files_publishes_file(emu: PyxEmulator, client: httpx.Client) -> None:
    response = client.put(f"/_emulator/files/acme/main/demo-pkg/{WHEEL}", content=WHEEL_BYTES)
    assert response.status_code == 200

    download = client.get(f"/files/acme/main/{WHEEL}", headers=bearer(emu.mint_access_token()))

    assert download.content == WHEEL_BYTES


# -- anything else ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/nope"),
        ("DELETE", "/auth/cli/refresh"),
        ("GET", "/auth/cli/status"),
        ("GET", "/simple/acme/"),
        ("GET", "/files/acme/main/"),
        ("GET", "/_emulator/nope"),
    ],
)
def test_unknown_route_404_problem(client: httpx.Client, method: str, path: str) -> None:
    assert_problem(client.request(method, path), 404)


# -- HTTP/1.1 behaviour ----------------------------------------------------------------------------


def test_http_keep_alive_every_response_has_content_length(emu: PyxEmulator) -> None:
    host, port = emu.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    requests = [
        ("POST", "/auth/cli/access-token", b"", bearer(KEY)),
        ("POST", "/auth/cli/access-token", b"", {}),
        ("POST", "/auth/cli/refresh", b"garbage", {}),
        ("GET", "/auth/cli/status/x", b"", {}),
        ("GET", "/simple/acme/main/", b"", {}),
        ("GET", "/nope", b"", {}),
        ("HEAD", "/nope", b"", {}),
        ("GET", "/_emulator/counts", b"", {}),
    ]
    try:
        connection.connect()
        sock = connection.sock
        for method, path, body, headers in requests:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            assert response.getheader("Content-Length") is not None, (method, path)
            assert not response.will_close, (method, path)
        assert connection.sock is sock, "all requests went over one connection"
    finally:
        connection.close()


def test_http_concurrent_clients_all_served(emu: PyxEmulator) -> None:
    barrier = threading.Barrier(64)

    def exchange(_: int) -> int:
        with httpx.Client(base_url=emu.url, timeout=5) as c:
            barrier.wait()
            return c.post("/auth/cli/access-token", headers=bearer(KEY)).status_code

    started = time.monotonic()
    with ThreadPoolExecutor(64) as pool:
        statuses = list(pool.map(exchange, range(64)))

    assert statuses == [200] * 64
    assert emu.counts()["access-token"] == 64
    assert time.monotonic() - started < 3


def test_http_chunked_request_body_read(emu: PyxEmulator, client: httpx.Client) -> None:
    _, refresh_token = emu.issue_tokens()
    body = json.dumps({"refresh_token": refresh_token}).encode()

    response = client.post("/auth/cli/refresh", content=iter([body[:10], body[10:]]))

    assert response.request.headers["Transfer-Encoding"] == "chunked"
    assert response.status_code == 200


# -- lifecycle and token helpers -------------------------------------------------------------------


def test_stop_fast_while_handler_hangs() -> None:
    emulator = PyxEmulator(api_keys=[KEY]).start()
    emulator.fail_next("access-token", hang=5)
    outcome: list[BaseException | int] = []

    def call() -> None:
        try:
            url = f"{emulator.url}/auth/cli/access-token"
            outcome.append(httpx.post(url, headers=bearer(KEY), timeout=10).status_code)
        except httpx.TransportError as exc:
            outcome.append(exc)

    hung = threading.Thread(target=call)
    hung.start()
    time.sleep(0.1)

    started = time.monotonic()
    emulator.stop()

    assert time.monotonic() - started < 1
    hung.join(timeout=2)
    assert not hung.is_alive(), "the hung client saw its connection cut"
    assert isinstance(outcome[0], httpx.TransportError)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{emulator.url}/_emulator/counts", timeout=1)


def test_start_url_is_loopback_with_bound_port() -> None:
    with PyxEmulator() as emulator:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", emulator.url)
        assert not emulator.url.endswith(":0")


def test_start_twice_raises() -> None:
    with PyxEmulator() as emulator, pytest.raises(RuntimeError):
        emulator.start()


def test_verify_rejects_garbage_expired_and_forged(emu: PyxEmulator) -> None:
    with PyxEmulator() as other:
        forged = other.mint_access_token()

    assert emu.verify("not.a.jwt") is None
    assert emu.verify(emu.mint_access_token(lifetime=-10)) is None
    assert emu.verify(forged) is None
    assert emu.verify(emu.mint_access_token("bob", lifetime=30)) is not None


def test_issue_tokens_pair_like_a_login(emu: PyxEmulator, client: httpx.Client) -> None:
    access, refresh_token = emu.issue_tokens("carol")

    claims = emu.verify(access)
    assert claims is not None
    assert claims["sub"] == "carol"
    assert refresh(client, refresh_token).status_code == 200


# -- run_cli ---------------------------------------------------------------------------------------


def start_cli(prelude: str = "") -> subprocess.Popen[str]:
    pythonpath = os.pathsep.join([str(HELPER_DIR), os.environ.get("PYTHONPATH", "")])
    code = (
        f"{prelude}import sys; from pyx_auth.emulator import run_cli; "
        "sys.exit(run_cli(0, api_key='sk-pyx-demo-key'))"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": pythonpath},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize(
    ("signum", "prelude"),
    [
        (signal.SIGINT, ""),
        (signal.SIGTERM, ""),
        # What `pyx-auth emulator &` in a script gets: the shell sets SIGINT to "ignore".
        (signal.SIGINT, "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN); "),
    ],
    ids=["sigint", "sigterm", "sigint-backgrounded"],
)
def test_run_cli_prints_settings_serves_and_exits_0_on_signal(
    signum: signal.Signals, prelude: str
) -> None:
    process = start_cli(prelude)
    try:
        assert process.stdout is not None
        url_line = process.stdout.readline()
        key_line = process.stdout.readline()
        match = re.fullmatch(r"PYX_API_URL=(http://127\.0\.0\.1:\d+)\n", url_line)
        assert match, url_line
        assert key_line == "PYX_API_KEY=sk-pyx-demo-key\n"

        response = httpx.post(
            f"{match[1]}/auth/cli/access-token", headers=bearer("sk-pyx-demo-key"), timeout=5
        )
        assert response.status_code == 200

        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=5)
    finally:
        process.kill()
        process.communicate()

    assert process.returncode == 0
    assert stdout == ""
    assert stderr == "", "no traceback, no request log"


def test_run_cli_port_in_use_raises_oserror(
    emu: PyxEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    port = int(emu.url.rsplit(":", 1)[1])

    with pytest.raises(OSError):
        run_cli(port)

    assert capsys.readouterr().out == ""


def test_serve_forever_returns_after_stop_from_another_thread() -> None:
    emulator = PyxEmulator(api_keys=[KEY])
    server = threading.Thread(target=emulator.serve_forever)
    server.start()
    deadline = time.monotonic() + 5
    while not emulator.url and time.monotonic() < deadline:
        time.sleep(0.01)
    assert (
        httpx.post(f"{emulator.url}/auth/cli/access-token", headers=bearer(KEY)).status_code == 200
    )

    emulator.stop()

    server.join(timeout=2)
    assert not server.is_alive()
