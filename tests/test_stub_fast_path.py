"""The Bazel stub's fast path gives exactly ``pyx-auth get``'s verdicts, or defers to it.

Differential and property-based: hypothesis draws a credential source and store layout, a
snapshot written by the real Python path (``answer_offline``, in-process, as on a cache hit),
then changes to the store (rotated or logged out by real uv 0.12.6, corrupt, wrong mode, a
symlink, expired ...) and to the environment (each variable set, unset, empty, changed), and a
request (the host table, tricks, escapes, huge and malformed bytes). The stub then runs for
real (bash, one process) with ``PYX_AUTH_BIN`` set to a recorder, so every example ends one
of two ways:

- the stub deferred: the recorder got ``get`` and exactly the request bytes, so what Bazel
  sees is by construction what ``pyx-auth get`` says;
- the stub answered: stdout and exit status must equal ``pyx-auth get``'s cache-hit verdict,
  computed in-process by the same code the console script runs (``answer_offline``, then
  ``answer + "\\n"``, exit 0), at the time just before and just after the stub ran. Where that
  verdict is "not a cache hit", the stub must not have answered at all.

Mocked: nothing of pyx-auth; pyx itself is the emulator, used only to let uv rotate a login.
``PYX_AUTH_FAST_PATH_EXAMPLES`` sets the number of examples (5,000 by default, as in CI).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_uv_interop import _uv

from conftest import RunPyxAuth, pyx_auth_argv
from pyx_auth import snapshot
from pyx_auth.credential_helper import answer_offline
from pyx_auth.emulator import PyxEmulator
from pyx_auth.settings import Settings
from pyx_auth.store import TOKENS_FILE, api_key_file, store_directory

REPO = Path(__file__).resolve().parents[1]
STUB = REPO / "bazel" / "pyx-credential-helper"
EXAMPLES = int(os.environ.get("PYX_AUTH_FAST_PATH_EXAMPLES", "5000"))
API_KEY = "sk-pyx-fast-path"
DEFERRED = b"DEFERRED "


def fake_jwt(exp: int | None, salt: str = "") -> str:
    """A token with an ``exp`` claim; the cache hit only decodes it, as ``claims`` does."""
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    payload: dict[str, object] = {"sub": "user" + salt}
    if exp is not None:
        payload["exp"] = exp
    return f"{part({'alg': 'none'})}.{part(payload)}.sig{salt}"


@contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """``os.environ`` is exactly ``env`` inside (the CLI reads ``os.environ``)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def python_verdict(request: bytes, env: dict[str, str], at: float) -> tuple[bytes, int] | None:
    """``pyx-auth get``'s stdout and exit code when it is a cache hit at time ``at``, else None.

    Exactly ``cli._run``'s first branch: ``answer_offline``, then the line and exit 0.
    """
    with environment(env), mock.patch("time.time", return_value=at):
        text = answer_offline(request, env)
    return None if text is None else ((text + "\n").encode(), 0)


@pytest.fixture
def uv_states(tmp_path: Path, uv: str) -> dict[str, object]:
    """What real uv 0.12.6 writes: a rotated ``tokens.json`` and what ``uv auth logout`` leaves."""
    with PyxEmulator() as emulator:
        root = tmp_path / "uv-store"
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            "PYX_API_URL": emulator.url,
            "PYX_CREDENTIALS_DIR": str(root),
        }
        store = Path(store_directory(Settings(env)))
        store.mkdir(parents=True)
        access, refresh = emulator.issue_tokens()
        (store / TOKENS_FILE).write_text(
            json.dumps({"access_token": access, "refresh_token": refresh})
        )
        rotated = _uv(uv, "auth", "token", "pyx.dev", env=env)  # uv always refreshes here
        assert rotated.returncode == 0, rotated.stderr
        rotated_bytes = (store / TOKENS_FILE).read_bytes()
        assert json.loads(rotated_bytes)["refresh_token"] != refresh
        logout = _uv(uv, "auth", "logout", "pyx.dev", env=env)
        assert logout.returncode == 0, logout.stderr
        left = sorted(path.name for path in store.iterdir()) if store.exists() else None
    assert left is None or TOKENS_FILE not in left
    return {"rotated": rotated_bytes, "left_after_logout": left}


