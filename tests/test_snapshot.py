"""The snapshot writer: what the Bazel stub may repeat, and the file it is kept in.

``tests/test_stub_fast_path.py`` runs the stub against snapshots the real ``get`` wrote; here
the writer's own promises are stated one by one, in-process: the stub's hash and folder rules
agree with the writer's, the store conditions name the folders that chose the store, only
the hosts ``get`` gives the token to are listed, an answer that would change before the stub
stops serving it is never offered, and a file is rewritten unless it is exactly ours.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
from test_stub_fast_path import API_KEY, STUB, fake_jwt

from pyx_auth import snapshot
from pyx_auth.protocol import bearer_answer
from pyx_auth.settings import Settings
from pyx_auth.sources.base import Token
from pyx_auth.store import TOKENS_FILE, api_key_file, store_directory

NOW = 1_900_000_000
HOUR = 3600
HOME_ROOT = "/h/.local/share/pyx/credentials"


def stub_fnv1a(texts: list[str]) -> list[str]:
    """The stub's own ``fnv1a`` (bash arithmetic), taken from the stub file and run by bash."""
    function = re.search(r"^fnv1a\(\) \{\n.*?^\}\n", STUB.read_text(), re.M | re.S)
    assert function is not None
    script = function.group(0) + 'for text; do fnv1a "$text"; echo "$fnv"; done'
    result = subprocess.run(
        ["bash", "-c", script, "fnv", *texts], capture_output=True, text=True, check=True
    )
    return result.stdout.splitlines()


# hashes on both sides of 2**63 (printed negative by the stub) and in [2**62, 2**63)
FNV_SAMPLES = ["", "a", "sk-pyx-fast-path", "sk-other", "x" * 40, "0123456789abcdef", "pyx"]


def test_api_key_hash_is_the_stubs_bash_arithmetic() -> None:
    values = [int(snapshot.fnv1a(text)) for text in FNV_SAMPLES]
    assert any(value < 0 for value in values)
    assert any(2**62 <= value < 2**63 for value in values)
    assert [snapshot.fnv1a(text) for text in FNV_SAMPLES] == stub_fnv1a(FNV_SAMPLES)


def test_fnv1a_is_the_published_64_bit_fnv1a() -> None:
    """The FNV test vectors (offset basis, "a", "foobar"), as signed decimals."""
    def signed(value: int) -> str:
        return str(value - 2**64 if value >= 2**63 else value)

    assert snapshot.fnv1a("") == signed(0xCBF29CE484222325)
    assert snapshot.fnv1a("a") == signed(0xAF63DC4C8601EC8C)
    assert snapshot.fnv1a("foobar") == signed(0x85944171F73967E8)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"PYX_CREDENTIALS_DIR": "/c", "HOME": "/h"}, "/c/pyx-auth-bazel.snapshot"),
        ({"PYX_CREDENTIALS_DIR": "c", "HOME": "/h"}, None),
        ({"PYX_CREDENTIALS_DIR": "", "HOME": "/h"}, None),
        ({"XDG_DATA_HOME": "/x", "HOME": "/h"}, "/x/pyx/credentials/pyx-auth-bazel.snapshot"),
        ({"XDG_DATA_HOME": "x", "HOME": "/h"}, f"{HOME_ROOT}/pyx-auth-bazel.snapshot"),
        ({"HOME": "/h"}, f"{HOME_ROOT}/pyx-auth-bazel.snapshot"),
        ({"HOME": "h"}, None),
        ({}, None),
    ],
)  # fmt: skip
def test_snapshot_path_follows_the_documented_order(
    environ: dict[str, str], expected: str | None
) -> None:
    """$PYX_CREDENTIALS_DIR, else an absolute $XDG_DATA_HOME, else an absolute $HOME: the
    stub computes the same from the environment alone, and a relative folder defers."""
    assert snapshot.snapshot_path(environ) == expected


def _login(environ: dict[str, str], token: str) -> None:
    store = Path(store_directory(Settings(environ)))
    store.mkdir(parents=True, exist_ok=True)
    login = {"access_token": token, "refresh_token": "r-1"}
    (store / TOKENS_FILE).write_text(json.dumps(login, separators=(",", ":")))


