"""uv's ``credentials.toml``: found where uv 0.12.6 looks, read as strictly, matched the same way.

The matching rows mirror uv's own unit tests (``crates/uv-auth/src/store.rs`` and
``matching.rs``); the location rows are checked against the real ``uv auth dir``. End-to-end
parity on URIs is in ``test_uv_parity.py``.
"""

from __future__ import annotations

import base64
import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pyx_auth.credential_helper import answer, answer_offline
from pyx_auth.errors import ConfigError, PyxAuthError, StoreError, UsageError
from pyx_auth.protocol import absolute_uri
from pyx_auth.settings import Settings
from pyx_auth.uv_credentials import Credential, Url, authorization, credentials_file, parse, select

A = '[[credential]]\nservice = "https://a.example"\n'
"""The start of an entry for ``https://a.example``."""


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _entry(service: str, user: str | None, password: str = "p") -> Credential:
    header = "Bearer t" if user is None else _basic(user, password)
    return Credential(Url(service), user, header)


def _pick(entries: list[Credential], url: str) -> str | None:
    chosen = select(entries, Url(url))
    return None if chosen is None else chosen.header


# -- where the file is --------------------------------------------------------------------


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"UV_CREDENTIALS_DIR": "/somewhere/creds"},
        {"UV_CREDENTIALS_DIR": ""},
        {"UV_CREDENTIALS_DIR": "relative/creds"},
        {"XDG_DATA_HOME": "/xdg"},
        {"XDG_DATA_HOME": "relative-xdg"},
    ],
    ids=["default", "uv-credentials-dir", "empty-is-unset", "relative", "xdg", "relative-xdg"],
)
def test_credentials_file_is_where_uv_auth_dir_points(
    env: dict[str, str], clean_environ: Path, uv: str
) -> None:
    full_env = {"HOME": str(clean_environ), "PATH": os.environ["PATH"], **env}
    uv_dir = subprocess.run(
        [uv, "auth", "dir"], env=full_env, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert credentials_file(full_env) == os.path.join(uv_dir, "credentials.toml")


# -- reading it as strictly as uv ---------------------------------------------------------


def test_parse_reads_what_uv_auth_login_writes(tmp_path: Path, uv: str) -> None:
    env = {"HOME": str(tmp_path), "UV_CREDENTIALS_DIR": str(tmp_path / "c"), "PATH": "/usr/bin"}
    for argv in (
        ["https://example.com", "--username", "u", "--password", "p"],
        ["https://example.com/api", "--username", "u2", "--password", "p2"],
        ["https://tok.example", "--token", "tk"],
    ):
        subprocess.run([uv, "auth", "login", *argv], env=env, capture_output=True, check=True)
    entries = parse((tmp_path / "c" / "credentials.toml").read_text())
    assert sorted((e.service.serialized, e.username, e.header) for e in entries) == [
        ("https://example.com/", "u", _basic("u", "p")),
        ("https://example.com/api", "u2", _basic("u2", "p2")),
        ("https://tok.example/", "__token__", _basic("__token__", "tk")),
    ]


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("this is = = not toml", "Invalid|Expected"),
        ("credential = 5", "array of tables"),
        ('[credential]\nservice = "https://a.example"\nusername = "u"', "array of tables"),
        ('[[credential]]\nusername = "u"', "`service` is missing"),
        ("[[credential]]\nservice = 5", "`service` must be a string"),
        ('[[credential]]\nservice = "a.example/x"\nusername = "u"', "`service` cannot be used"),
        ('[[credential]]\nservice = "https://"\nusername = "u"', "`service` cannot be used"),
        (A, "`username` is required"),
        (
            A + 'username = "u"\ntoken = "t"',
            "`token` cannot",
        ),
        (
            A + 'scheme = "bearer"\nusername = ""\ntoken = "t"',
            "`username` cannot",
        ),
        (
            A + 'scheme = "bearer"\npassword = "p"\ntoken = "t"',
            "`password` cannot",
        ),
        (A + 'scheme = "bearer"', "`token` is required"),
        (
            A + 'scheme = "Basic"\nusername = "u"',
            "`scheme`",
        ),
        (
            A + 'username = "u"\npassword = 5',
            "`password`",
        ),
        (
            A + 'scheme = "bearer"\ntoken = "t\\nx"',
            "not a valid HTTP header",
        ),
        (
            A + 'scheme = "bearer"\ntoken = "t\u00e4"',
            "not a valid HTTP header",
        ),
    ],
)
def test_parse_rejects_files_uv_rejects(toml: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse(toml)


@pytest.mark.parametrize(
    "toml",
    [
        "",
        "foo = 1",
        '[other]\na = 1\n[[credential]]\nservice = "https://a.example"\nusername = "u"',
    ],
)
def test_parse_accepts_files_uv_accepts(toml: str) -> None:
    parse(toml)


def test_parse_headers_as_uv_sends_them() -> None:
    entries = parse(
        "\ufeff"
        '[[credential]]\nservice = "https://a.example"\nusername = "u"\n'
        '[[credential]]\nservice = "https://b.example"\nusername = ""\npassword = "p"\n'
        '[[credential]]\nservice = "https://c.example"\n'
        'username = "\u00fcser"\npassword = "p\u00e4:ss"\n'
        '[[credential]]\nservice = "https://d.example"\nscheme = "bearer"\ntoken = "t k"\n'
        '[[credential]]\nservice = "https://e.example"\nusername = "u"\npassword = "old"\n'
        '[[credential]]\nservice = "https://e.example/"\nusername = "u"\npassword = "new"\n'
    )
    assert [e.header for e in entries] == [
        "Basic dTo=",
        "Basic OnA=",
        "Basic w7xzZXI6cMOkOnNz",
        "Bearer t k",
        "Basic dTpuZXc=",  # a later entry for the same service and user wins
    ]


# -- URLs as uv's parser normalises them ----------------------------------------------------


@pytest.mark.parametrize(
    ("url", "serialized"),
    [
        ("HTTPS://N.EXAMPLE", "https://n.example/"),
        ("https://n.example:443/a", "https://n.example/a"),
        ("https://n.example./a", "https://n.example./a"),
        ("https://n.example/x/../A/./y/", "https://n.example/A/y/"),
        ("https://n.example/%2e%2E/x/%2e", "https://n.example/x/"),
        ("https://n.example/\u00e9/a^b|c{d}", "https://n.example/%C3%A9/a^b|c%7Bd%7D"),
        ("https://n.example/a%7eb", "https://n.example/a%7eb"),
        ("https://n.example/p?x='1#f g", "https://n.example/p?x=%271#f%20g"),
        ("https://b\u00fccher.example/", "https://xn--bcher-kva.example/"),
        ("https://u:p@n.example/", "https://u:p@n.example/"),
        ("grpc://G.example:80/x", "grpc://G.example:80/x"),
        ("unix:/run/x.sock", "unix:/run/x.sock"),
        ("mailto:a b@c", "mailto:a b@c"),
    ],
)
def test_url_normalises_like_uv(url: str, serialized: str) -> None:
    assert Url(url).serialized == serialized


def test_url_username_is_percent_decoded_and_must_be_utf8() -> None:
    assert Url("https://%61%C3%BC:pw@n.example/").username == "a\u00fc"
    assert Url("https://:pw@n.example/").username is None
    with pytest.raises(ValueError, match="not UTF-8"):
        Url("https://%ff@n.example/")


# -- matching, as uv's unit tests pin it ----------------------------------------------------


def test_select_prefix_matching() -> None:
    entries = [_entry("https://example.com/api", "user")]
    for url in (
        "https://example.com/api",
        "https://example.com/api/v1",
        "https://example.com/api/v1/users",
    ):
        assert _pick(entries, url) == _basic("user", "p")
    for url in (
        "https://example.com/different",
        "https://example.com/ap",
        "https://example.com",
        "https://example.com/apiv1",
    ):
        assert _pick(entries, url) is None


def test_select_realm_matching() -> None:
    entries = [_entry("https://example.com", "user")]
    for url in ("https://example.com", "https://example.com/path", "https://example.com:443/path"):
        assert _pick(entries, url) is not None
    for url in (
        "http://example.com",
        "https://different.com",
        "https://example.com:8080",
        "https://example.com./",
    ):
        assert _pick(entries, url) is None


def test_select_most_specific_prefix_wins() -> None:
    entries = [
        _entry("https://example.com/api", "general"),
        _entry("https://example.com/api/v1", "specific"),
    ]
    assert _pick(entries, "https://example.com/api/v1/users") == _basic("specific", "p")
    assert _pick(entries, "https://example.com/api/v2") == _basic("general", "p")


def test_select_username_in_the_url_must_match() -> None:
    entries = [_entry("https://example.com", "user1")]
    assert _pick(entries, "https://user1@example.com") == _basic("user1", "p")
    assert _pick(entries, "https://user2@example.com") is None
    assert _pick(entries, "https://example.com") == _basic("user1", "p")


def test_select_username_falls_back_to_a_less_specific_prefix() -> None:
    entries = [
        _entry("https://example.com/api", "general_user"),
        _entry("https://example.com/api/v1", "specific_user"),
    ]
    url = "https://example.com/api/v1/users"
    assert _pick(entries, url.replace("//", "//specific_user@")) == _basic("specific_user", "p")
    assert _pick(entries, url.replace("//", "//general_user@")) == _basic("general_user", "p")
    assert _pick(entries, url) == _basic("specific_user", "p")


def test_select_equally_good_users_are_ambiguous() -> None:
    entries = [
        _entry("https://example.com/api", "first"),
        _entry("https://example.com/api", "second"),
    ]
    with pytest.raises(ConfigError, match="put the user name in the URL"):
        select(entries, Url("https://example.com/api/project"))
    assert _pick(entries, "https://second@example.com/api/project") == _basic("second", "p")


def test_select_less_specific_ambiguity_does_not_matter() -> None:
    entries = [
        _entry("https://example.com", "first"),
        _entry("https://example.com", "second"),
        _entry("https://example.com/api", "api"),
    ]
    assert _pick(entries, "https://example.com/api/project") == _basic("api", "p")


def test_select_exact_service_and_user_beat_a_tie() -> None:
    entries = [
        _entry("https://b.example/p?x=1", None),
        _entry("https://b.example/p", None),
        _entry("https://b.example/p", "u"),
    ]
    assert _pick(entries, "https://b.example/p?x=1") == "Bearer t"
    assert _pick(entries, "https://b.example/p") == "Bearer t"
    with pytest.raises(ConfigError):
        select(entries, Url("https://b.example/p?x=2"))
    assert _pick(entries, "https://u@b.example/p/x") == _basic("u", "p")


# -- the file on disk -----------------------------------------------------------------------


def _write(folder: Path, text: str) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "credentials.toml").write_text(text)
    return {"HOME": str(folder.parent), "UV_CREDENTIALS_DIR": str(folder)}