HOSTS = (
    "api.pyx.dev", "pyx.dev", "api-static.pyx.dev", "files.astralhosted.com", "astralhosted.com",
    "a.b.astralhosted.com", "badastralhosted.com", "pypi.org", "API.pyx.dev", "api.pyx.dev.",
    "foo.api.pyx.dev", "api.other.example", "other.example", "cdn.example", "files.cdn.example",
    "-.astralhosted.com", "..astralhosted.com", "127.0.0.1", "", "user@api.pyx.dev",
    "api.pyx.dev@evil.example", "api.pyx.dev:443", "api.pyx.dev:8443", "[::1]", "%61pi.pyx.dev",
)  # fmt: skip
SCHEMES = ("https", "https", "https", "http", "HTTPS", "ftp", "")
PATHS = st.one_of(
    st.sampled_from(("", "/", "/simple/acme/main/", "/simple/x/?a\\u003db", "/a b", '/"x',
                     "/\\\\", "/é", "/a#frag", "/?q", "/%2F", "/..", "/a\\u0000")),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30).map(lambda t: "/" + t),
    st.text(max_size=10),
)  # fmt: skip


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    """Bazel's exact form mostly, and everything around it."""
    uri = draw(st.sampled_from(SCHEMES)) + "://" + draw(st.sampled_from(HOSTS)) + draw(PATHS)
    form = draw(st.integers(0, 11))
    if form <= 5:
        return ('{"uri":"' + uri + '"}').encode("utf-8", "surrogatepass")
    wrapped = {
        6: '{"uri": "' + uri + '"}',
        7: '{"uri":"' + uri + '"}\n',
        8: '{"uri":"' + uri + '","x":1}',
        9: '{"uri":"https://pypi.org/","uri":"' + uri + '"}',
        10: " " + json.dumps({"uri": uri}),
        11: '{"uri":"' + uri + '"}' + "x" * draw(st.sampled_from((0, 4096, 70000))),
    }[form]
    data = wrapped.encode("utf-8", "surrogatepass")
    noise = draw(st.sampled_from((b"", b"\0", b"\xff", b"\0\0rest")))
    return data + noise if draw(st.booleans()) else noise + data


PYX_HOSTS = ("api.pyx.dev", "pyx.dev", "api-static.pyx.dev", "files.astralhosted.com",
             "astralhosted.com", "api.other.example", "other.example", "files.cdn.example")
SAFE_PATHS = st.text(st.sampled_from("abc/._-~%=+"), max_size=20).map(lambda t: "/" + t)


@st.composite
def likely_hits(draw: st.DrawFn) -> bytes:
    """Bazel's form for a pyx host the snapshot may list: where the stub answers itself."""
    uri = "https://" + draw(st.sampled_from(PYX_HOSTS)) + draw(SAFE_PATHS)
    return ('{"uri":"' + uri + '"}').encode()


VARIABLE_VALUES = (
    "", " ", "0", "1", "true", "false", "https://api.pyx.dev", "https://api.other.example",
    "http://127.0.0.1:9", "cdn.example", "/tmp", "relative", "5", "sk-other", "x\ny",
)  # fmt: skip
TTLS = (3600, 2200, 2102, 2099, 2000, 400, 302, 299, 120, 61, 59, 1, -5)
STORE_CHANGES = (
    "none", "none", "none", "rotated_by_uv", "uv_logout", "token_file_removed", "corrupt",
    "trailing_newline", "nul", "empty_refresh", "expired_rewrite", "keyring_marker",
    "snapshot_0644", "snapshot_symlink", "snapshot_truncated", "snapshot_chown", "snapshot_garbage",
    "legacy_dir_appears", "folder_symlink", "snapshot_removed",
)  # fmt: skip


