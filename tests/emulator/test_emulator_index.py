"""The emulator's authenticated PEP 503 index: the root page, project pages, file downloads and
the control endpoint that publishes files."""

from __future__ import annotations

import hashlib
import re

import httpx
import pytest

from emulator_http import KEY, WHEEL, WHEEL_BYTES, assert_problem, basic, bearer
from pyx_auth.emulator import PyxEmulator

# -- GET /simple/{workspace}/{view}/... ------------------------------------------------------------


def test_simple_no_auth_401_with_basic_challenge(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    response = emulator_client.get("/simple/acme/main/")

    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Basic realm="pyx"'


def test_simple_bearer_token_200(emulator: PyxEmulator, emulator_client: httpx.Client) -> None:
    response = emulator_client.get(
        "/simple/acme/main/", headers=bearer(emulator.mint_access_token())
    )

    assert response.status_code == 200


def test_simple_basic_token_user_200(emulator: PyxEmulator, emulator_client: httpx.Client) -> None:
    headers = basic("__token__", emulator.mint_access_token())

    assert emulator_client.get("/simple/acme/main/", headers=headers).status_code == 200


def test_simple_basic_other_user_401(emulator: PyxEmulator, emulator_client: httpx.Client) -> None:
    headers = basic("alice", emulator.mint_access_token())

    assert_problem(emulator_client.get("/simple/acme/main/", headers=headers), 401)


def test_simple_expired_token_401(emulator: PyxEmulator, emulator_client: httpx.Client) -> None:
    expired = emulator.mint_access_token(lifetime=-10)

    assert_problem(emulator_client.get("/simple/acme/main/", headers=bearer(expired)), 401)


def test_simple_token_lifetime_negative_mints_expired_401(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    emulator.token_lifetime = -1
    token = emulator_client.post("/auth/cli/access-token", headers=bearer(KEY)).json()[
        "access_token"
    ]

    assert_problem(emulator_client.get("/simple/acme/main/", headers=bearer(token)), 401)


def test_simple_forged_token_401(emulator_client: httpx.Client) -> None:
    with PyxEmulator() as other:
        forged = other.mint_access_token()

    assert_problem(emulator_client.get("/simple/acme/main/", headers=bearer(forged)), 401)


def test_simple_api_key_as_token_401(emulator_client: httpx.Client) -> None:
    assert_problem(emulator_client.get("/simple/acme/main/", headers=bearer(KEY)), 401)


def test_simple_empty_index_200(emulator: PyxEmulator, emulator_client: httpx.Client) -> None:
    response = emulator_client.get(
        "/simple/nobody/nothing/", headers=bearer(emulator.mint_access_token())
    )

    assert response.status_code == 200
    assert "<a " not in response.text


def test_simple_view_lists_normalized_projects(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    emulator.add_file("acme", "main", "My_Project.Foo", "my_project_foo-1.0.tar.gz", b"x")
    emulator.add_file("acme", "main", "abc", "abc-1.0.tar.gz", b"y")

    response = emulator_client.get(
        "/simple/acme/main/", headers=bearer(emulator.mint_access_token())
    )

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    hrefs = re.findall(r'<a href="([^"]+)">([^<]+)</a>', response.text)
    assert hrefs == [
        (f"{emulator.url}/simple/acme/main/abc/", "abc"),
        (f"{emulator.url}/simple/acme/main/my-project-foo/", "my-project-foo"),
    ]


def test_simple_project_lists_files_with_sha256(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    emulator.add_file("acme", "main", "demo-pkg", WHEEL, WHEEL_BYTES)

    response = emulator_client.get(
        "/simple/acme/main/demo-pkg/", headers=bearer(emulator.mint_access_token())
    )

    assert response.status_code == 200
    digest = hashlib.sha256(WHEEL_BYTES).hexdigest()
    expected = f'<a href="{emulator.url}/files/acme/main/{WHEEL}#sha256={digest}">{WHEEL}</a>'
    assert expected in response.text


@pytest.mark.parametrize(
    "path",
    ["Demo_Pkg/", "DEMO.PKG/", "demo-pkg"],
    ids=["underscore", "dots-upper", "no-slash"],
)
def test_simple_project_any_spelling_served(
    emulator: PyxEmulator, emulator_client: httpx.Client, path: str
) -> None:
    emulator.add_file("acme", "main", "demo-pkg", WHEEL, WHEEL_BYTES)

    response = emulator_client.get(
        f"/simple/acme/main/{path}", headers=bearer(emulator.mint_access_token())
    )

    assert response.status_code == 200
    assert WHEEL in response.text


def test_simple_unknown_project_404(emulator: PyxEmulator, emulator_client: httpx.Client) -> None:
    emulator.add_file("acme", "main", "demo-pkg", WHEEL, WHEEL_BYTES)

    response = emulator_client.get(
        "/simple/acme/main/nope/", headers=bearer(emulator.mint_access_token())
    )

    assert_problem(response, 404)


def test_simple_project_in_other_view_404(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    emulator.add_file("acme", "main", "demo-pkg", WHEEL, WHEEL_BYTES)

    response = emulator_client.get(
        "/simple/acme/dev/demo-pkg/", headers=bearer(emulator.mint_access_token())
    )

    assert_problem(response, 404)


def test_simple_head_has_length_but_no_body(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    emulator.add_file("acme", "main", "demo-pkg", WHEEL, WHEEL_BYTES)
    headers = bearer(emulator.mint_access_token())
    full = emulator_client.get("/simple/acme/main/demo-pkg/", headers=headers)

    response = emulator_client.head("/simple/acme/main/demo-pkg/", headers=headers)

    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(len(full.content))
    assert response.content == b""


# -- the root page: GET /simple/{workspace}/{view}/ ----------------------------------------------


def test_simple_root_links_lead_to_every_project_of_the_view(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    emulator.add_file("acme", "main", "demo-pkg", WHEEL, WHEEL_BYTES)
    emulator.add_file("acme", "main", "Other.Lib", "other_lib-2.0.tar.gz", b"sdist")
    emulator.add_file("acme", "dev", "dev-only", "dev_only-0.1.tar.gz", b"dev")
    headers = basic("__token__", emulator.mint_access_token())

    root = emulator_client.get("/simple/acme/main", headers=headers)  # as rules_python asks

    assert root.status_code == 200
    hrefs = re.findall(r'<a href="([^"]+)">', root.text)
    paths = [httpx.URL(href).path for href in hrefs]
    assert paths == ["/simple/acme/main/demo-pkg/", "/simple/acme/main/other-lib/"]
    files = [emulator_client.get(href, headers=headers).text for href in hrefs]
    assert WHEEL in files[0]
    assert "other_lib-2.0.tar.gz" in files[1]


@pytest.mark.parametrize("path", ["/simple/acme/main/", "/simple/acme/main/demo-pkg/"])
@pytest.mark.parametrize("credential", ["none", "forged", "expired", "other-user", "api-key"])
def test_simple_root_and_project_refuse_the_same_credentials(
    emulator: PyxEmulator, emulator_client: httpx.Client, path: str, credential: str
) -> None:
    emulator.add_file("acme", "main", "demo-pkg", WHEEL, WHEEL_BYTES)
    with PyxEmulator() as other:
        forged = other.mint_access_token()
    headers = {
        "none": {},
        "forged": bearer(forged),
        "expired": bearer(emulator.mint_access_token(lifetime=-10)),
        "other-user": basic("alice", emulator.mint_access_token()),
        "api-key": basic("__token__", KEY),
    }[credential]

    response = emulator_client.get(path, headers=headers)

    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Basic realm="pyx"'


# -- GET /files/{workspace}/{view}/{filename} ------------------------------------------------------


def test_files_download_bytes_match(emulator: PyxEmulator, emulator_client: httpx.Client) -> None:
    emulator.add_file("acme", "main", "demo-pkg", WHEEL, WHEEL_BYTES)
    headers = bearer(emulator.mint_access_token())
    page = emulator_client.get("/simple/acme/main/demo-pkg/", headers=headers).text
    href = re.search(r'href="([^"#]+)#sha256=([0-9a-f]{64})"', page)
    assert href is not None

    response = emulator_client.get(href[1], headers=headers)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.content == WHEEL_BYTES
    assert hashlib.sha256(response.content).hexdigest() == href[2]


def test_files_no_auth_401(emulator: PyxEmulator, emulator_client: httpx.Client) -> None:
    emulator.add_file("acme", "main", "demo-pkg", WHEEL, WHEEL_BYTES)

    response = emulator_client.get(f"/files/acme/main/{WHEEL}")

    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Basic realm="pyx"'


def test_files_basic_token_user_200(emulator: PyxEmulator, emulator_client: httpx.Client) -> None:
    emulator.add_file("acme", "main", "demo-pkg", WHEEL, WHEEL_BYTES)

    response = emulator_client.get(
        f"/files/acme/main/{WHEEL}", headers=basic("__token__", emulator.mint_access_token())
    )

    assert response.content == WHEEL_BYTES


def test_files_unknown_file_404(emulator: PyxEmulator, emulator_client: httpx.Client) -> None:
    response = emulator_client.get(
        "/files/acme/main/nope-1.0.tar.gz", headers=bearer(emulator.mint_access_token())
    )

    assert_problem(response, 404)


# -- control: /_emulator/files ---------------------------------------------------------------------


def test_control_files_publishes_file(emulator: PyxEmulator, emulator_client: httpx.Client) -> None:
    response = emulator_client.put(
        f"/_emulator/files/acme/main/demo-pkg/{WHEEL}", content=WHEEL_BYTES
    )
    assert response.status_code == 200

    download = emulator_client.get(
        f"/files/acme/main/{WHEEL}", headers=bearer(emulator.mint_access_token())
    )

    assert download.content == WHEEL_BYTES