def offered(
    environ: dict[str, str], source: str, exp: int | None = NOW + HOUR, margin: float = 300
) -> str | None:
    """``render`` for a token from ``source`` (expiring at ``exp``), answered at ``NOW``."""
    settings = Settings(environ)
    value = fake_jwt(exp)
    token = Token(value, source)
    text = bearer_answer(value, token.expires_at, with_expires=not settings.no_expires, now=NOW)
    return snapshot.render(settings, token, margin, text, NOW)


def lines_of(content: str | None) -> list[str]:
    assert content is not None, "no snapshot offered"
    return content.splitlines()


def test_an_env_token_snapshot_has_every_condition_and_ends_with_end(tmp_path: Path) -> None:
    environ = {"HOME": str(tmp_path), "PYX_AUTH_TOKEN": fake_jwt(NOW + HOUR)}
    lines = lines_of(offered(environ, "PYX_AUTH_TOKEN"))
    assert lines[:2] == [snapshot.FORMAT, str(NOW + HOUR - 300)]
    assert lines[-1] == "end"
    assert f"HOME ={tmp_path}" in lines and "PYX_API_KEY -" in lines
    assert not any(line.startswith(("dir ", "nodir ", "same ", "login ")) for line in lines)


def test_an_api_key_is_kept_only_as_its_hash(tmp_path: Path) -> None:
    environ = {"HOME": str(tmp_path), "PYX_CREDENTIALS_DIR": str(tmp_path / "c"),
               "PYX_API_KEY": API_KEY}  # fmt: skip
    content = offered(environ, "PYX_API_KEY")
    assert content is not None and API_KEY not in content
    lines = content.splitlines()
    assert f"PYX_API_KEY #{snapshot.fnv1a(API_KEY)}" in lines
    store = store_directory(Settings(environ))
    assert f"same {store}/{api_key_file(API_KEY)}" in lines


def test_a_login_snapshot_names_the_folders_that_chose_the_store(tmp_path: Path) -> None:
    """Without $PYX_CREDENTIALS_DIR, uv's legacy folders decide where the store is: the
    snapshot says which existed, so the stub defers once one appears or goes."""
    environ = {"HOME": str(tmp_path / "home"), "XDG_DATA_HOME": str(tmp_path / "data")}
    _login(environ, fake_jwt(NOW + HOUR))
    digest = os.path.basename(store_directory(Settings(environ)))
    mac = f"{tmp_path}/home/Library/Application Support/uv"
    legacy = f"{tmp_path}/data/uv/credentials/{digest}"
    store = f"{tmp_path}/data/pyx/credentials/{digest}"
    lines = lines_of(offered(environ, "uv login"))
    assert [line for line in lines if line.startswith(("dir ", "nodir ", "absent ", "login "))] == [
        f"nodir {mac}",
        f"nodir {legacy}",
        f"absent {store}/{snapshot.KEYRING_MARKER}",
        f"login {store}/{TOKENS_FILE}",
    ]
    os.makedirs(mac)  # uv's macOS folder now holds its state
    mac_legacy = f"{mac}/credentials/{digest}"
    assert f"dir {mac}" in lines_of(offered(environ, "uv login"))
    assert f"nodir {mac_legacy}" in lines_of(offered(environ, "uv login"))


def test_a_login_snapshot_under_uv_credentials_dir(tmp_path: Path) -> None:
    environ = {"HOME": str(tmp_path), "UV_CREDENTIALS_DIR": str(tmp_path / "uv-creds")}
    digest = os.path.basename(store_directory(Settings(environ)))
    os.makedirs(tmp_path / "uv-creds" / digest)
    _login(environ, fake_jwt(NOW + HOUR))
    lines = lines_of(offered(environ, "uv login"))
    assert f"dir {tmp_path}/uv-creds/{digest}" in lines
    assert f"login {tmp_path}/uv-creds/{digest}/{TOKENS_FILE}" in lines


def test_no_folder_lines_under_pyx_credentials_dir(tmp_path: Path) -> None:
    environ = {"HOME": str(tmp_path), "PYX_CREDENTIALS_DIR": str(tmp_path / "c")}
    _login(environ, fake_jwt(NOW + HOUR))
    lines = lines_of(offered(environ, "uv login"))
    assert not any(line.startswith(("dir ", "nodir ")) for line in lines)