WRITER_SETTINGS = {
    "PYX_API_URL": ("https://api.other.example", "https://api.pyx.dev/", "https://pyx.example/x/"),
    "PYX_CDN_DOMAIN": ("cdn.example", "ASTRALHOSTED.com"),
    "PYX_AUTH_NO_EXPIRES": ("1", "0", "true"),
    "PYX_AUTH_TIMEOUT": ("8",),
    "CI": ("true",),
    "GITHUB_ACTIONS": ("true",),
}
"""Valid settings the snapshot may be written under; the reader's changes are anything."""


class World:
    """One example's machine: a home, a store root, a credential; rebuilt for every example."""

    def __init__(self, base: Path, data: st.DataObject) -> None:
        draw = data.draw
        if base.exists():
            shutil.rmtree(base)
        self.home = base / "home"
        self.home.mkdir(parents=True)
        self.now = int(time.time())
        self.env = {"PATH": os.environ["PATH"], "HOME": str(self.home)}
        layout = draw(st.sampled_from(("pyx_dir", "xdg", "home", "legacy")))
        if layout == "pyx_dir":
            self.env["PYX_CREDENTIALS_DIR"] = str(base / "creds")
        elif layout == "xdg":
            self.env["XDG_DATA_HOME"] = str(base / "xdg")
        elif layout == "legacy":
            self.env["UV_CREDENTIALS_DIR"] = str(base / "uv-creds")
        for name, values in WRITER_SETTINGS.items():
            value = draw(st.sampled_from((None,) * 6 + values))
            if value is not None:
                self.env[name] = value
        self.source = draw(st.sampled_from(("env", "key", "login")))
        self.token = fake_jwt(self.now + draw(st.one_of(st.just(3600), st.sampled_from(TTLS))))
        if self.source == "env":
            self.env["PYX_AUTH_TOKEN"] = self.token
            return
        if layout == "legacy":
            os.makedirs(os.path.join(self.env["UV_CREDENTIALS_DIR"], os.path.basename(
                store_directory(Settings(self.env)))))  # fmt: skip
        self.store = Path(store_directory(Settings(self.env)))
        self.store.mkdir(parents=True, exist_ok=True)
        if self.source == "key":
            self.env["PYX_API_KEY"] = API_KEY
            self.token_file = self.store / api_key_file(API_KEY)
            self.token_file.write_text(self.token)
        else:
            self.token_file = self.store / TOKENS_FILE
            self.token_file.write_text(json.dumps(
                {"access_token": self.token, "refresh_token": "r-1"}, separators=(",", ":")))

    @classmethod
    def fixed(cls, base: Path, source: str) -> World:
        """A world with a fresh token from ``source`` in ``$PYX_CREDENTIALS_DIR``."""
        choices = iter(("pyx_dir", *(None,) * len(WRITER_SETTINGS), source, 3600))

        class Fixed:
            def draw(self, strategy: object) -> object:
                return next(choices)

        return cls(base, Fixed())  # type: ignore[arg-type]

    def snapshot_file(self) -> Path | None:
        path = snapshot.snapshot_path(self.env)
        return None if path is None else Path(path)

    def change_store(self, change: str, uv_states: dict[str, object]) -> None:
        """Apply one change to the store after the snapshot was written."""
        snap = self.snapshot_file()
        token_file: Path | None = getattr(self, "token_file", None)
        if change.startswith("snapshot_") or change == "folder_symlink":
            if snap is not None and snap.exists():
                _change_snapshot(change, snap)
            return
        if change == "keyring_marker" and self.source != "env":
            marker = '{"token_file":"0123456789abcdef.json"}'
            (self.store / snapshot.KEYRING_MARKER).write_text(marker)
        elif change == "legacy_dir_appears" and "UV_CREDENTIALS_DIR" not in self.env:
            digest = os.path.basename(store_directory(Settings(self.env)))
            os.makedirs(self.home / ".local" / "share" / "uv" / "credentials" / digest)
        if token_file is not None:
            self._change_token_file(change, token_file, uv_states)

    def _change_token_file(
        self, change: str, token_file: Path, uv_states: dict[str, object]
    ) -> None:
        if change == "rotated_by_uv" and self.source == "login":
            token_file.write_bytes(uv_states["rotated"])  # type: ignore[arg-type]
        elif change == "uv_logout" and self.source == "login":
            left = uv_states["left_after_logout"]  # exactly what real uv's logout left
            for path in self.store.iterdir():
                if left is None or path.name not in left:  # type: ignore[operator]
                    path.unlink()
            if left is None:
                self.store.rmdir()
        elif change == "token_file_removed":
            token_file.unlink()
        elif change == "corrupt":
            token_file.write_bytes(token_file.read_bytes()[:-3])
        elif change == "trailing_newline":
            token_file.write_bytes(token_file.read_bytes() + b"\n")
        elif change == "nul":
            token_file.write_bytes(token_file.read_bytes() + b"\0")
        elif change == "empty_refresh" and self.source == "login":
            token_file.write_text(json.dumps({"access_token": self.token, "refresh_token": ""}))
        elif change == "expired_rewrite":
            old = fake_jwt(self.now - 10, salt="x")
            token_file.write_text(token_file.read_text().replace(self.token, old))


