"""The emulator's upload endpoint, ``POST /v1/upload/{workspace}/{view}/``: the legacy PyPI upload
API, driven by real twine (as a user publishes to pyx) and by hand for the refusals."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest

from conftest import REQUIRE_TOOLS
from emulator_http import KEY, assert_problem, basic, bearer
from pyx_auth.emulator import PyxEmulator

UPLOAD = "/v1/upload/acme/main/"
WHEEL = "demo_pkg-1.0-py3-none-any.whl"


def build_wheel(folder: Path, payload: str = "VALUE = 1\n") -> Path:
    """A minimal but valid wheel of ``demo-pkg`` 1.0 (twine reads its METADATA)."""
    wheel = folder / WHEEL
    info = "demo_pkg-1.0.dist-info"
    files = {
        "demo_pkg/__init__.py": payload,
        f"{info}/METADATA": "Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0\n"
        "Summary: a wheel for the upload test\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in {**files, f"{info}/RECORD": record}.items():
            archive.writestr(name, text)
    return wheel


def twine(emulator: PyxEmulator, password: str, *args: str) -> subprocess.CompletedProcess[str]:
    if importlib.util.find_spec("twine") is None:
        if REQUIRE_TOOLS:
            pytest.fail("twine is not installed (it is in the test extra)")
        pytest.skip("twine is not installed (pip install -e '.[test]')")
    env = {**os.environ, "TWINE_USERNAME": "__token__", "TWINE_PASSWORD": password}
    url = f"{emulator.url}{UPLOAD}"
    options = ["--non-interactive", "--disable-progress-bar", "--repository-url", url]
    return subprocess.run(
        [sys.executable, "-m", "twine", "upload", *options, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def form(wheel: bytes, **fields: str) -> dict[str, str]:
    return {
        ":action": "file_upload",
        "protocol_version": "1",
        "name": "demo-pkg",
        "version": "1.0",
        "sha256_digest": hashlib.sha256(wheel).hexdigest(),
        **fields,
    }


# -- twine ---------------------------------------------------------------------------------------


def test_twine_upload_with_token_publishes_to_the_index(
    emulator: PyxEmulator, emulator_client: httpx.Client, tmp_path: Path
) -> None:
    wheel = build_wheel(tmp_path)
    token = emulator.mint_access_token()

    result = twine(emulator, token, str(wheel))

    assert result.returncode == 0, result.stdout + result.stderr
    assert emulator.counts()["upload"] == 1
    headers = bearer(token)
    page = emulator_client.get("/simple/acme/main/demo-pkg/", headers=headers)
    assert WHEEL in page.text
    download = emulator_client.get(f"/files/acme/main/{WHEEL}", headers=headers)
    assert download.content == wheel.read_bytes()
    root = emulator_client.get("/simple/acme/main/", headers=headers)
    assert "/simple/acme/main/demo-pkg/" in root.text


def test_twine_upload_with_forged_token_fails_403_and_stores_nothing(
    emulator: PyxEmulator, emulator_client: httpx.Client, tmp_path: Path
) -> None:
    with PyxEmulator() as other:
        forged = other.mint_access_token()

    result = twine(emulator, forged, str(build_wheel(tmp_path)))

    assert result.returncode != 0
    assert "403" in result.stdout + result.stderr
    page = emulator_client.get("/simple/acme/main/", headers=bearer(emulator.mint_access_token()))
    assert "demo-pkg" not in page.text


def test_twine_reupload_of_other_bytes_under_the_same_name_fails_409(
    emulator: PyxEmulator, emulator_client: httpx.Client, tmp_path: Path
) -> None:
    token = emulator.mint_access_token()
    first = build_wheel(tmp_path)
    assert twine(emulator, token, str(first)).returncode == 0
    original = first.read_bytes()

    result = twine(emulator, token, str(build_wheel(tmp_path, payload="VALUE = 2\n")))

    assert result.returncode != 0
    assert "409" in result.stdout + result.stderr
    download = emulator_client.get(f"/files/acme/main/{WHEEL}", headers=bearer(token))
    assert download.content == original


# -- by hand: what twine cannot be made to send --------------------------------------------------


def post_upload(
    client: httpx.Client, headers: dict[str, str], fields: dict[str, str], content: bytes
) -> httpx.Response:
    files = {"content": (WHEEL, content, "application/octet-stream")}
    return client.post(UPLOAD, headers=headers, data=fields, files=files)


def test_upload_bearer_token_accepted_and_bytes_kept_exactly(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    content = bytes(range(256)) * 4 + b"\r\n--tail\r\n"  # binary, CRLFs, a boundary-like line
    token = emulator.mint_access_token()

    response = post_upload(emulator_client, bearer(token), form(content), content)

    assert response.status_code == 200
    download = emulator_client.get(f"/files/acme/main/{WHEEL}", headers=bearer(token))
    assert download.content == content


def test_upload_without_credentials_401_basic_challenge(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    response = post_upload(emulator_client, {}, form(b"x"), b"x")

    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Basic realm="pyx"'


@pytest.mark.parametrize("credential", ["expired", "other-user", "api-key", "trusted-access"])
def test_upload_with_a_token_that_may_not_publish_403(
    emulator: PyxEmulator, emulator_client: httpx.Client, credential: str
) -> None:
    headers = {
        "expired": basic("__token__", emulator.mint_access_token(lifetime=-10)),
        "other-user": basic("alice", emulator.mint_access_token()),
        "api-key": basic("__token__", KEY),
        "trusted-access": bearer(emulator.mint_access_token("trusted-access:acme:repo:acme/x")),
    }[credential]

    assert_problem(post_upload(emulator_client, headers, form(b"x"), b"x"), 403)
    assert emulator.counts()["upload"] == 1


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        ({":action": "submit"}, "file_upload"),
        ({"name": ""}, "'name'"),
        ({"sha256_digest": "0" * 64}, "sha256_digest"),
        ({"blake2_256_digest": "0" * 64}, "blake2_256_digest"),
        ({"md5_digest": "0" * 32}, "md5_digest"),
    ],
    ids=["action", "no-name", "sha256", "blake2", "md5"],
)
def test_upload_bad_form_400(
    emulator: PyxEmulator, emulator_client: httpx.Client, fields: dict[str, str], detail: str
) -> None:
    headers = bearer(emulator.mint_access_token())

    response = post_upload(emulator_client, headers, form(b"wheel", **fields), b"wheel")

    assert_problem(response, 400)
    assert detail in response.json()["detail"]


def test_upload_matching_digests_of_every_kind_accepted(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    content = b"wheel bytes"
    fields = form(
        content,
        md5_digest=hashlib.md5(content).hexdigest(),
        blake2_256_digest=hashlib.blake2b(content, digest_size=32).hexdigest(),
    )

    response = post_upload(emulator_client, bearer(emulator.mint_access_token()), fields, content)

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"name": "demo-pkg"}'),
        ("multipart/form-data", b"--x\r\n\r\n--x--\r\n"),  # no boundary parameter
        ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data"),
        ("multipart/form-data; boundary=x", b"--x\r\n\r\nno name\r\n--x--\r\n"),
    ],
    ids=["not-multipart", "no-boundary", "truncated", "no-field-name"],
)
def test_upload_not_a_form_400(
    emulator: PyxEmulator, emulator_client: httpx.Client, content_type: str, body: bytes
) -> None:
    headers = {**bearer(emulator.mint_access_token()), "Content-Type": content_type}

    assert_problem(emulator_client.post(UPLOAD, headers=headers, content=body), 400)


def test_upload_without_content_part_400(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    headers = bearer(emulator.mint_access_token())
    response = emulator_client.post(UPLOAD, headers=headers, files={"name": (None, "demo-pkg")})

    assert_problem(response, 400)


def test_upload_same_name_same_bytes_200_other_bytes_409(
    emulator: PyxEmulator, emulator_client: httpx.Client
) -> None:
    headers = bearer(emulator.mint_access_token())
    assert post_upload(emulator_client, headers, form(b"one"), b"one").status_code == 200

    assert post_upload(emulator_client, headers, form(b"one"), b"one").status_code == 200
    assert_problem(post_upload(emulator_client, headers, form(b"two"), b"two"), 409)