@pytest.mark.parametrize(
    "extra",
    [
        {"UV_CREDENTIALS_DIR": "relative"},
        {"PYX_CREDENTIALS_DIR": "relative"},
        {"HOME": "relative"},
    ],
)
def test_no_snapshot_where_python_would_resolve_a_folder_against_the_cwd(
    tmp_path: Path, extra: dict[str, str]
) -> None:
    environ = {"HOME": str(tmp_path), **extra}
    assert offered(environ, "uv login") is None
    assert offered({**environ, "PYX_API_KEY": API_KEY}, "PYX_API_KEY") is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("UV_AUTH_TOKEN", "t"),  # secrets that are not the answer's
        ("UV_API_KEY", "sk-old"),
        ("PYX_OIDC_TOKEN", "x"),
        ("HOME", "/home/caf\u00e9"),  # printable, not ASCII: the stub compares bytes
        ("HOME", "/home/a\tb"),  # ASCII, not printable: no line of its own
    ],
)
def test_no_snapshot_with_a_variable_the_stub_must_not_see_or_cannot_read(
    tmp_path: Path, name: str, value: str
) -> None:
    environ = {"HOME": str(tmp_path), "PYX_AUTH_TOKEN": fake_jwt(NOW + HOUR)}
    assert offered(environ, "PYX_AUTH_TOKEN") is not None
    assert offered({**environ, name: value}, "PYX_AUTH_TOKEN") is None


def hosts_of(environ: dict[str, str]) -> list[str]:
    lines = lines_of(offered(environ, "PYX_AUTH_TOKEN"))
    return [line for line in lines if line.startswith(("host ", "suffix "))]


@pytest.mark.parametrize(
    ("api", "expected"),
    [
        (None, ["host api.pyx.dev", "host pyx.dev", "host api-static.pyx.dev",
                "suffix astralhosted.com"]),
        ("https://api.other.example", ["host api.other.example", "host other.example",
                                       "suffix astralhosted.com"]),
        # the API on another port: its parent's https hosts on 443 only
        ("https://api.other.example:8443", ["host other.example", "suffix astralhosted.com"]),
        ("http://127.0.0.1:9", ["suffix astralhosted.com"]),  # not https
        ("https://pyx.example", ["host pyx.example", "suffix astralhosted.com"]),
    ],
)  # fmt: skip
def test_hosts_are_those_get_gives_the_token_to_over_https_on_443(
    tmp_path: Path, api: str | None, expected: list[str]
) -> None:
    environ = {"HOME": str(tmp_path), "PYX_AUTH_TOKEN": fake_jwt(NOW + HOUR)}
    if api is not None:
        environ["PYX_API_URL"] = api
    assert hosts_of(environ) == expected


def test_a_cdn_the_stub_cannot_compare_is_not_listed(tmp_path: Path) -> None:
    environ = {"HOME": str(tmp_path), "PYX_AUTH_TOKEN": fake_jwt(NOW + HOUR)}
    assert hosts_of({**environ, "PYX_CDN_DOMAIN": "cdn.example"})[-1] == "suffix cdn.example"
    unusual = hosts_of({**environ, "PYX_CDN_DOMAIN": "c_d.example"})
    assert not any(line.startswith("suffix") for line in unusual)


@pytest.mark.parametrize(
    ("exp", "margin", "why"),
    [
        (None, 300, "no exp: get refreshes it every time"),
        (NOW + 299, 300, "already within the refresh margin"),
        (NOW + 2 * 365 * 24 * HOUR, 300, "expires is capped a year from now: it moves"),
    ],
)
def test_no_snapshot_for_an_answer_get_would_not_repeat(
    tmp_path: Path, exp: int | None, margin: float, why: str
) -> None:
    environ = {"HOME": str(tmp_path), "PYX_AUTH_TOKEN": fake_jwt(exp)}
    assert offered(environ, "PYX_AUTH_TOKEN", exp, margin) is None, why