def _change_snapshot(change: str, snap: Path) -> None:
    """Apply one change to the snapshot file or its folder."""
    if change == "snapshot_0644":
        snap.chmod(0o644)
    elif change == "snapshot_symlink":
        moved = snap.with_name("elsewhere")
        snap.rename(moved)
        snap.symlink_to(moved)
    elif change == "snapshot_truncated":
        snap.write_bytes(snap.read_bytes()[: -len(b"end\n")])
    elif change == "snapshot_chown":
        os.chown(snap, 12345, 12345)
    elif change == "snapshot_garbage":
        snap.write_bytes(snap.read_bytes().replace(b"\nend\n", b"\nhost x\nend\n"))
    elif change == "snapshot_removed":
        snap.unlink()
    else:  # the folder replaced by a symlink to it
        moved = snap.parent.with_name("moved-root")
        snap.parent.rename(moved)
        snap.parent.symlink_to(moved)


ENV_NAMES = (*snapshot.VARIABLES, "PYX_AUTH_NO_FAST_PATH", "UNRELATED")


@st.composite
def env_changes(draw: st.DrawFn) -> dict[str, str | None]:
    """Variables to set (a value) or unset (None) before the stub reads the snapshot."""
    if draw(st.integers(0, 2)):
        return {}
    names = draw(st.lists(st.sampled_from(ENV_NAMES), min_size=1, max_size=2))
    return {name: draw(st.sampled_from((None, *VARIABLE_VALUES))) for name in names}


def run_stub(request: bytes, env: dict[str, str], recorder: Path) -> tuple[bytes, int]:
    result = subprocess.run(
        [str(STUB), "get"],
        input=request,
        capture_output=True,
        env={**env, "PYX_AUTH_BIN": str(recorder)},
        timeout=30,
        check=False,
    )
    return result.stdout, result.returncode


@pytest.fixture
def recorder(tmp_path: Path) -> Path:
    """Stands in for pyx-auth behind the stub: says it was called, with which argv and bytes."""
    path = tmp_path / "recorder"
    path.write_text('#!/bin/sh\nprintf "DEFERRED %s|" "$*"\nexec cat\n')
    path.chmod(0o755)
    return path