def test_authorization_without_a_file_is_none_and_never_loads_tomllib(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path), "UV_CREDENTIALS_DIR": str(tmp_path / "none")}
    code = (
        "import sys, os; from pyx_auth.uv_credentials import authorization;"
        "print(authorization('https://a.example/', os.environ, 1.0), 'tomllib' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["None", "False"]
    assert not (tmp_path / "none").exists()  # nothing created either


def test_authorization_reads_the_file_under_uvs_lock(tmp_path: Path) -> None:
    env = _write(
        tmp_path / "c",
        '[[credential]]\nservice = "https://a.example"\nusername = "u"\npassword = "p"',
    )
    assert authorization("https://a.example/x", env, 1.0) == _basic("u", "p")
    lock = os.open(tmp_path / "c" / "credentials.toml.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        started = time.monotonic()
        with pytest.raises(StoreError, match=r"credentials\.toml\.lock"):
            authorization("https://a.example/x", env, 0.3)
        assert 0.25 < time.monotonic() - started < 3
        started = time.monotonic()
        assert answer_offline(b'{"uri":"https://a.example/x"}', env) is None  # steps aside
        assert time.monotonic() - started < 2  # at once; the full path may wait 8 s
    finally:
        os.close(lock)


def test_authorization_names_the_file_it_cannot_use(tmp_path: Path) -> None:
    env = _write(tmp_path / "c", '[[credential]]\nservice = "https://x:secret@a.example"')
    with pytest.raises(StoreError) as caught:
        authorization("https://a.example/", env, 1.0)
    message = str(caught.value)
    assert str(tmp_path / "c" / "credentials.toml") in message and "fix it or remove it" in message
    assert "secret" not in message
    (tmp_path / "c" / "credentials.toml").write_bytes(b"\xff\xfe")
    with pytest.raises(StoreError, match="not UTF-8"):
        authorization("https://a.example/", env, 1.0)


def test_authorization_refuses_a_user_name_that_is_not_utf8(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not UTF-8"):
        authorization("https://%ff@a.example/", {"HOME": str(tmp_path)}, 1.0)


def _answered(uri: str, settings: Settings, *, offline: bool) -> str:
    try:
        request = absolute_uri(uri)
        assert request is not None, uri
        return str(answer(request, settings, offline=offline))
    except PyxAuthError as exc:
        return f"{type(exc).__name__}: {exc}"


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("https://a.example/x", "ConfigError: several users"),
        ("https://u@a.example/x", '{"headers":{"Authorization":["Basic dTpw"]}}'),
        ("https://other@a.example/x", '{"headers":{}}'),
        ("https://b.example/", '{"headers":{}}'),
        ("unix:/run/cache.sock", '{"headers":{}}'),
    ],
)
def test_answer_offline_and_online_agree_for_other_hosts(
    tmp_path: Path, uri: str, expected: str
) -> None:
    env = _write(tmp_path / "c", A + 'username = "u"\npassword = "p"\n' + A + 'username = "v"\n')
    settings = Settings(env)
    offline = _answered(uri, settings, offline=True)
    assert offline == _answered(uri, settings, offline=False)
    assert offline.startswith(expected)


def test_authorization_refuses_a_fifo_at_once_instead_of_hanging(tmp_path: Path) -> None:
    env = _write(tmp_path / "c", "")
    (tmp_path / "c" / "credentials.toml").unlink()
    os.mkfifo(tmp_path / "c" / "credentials.toml")  # no writer: a blocking open would hang
    started = time.monotonic()
    with pytest.raises(StoreError, match=r"credentials\.toml is not a regular file; remove it"):
        authorization("https://a.example/", env, 1.0)
    assert time.monotonic() - started < 2


def test_authorization_refuses_a_lock_file_that_is_a_fifo_or_a_dangling_link(
    tmp_path: Path,
) -> None:
    env = _write(tmp_path / "c", "")
    lock = tmp_path / "c" / "credentials.toml.lock"
    os.mkfifo(lock)
    with pytest.raises(StoreError, match="is not a regular file"):
        authorization("https://a.example/", env, 1.0)
    lock.unlink()
    lock.symlink_to(tmp_path / "target")
    with pytest.raises(StoreError, match="is a symbolic link"):
        authorization("https://a.example/", env, 1.0)
    assert not (tmp_path / "target").exists()