def test_the_snapshot_is_offered_only_if_the_answer_holds_to_its_last_second(
    tmp_path: Path,
) -> None:
    """The stub serves while ``now < until``; at ``until - 1`` the answer must still be
    today's. With no margin, ``expires`` (``exp`` - 60 s, never past ``exp``) moves every
    second in the last minute; with a 60 s margin it holds until exactly ``until``."""
    environ = {"HOME": str(tmp_path), "PYX_AUTH_TOKEN": fake_jwt(NOW + 2)}
    assert offered(environ, "PYX_AUTH_TOKEN", NOW + 2, 0) is None
    environ["PYX_AUTH_TOKEN"] = fake_jwt(NOW + 100)
    lines = lines_of(offered(environ, "PYX_AUTH_TOKEN", NOW + 100, 60))
    assert lines[1] == str(NOW + 40)
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW + 40))
    assert lines[2].endswith(f'"expires":"{expires}"}}')


def test_no_snapshot_while_a_deprecation_warning_is_due(tmp_path: Path) -> None:
    """The stub prints nothing on stderr: an answer that comes with a warning is Python's."""
    environ = {"HOME": str(tmp_path), "UV_AUTH_TOKEN": fake_jwt(NOW + HOUR)}
    assert Settings(environ).warnings
    assert offered(environ, "UV_AUTH_TOKEN") is None


@pytest.mark.parametrize(
    "value",
    ['a"b.c.d', "a*b.c.d", "a\\b.c.d"],  # a JSON escape, a shell pattern
)
def test_no_snapshot_for_a_token_the_stub_cannot_compare(tmp_path: Path, value: str) -> None:
    settings = Settings({"HOME": str(tmp_path), "PYX_AUTH_TOKEN": value})
    token = Token(value, "PYX_AUTH_TOKEN", expires=NOW + HOUR)
    text = bearer_answer(value, NOW + HOUR, with_expires=True, now=NOW)
    assert snapshot.render(settings, token, 300, text, NOW) is None


def test_no_snapshot_for_an_answer_with_a_newline(tmp_path: Path) -> None:
    value = fake_jwt(NOW + HOUR)
    settings = Settings({"HOME": str(tmp_path), "PYX_AUTH_TOKEN": value})
    token = Token(value, "PYX_AUTH_TOKEN")
    text = bearer_answer(value, token.expires_at, with_expires=True, now=NOW)
    assert snapshot.render(settings, token, 300, text, NOW) is not None
    assert snapshot.render(settings, token, 300, text + "\n", NOW) is None
    assert snapshot.render(settings, token, 300, text.replace("{", "{\n", 1), NOW) is None


# -- the file -------------------------------------------------------------------------------


def _identity(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_ino, info.st_mtime_ns


def test_the_same_snapshot_is_not_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "creds" / snapshot.FILE_NAME
    snapshot._write(str(path), b"content\n")
    assert path.read_bytes() == b"content\n"
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    before = _identity(path)
    snapshot._write(str(path), b"content\n")
    assert _identity(path) == before


@pytest.mark.parametrize("mode", [0o644, 0o601, 0o640, 0o700, 0o400])
def test_a_snapshot_with_another_mode_is_replaced_by_a_0600_one(tmp_path: Path, mode: int) -> None:
    path = tmp_path / snapshot.FILE_NAME
    path.write_bytes(b"content\n")
    path.chmod(mode)
    snapshot._write(str(path), b"content\n")
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_bytes() == b"content\n"


@pytest.mark.parametrize("old", [b"content\nmore", b"content", b"", b"Content\n"])
def test_a_snapshot_with_other_bytes_is_replaced(tmp_path: Path, old: bytes) -> None:
    path = tmp_path / snapshot.FILE_NAME
    path.write_bytes(old)
    path.chmod(0o600)
    snapshot._write(str(path), b"content\n")
    assert path.read_bytes() == b"content\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file away needs root")
def test_a_snapshot_someone_else_owns_is_replaced_by_ours(tmp_path: Path) -> None:
    path = tmp_path / snapshot.FILE_NAME
    path.write_bytes(b"content\n")
    path.chmod(0o600)
    os.chown(path, 12345, 12345)
    snapshot._write(str(path), b"content\n")
    assert path.stat().st_uid == os.geteuid()