@pytest.mark.timeout(1800)  # all examples in one test: ~1 min on a quiet 2-core machine
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                           HealthCheck.data_too_large],
)  # fmt: skip
@given(data=st.data())
def test_stub_answers_exactly_as_pyx_auth_get_or_defers(
    data: st.DataObject, tmp_path: Path, recorder: Path, uv_states: dict[str, object]
) -> None:
    world = World(tmp_path / "world", data)
    writer_uri = world.env.get("PYX_API_URL", "https://api.pyx.dev").rstrip("/")
    python_verdict(
        f'{{"uri":"{writer_uri}/simple/acme/"}}'.encode(), world.env, time.time()
    )
    change = data.draw(st.one_of(st.just("none"), st.sampled_from(STORE_CHANGES)))
    world.change_store(change, uv_states)
    env = dict(world.env)
    for name, value in data.draw(env_changes()).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    request = data.draw(st.one_of(likely_hits(), likely_hits(), st.one_of(
        requests(),
        st.sampled_from((b"https://api.pyx.dev/", b"", b"{}", b'{"uri":1}')),
        st.binary(max_size=64),
    )))  # half the requests could be hits; fmt: skip

    before = time.time()
    stdout, code = run_stub(request, env, recorder)
    after = time.time()

    if stdout.startswith(DEFERRED):
        event("stub deferred")  # see --hypothesis-show-statistics
        assert (stdout, code) == (DEFERRED + b"get|" + request, 0)
        return
    event("stub answered")
    verdicts = {python_verdict(request, env, before), python_verdict(request, env, after)}
    assert None not in verdicts, f"the stub answered where get has no cache hit: {stdout!r}"
    assert (stdout, code) in verdicts


def test_stub_and_writer_list_the_same_variables() -> None:
    text = STUB.read_text()
    listed = text.split("vars='", 1)[1].split("'", 1)[0].split()
    assert tuple(listed) == snapshot.VARIABLES
    from pyx_auth import settings as names

    read_by_python = {
        value
        for name, value in vars(names).items()
        if name.isupper() and isinstance(value, str) and value.isupper() and "_" in value
        and value == name
    }  # fmt: skip
    assert read_by_python <= set(snapshot.VARIABLES)


# -- the fast path for real: hits, no process started, concurrency, the off switch -------------


@pytest.fixture(params=["env", "key", "login"])
def hit_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """A fresh cached token for an https pyx API, from each source the snapshot covers."""
    token = fake_jwt(int(time.time()) + 3600)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path / "home"),
        "PYX_CREDENTIALS_DIR": str(tmp_path / "creds"),
    }
    if request.param == "env":
        return {**env, "PYX_AUTH_TOKEN": token}
    store = Path(store_directory(Settings(env)))
    store.mkdir(parents=True)
    if request.param == "key":
        (store / api_key_file(API_KEY)).write_text(token)
        return {**env, "PYX_API_KEY": API_KEY}
    (store / TOKENS_FILE).write_text(
        json.dumps({"access_token": token, "refresh_token": "r-1"}, separators=(",", ":"))
    )
    return env


def _pyx_auth_get(
    request: bytes, env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    argv = [*pyx_auth_argv(), "get"]
    return subprocess.run(argv, input=request, capture_output=True, env=env, cwd=cwd, check=False)


HIT = b'{"uri":"https://files.astralhosted.com/acme/demo-1.0-py3-none-any.whl"}'


def test_stub_answers_a_hit_itself_byte_for_byte(hit_env: dict[str, str], recorder: Path) -> None:
    python = _pyx_auth_get(HIT, hit_env)  # the real console script; writes the snapshot
    assert python.returncode == 0, python.stderr
    snap = Path(hit_env["PYX_CREDENTIALS_DIR"]) / snapshot.FILE_NAME
    assert snap.stat().st_mode & 0o777 == 0o600
    if "PYX_AUTH_TOKEN" in hit_env:  # no store before: the writer made the folder
        assert snap.parent.stat().st_mode & 0o777 == 0o700
    assert run_stub(HIT, hit_env, recorder) == (python.stdout, 0)  # not the recorder's
    no_expires = {**hit_env, "PYX_AUTH_NO_EXPIRES": "1"}
    assert run_stub(HIT, no_expires, recorder)[0].startswith(DEFERRED)  # another condition
    python = _pyx_auth_get(HIT, no_expires)
    assert b"expires" not in python.stdout
    assert run_stub(HIT, no_expires, recorder) == (python.stdout, 0)


def test_stub_off_switch_and_other_api(hit_env: dict[str, str], recorder: Path) -> None:
    assert _pyx_auth_get(HIT, hit_env).returncode == 0
    off = {**hit_env, "PYX_AUTH_NO_FAST_PATH": "1"}
    assert run_stub(HIT, off, recorder) == (DEFERRED + b"get|" + HIT, 0)
    other = {**hit_env, "PYX_API_URL": "https://api.other.example"}
    assert run_stub(HIT, other, recorder)[0].startswith(DEFERRED)


def test_a_hit_starts_no_process(
    hit_env: dict[str, str], recorder: Path, tmp_path: Path, require_tool: Callable[[str], str]
) -> None:
    strace = require_tool("strace")
    assert _pyx_auth_get(HIT, hit_env).returncode == 0
    log = tmp_path / "strace.log"
    result = subprocess.run(
        [strace, "-f", "-qq", "-e", "trace=execve,fork,vfork,clone,clone3", "-o", str(log),
         str(STUB), "get"],
        input=HIT, capture_output=True, env={**hit_env, "PYX_AUTH_BIN": str(recorder)},
        check=False,
    )  # fmt: skip
    assert result.returncode == 0 and result.stdout.startswith(b'{"headers"'), result.stdout
    calls = [line for line in log.read_text().splitlines() if "(" in line]
    assert len(calls) == 1 and "execve(" in calls[0] and str(STUB) in calls[0], calls


def test_64_parallel_calls_while_the_snapshot_is_rewritten(
    hit_env: dict[str, str], recorder: Path
) -> None:
    """Every answer is complete: the stub's own, or (deferred) the recorder's with all bytes.

    A thread runs the Python path's cache hit over and over under two environments whose
    snapshots differ (one more variable set), so the file really is replaced all the time.
    """
    expected = _pyx_auth_get(HIT, hit_env).stdout
    other = {**hit_env, "PYX_AUTH_TIMEOUT": "9"}
    stop = threading.Event()
    rewrites = [0]

    def rewrite() -> None:
        while not stop.is_set():
            for env in (other, hit_env):
                assert answer_offline(HIT, env) is not None
                rewrites[0] += 1

    writer = threading.Thread(target=rewrite)
    writer.start()
    answers: list[bytes] = []
    try:
        for _ in range(5):  # rounds of 64, until the stub has answered itself at least once
            answers += _parallel_calls(64, {**hit_env, "PYX_AUTH_BIN": str(recorder)})
            if expected in answers:
                break
    finally:
        stop.set()
        writer.join()
    assert rewrites[0] > 2
    assert set(answers) <= {expected, DEFERRED + b"get|" + HIT}
    assert expected in answers


def _parallel_calls(count: int, env: dict[str, str]) -> list[bytes]:
    """Start ``count`` stubs at once, then give each the request; their stdouts."""
    stubs = [
        subprocess.Popen([str(STUB), "get"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        for _ in range(count)
    ]
    for process in stubs:
        assert process.stdin is not None
        process.stdin.write(HIT)
        process.stdin.close()
    answers = []
    for process in stubs:
        assert process.stdout is not None
        with process.stdout:
            answers.append(process.stdout.read())
        assert process.wait() == 0
    return answers


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ({"UV_API_KEY": "sk-old"}, "a secret that is not the answer's"),
        ({"PYX_OIDC_TOKEN": "x"}, "an OIDC token"),
        ({"PYX_AUTH_NO_FAST_PATH": "1"}, "the fast path is off"),
        ({"PYX_CREDENTIALS_DIR": "relative/creds"}, "a folder relative to the cwd"),
        ({"PYX_CDN_DOMAIN": "cdn.example\u00a0"}, "a value the stub cannot compare"),
    ],
)
def test_no_snapshot_where_the_stub_could_not_repeat_the_answer(
    hit_env: dict[str, str], extra: dict[str, str], why: str, tmp_path: Path
) -> None:
    env = {**hit_env, **extra}
    if {"UV_API_KEY", "PYX_OIDC_TOKEN"} & set(extra) and "PYX_AUTH_TOKEN" not in env:
        env["PYX_AUTH_TOKEN"] = fake_jwt(int(time.time()) + 3600)  # keep the source in front
    answered = _pyx_auth_get(HIT, env, cwd=tmp_path)
    where = tmp_path / env["PYX_CREDENTIALS_DIR"] / snapshot.FILE_NAME  # relative: in the cwd
    assert not where.exists(), why
    if "PYX_CREDENTIALS_DIR" not in extra:
        assert answered.returncode == 0, answered.stderr


def test_no_snapshot_for_trusted_access_or_the_keyring(tmp_path: Path) -> None:
    """Their tokens come from sources the stub does not check; ``render`` refuses them."""
    env = {"HOME": str(tmp_path), "PYX_CREDENTIALS_DIR": str(tmp_path / "creds")}
    settings_ = Settings(env)
    for source in ("Trusted Access", "keyring API key"):
        token = mock.Mock(value=fake_jwt(int(time.time()) + 3600), source=source)
        token.expires_at = int(time.time()) + 3600
        token.fresh.return_value = True
        text = answer_offline(HIT, {**env, "PYX_AUTH_TOKEN": token.value})
        assert text is not None
        assert snapshot.render(settings_, token, 300, text, time.time()) is None


def test_a_failed_snapshot_write_changes_nothing(tmp_path: Path) -> None:
    token = fake_jwt(int(time.time()) + 3600)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYX_AUTH_TOKEN": token}
    fine = _pyx_auth_get(HIT, {**env, "PYX_CREDENTIALS_DIR": str(tmp_path / "creds")})
    (tmp_path / "a-file").write_text("not a folder")
    blocked = {**env, "PYX_CREDENTIALS_DIR": str(tmp_path / "a-file"), "PYX_AUTH_DEBUG": "1"}
    failed = _pyx_auth_get(HIT, blocked)
    assert (failed.stdout, failed.returncode) == (fine.stdout, 0)
    lines = failed.stderr.decode().splitlines()
    assert "pyx-auth: debug: Bazel snapshot not written (StoreError)" in lines
    assert all(line.startswith("pyx-auth: debug: ") for line in lines)


def test_pyx_auth_logout_removes_the_snapshot(
    run_pyx_auth: RunPyxAuth, pyx_env: dict[str, str]
) -> None:
    env = {**os.environ, "PYX_AUTH_TOKEN": fake_jwt(int(time.time()) + 3600)}
    env["PYX_API_URL"] = "https://api.pyx.dev"  # a host the snapshot can be for
    assert run_pyx_auth("get", input=HIT, env=env).returncode == 0
    path = snapshot.snapshot_path(env)
    assert path is not None and os.path.exists(path)
    result = run_pyx_auth("logout", env={**env, "PYX_API_URL": pyx_env["PYX_API_URL"]})
    assert result.returncode == 0, result.stderr
    assert not os.path.exists(path)


@pytest.mark.parametrize("change", sorted(set(STORE_CHANGES)))
@pytest.mark.parametrize("source", ["env", "key", "login"])
def test_every_store_change_for_every_source(
    source: str, change: str, tmp_path: Path, recorder: Path, uv_states: dict[str, object]
) -> None:
    """Each store change of the property test, for each source, without randomness."""
    world = World.fixed(tmp_path / "world", source)
    python_verdict(HIT, world.env, time.time())  # writes the snapshot
    snap = world.snapshot_file()
    assert snap is not None and snap.exists()
    world.change_store(change, uv_states)
    before = time.time()
    stdout, code = run_stub(HIT, world.env, recorder)
    verdicts = {python_verdict(HIT, world.env, before), python_verdict(HIT, world.env, time.time())}
    if stdout.startswith(DEFERRED):
        assert (stdout, code) == (DEFERRED + b"get|" + HIT, 0)
    else:
        assert None not in verdicts and (stdout, code) in verdicts, change
    if change == "none":
        assert not stdout.startswith(DEFERRED)  # the fast path is really taken
