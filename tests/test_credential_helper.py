"""``pyx-auth get`` as Bazel runs it, judged by Bazel's rules, against the emulator over HTTP.

Every call goes through ``tests/bazel_client.py``: argv ``[helper, "get"]``, the Gson request
without a newline on a closed stdin, a workspace as cwd, the caller's environment, a 10 s
timeout, output read only after exit (so a grandchild holding a pipe would hang the test).
The executable is the one under test (``conftest.pyx_auth_argv``), the frozen binary in CI's
second pass. The committed stub ``bazel/pyx-credential-helper`` is run for real, too.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pyx_auth
from bazel_client import (
    BAZEL_TIMEOUT,
    STRICT_EXPIRES,
    BazelClient,
    HelperError,
    gson_request,
    judge,
)
from conftest import EMULATOR_API_KEY, RunPyxAuth, pyx_auth_argv
from pyx_auth.commands.config import BAZEL_SCOPE
from pyx_auth.credential_helper import answer, answer_offline
from pyx_auth.emulator import PyxEmulator
from pyx_auth.protocol import parse_request
from pyx_auth.settings import Settings
from pyx_auth.store import Store, api_key_file

REPO = Path(__file__).resolve().parents[1]
STUB = REPO / "bazel" / "pyx-credential-helper"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    folder = tmp_path / "workspace"
    folder.mkdir()
    return folder


def _bazel(
    workspace: Path,
    helper: list[str] | None = None,
    *,
    timeout: float = BAZEL_TIMEOUT,
    honour_expires: bool = True,
) -> BazelClient:
    return BazelClient(
        pyx_auth_argv() if helper is None else helper,
        workspace=workspace,
        env=dict(os.environ),
        timeout=timeout,
        honour_expires=honour_expires,
    )


def _jwt(answer_header: str | None) -> str:
    assert answer_header is not None and answer_header.startswith("Bearer ")
    return answer_header.removeprefix("Bearer ")


def _exp(emulator: PyxEmulator, token: str) -> int:
    """The ``exp`` the emulator signed into ``token``, read with PyJWT (not pyx-auth's claims)."""
    verified = emulator.verify(token)
    assert verified is not None, "not a valid emulator token"
    return int(verified["exp"])


def _seed_api_key_token(token: str) -> None:
    Store.for_settings(Settings(os.environ)).write(api_key_file(EMULATOR_API_KEY), token)


# -- the answer for a pyx URI ---------------------------------------------------------------


def test_get_pyx_uri_answers_bearer_and_expires_a_minute_before_exp(
    api_key_env: dict[str, str], emulator: PyxEmulator, workspace: Path
) -> None:
    answer = _bazel(workspace).call(f"{emulator.url}/simple/acme/main/")
    token = _jwt(answer.authorization)
    exp = _exp(emulator, token)
    assert list(answer.headers) == ["Authorization"]
    raw = json.loads(answer.stdout)
    assert STRICT_EXPIRES.match(raw["expires"]) and raw["expires"].endswith("Z")
    assert answer.expires is not None
    assert answer.expires == dt.datetime.fromtimestamp(exp - 60, dt.UTC)
    assert answer.stdout.count("\n") == 1 and answer.stdout.endswith("}\n")
    assert answer.stderr == ""


def test_get_cache_hit_reuses_the_token_without_a_request(
    api_key_env: dict[str, str], emulator: PyxEmulator, workspace: Path
) -> None:
    client = _bazel(workspace)
    first = client.call(f"{emulator.url}/simple/acme/main/a/")
    second = client.call(f"{emulator.url}/simple/acme/main/b/")
    assert first.authorization == second.authorization
    assert emulator.counts()["access-token"] == 1


def test_get_same_token_for_api_static_parent_and_cdn_hosts(
    monkeypatch: pytest.MonkeyPatch, emulator: PyxEmulator, workspace: Path
) -> None:
    token = emulator.mint_access_token()
    monkeypatch.setenv("PYX_AUTH_TOKEN", token)
    client = _bazel(workspace)
    for uri in (
        "https://api.pyx.dev/simple/acme/main/",
        "https://api-static.pyx.dev/simple/acme/main/",
        "https://pyx.dev/",
        "https://files.astralhosted.com/acme/f-1.0-py3-none-any.whl?sig=a&exp=1",
        "https://astralhosted.com/x",
    ):
        assert client.call(uri).authorization == f"Bearer {token}", uri


def test_get_refreshes_a_token_with_less_than_the_margin_left(
    api_key_env: dict[str, str], emulator: PyxEmulator, workspace: Path
) -> None:
    stale = emulator.mint_access_token(subject="api-key", lifetime=240)
    _seed_api_key_token(stale)
    token = _jwt(_bazel(workspace).call(f"{emulator.url}/simple/acme/main/").authorization)
    assert token != stale
    assert _exp(emulator, token) - time.time() > 3000
    assert emulator.counts()["access-token"] == 1


def test_get_no_expires_leaves_it_out_and_hands_out_35_minute_tokens(
    api_key_env: dict[str, str],
    emulator: PyxEmulator,
    workspace: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYX_AUTH_NO_EXPIRES", "1")
    _seed_api_key_token(emulator.mint_access_token(subject="api-key", lifetime=20 * 60))
    old_bazel = _bazel(workspace, honour_expires=False)
    answer = old_bazel.get(f"{emulator.url}/simple/acme/main/")
    assert "expires" not in json.loads(answer.stdout)
    left = _exp(emulator, _jwt(answer.authorization)) - time.time()
    assert left >= 35 * 60  # still valid when Bazel's 30-minute cache entry runs out
    assert emulator.counts()["access-token"] == 1
    fresh = emulator.mint_access_token(subject="api-key", lifetime=50 * 60)
    _seed_api_key_token(fresh)
    assert _bazel(workspace).call(f"{emulator.url}/simple/x/").authorization == f"Bearer {fresh}"
    assert emulator.counts()["access-token"] == 1


def test_get_no_expires_refuses_a_fixed_token_with_less_than_35_minutes(
    monkeypatch: pytest.MonkeyPatch, emulator: PyxEmulator, workspace: Path
) -> None:
    token = emulator.mint_access_token(lifetime=20 * 60)
    monkeypatch.setenv("PYX_AUTH_TOKEN", token)
    monkeypatch.setenv("PYX_AUTH_NO_EXPIRES", "1")
    with pytest.raises(HelperError) as caught:
        _bazel(workspace).call("https://api.pyx.dev/simple/")
    assert caught.value.exit_code == 2 and caught.value.stdout == ""
    assert "cannot be refreshed" in caught.value.stderr
    assert token not in caught.value.stderr


def test_get_token_expiring_in_2400_expires_within_a_year(
    monkeypatch: pytest.MonkeyPatch, emulator: PyxEmulator, workspace: Path
) -> None:
    """Bazel's cache arithmetic overflows on an ``expires`` ~292 years ahead and caches nothing."""
    exp_2400 = int(dt.datetime(2400, 1, 1, tzinfo=dt.UTC).timestamp())
    token = emulator.mint_access_token(lifetime=exp_2400 - int(time.time()))
    monkeypatch.setenv("PYX_AUTH_TOKEN", token)
    before = time.time()
    answer = _bazel(workspace).call("https://api.pyx.dev/simple/")
    assert answer.expires is not None
    assert before < answer.expires.timestamp() <= time.time() + 365 * 24 * 3600


# -- other URIs -----------------------------------------------------------------------------


def test_get_non_pyx_uri_answers_no_headers_without_a_request(
    api_key_env: dict[str, str], emulator: PyxEmulator, workspace: Path
) -> None:
    client = _bazel(workspace)
    for uri in (
        "https://pypi.org/simple/",
        "https://github.com/bazelbuild/rules_python/archive/1.0.tar.gz",
        f"http://localhost:{emulator.url.rsplit(':', 1)[1]}/simple/",
        "https://cache.example.com/build.bazel.remote.execution.v2.ContentAddressableStorage",
        "unix:/run/bazel-cache.sock",
    ):
        answer = client.call(uri)
        assert answer.stdout == '{"headers":{}}\n', uri
    assert emulator.counts()["access-token"] == 0


def test_get_hostless_uris_answer_no_headers_like_uv(
    monkeypatch: pytest.MonkeyPatch, emulator: PyxEmulator, workspace: Path
) -> None:
    """Bazel sends ``https:///...`` to an unscoped helper; it is no pyx URI, not an error."""
    token = emulator.mint_access_token()
    monkeypatch.setenv("PYX_AUTH_TOKEN", token)
    client = _bazel(workspace)
    for uri in ("https:///simple/acme/main/", "https:///api.pyx.dev/simple/", "http:///x"):
        answer = client.call(uri)
        assert answer.stdout == '{"headers":{}}\n', uri
        assert token not in answer.stdout + answer.stderr


def test_get_non_pyx_uri_answers_from_uvs_credentials_file(
    tmp_path: Path, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "uv-credentials"
    folder.mkdir()
    (folder / "credentials.toml").write_text(
        '[[credential]]\nservice = "https://index.corp.example/simple"\n'
        'username = "ci"\npassword = "s3cret"\n'
    )
    monkeypatch.setenv("UV_CREDENTIALS_DIR", str(folder))
    answer = _bazel(workspace).call("https://index.corp.example/simple/numpy/")
    assert answer.headers == {"Authorization": ["Basic Y2k6czNjcmV0"]}
    assert "expires" not in json.loads(answer.stdout)


def test_get_pyx_uri_naming_a_user_is_refused(
    api_key_env: dict[str, str], emulator: PyxEmulator, workspace: Path
) -> None:
    with pytest.raises(HelperError) as caught:
        _bazel(workspace).call(emulator.url.replace("//", "//someone@") + "/simple/")
    assert caught.value.exit_code == 2
    assert caught.value.stderr.startswith("pyx-auth: the URI names a user")


# -- bad requests and failures --------------------------------------------------------------

BAD_REQUESTS = [
    (b"", "no request on stdin"),
    (b"https://api.pyx.dev/", "not JSON"),
    (b'["https://api.pyx.dev/"]', "not a JSON object"),
    (b'{"url":"https://api.pyx.dev/"}', 'no "uri"'),
    (b'{"uri":"/simple/"}', "not an absolute URI"),
    (b'{"uri":"' + b"x" * 70_000 + b'"}', "larger than 64 KiB"),
    (b'{"uri":"https://api.pyx.dev/\xff"}', "not UTF-8"),
]


@pytest.mark.parametrize(("request_bytes", "message"), BAD_REQUESTS)
def test_get_bad_request_fails_with_one_line_and_no_output(
    request_bytes: bytes, message: str, workspace: Path
) -> None:
    with pytest.raises(HelperError) as caught:
        _bazel(workspace).call("", request=request_bytes)
    error = caught.value
    assert (error.exit_code, error.stdout) == (2, "")
    assert error.stderr.startswith("pyx-auth: ") and error.stderr.count("\n") == 1
    assert message in error.stderr and "Traceback" not in error.stderr


def test_get_without_credentials_says_what_to_do(pyx_env: dict[str, str], workspace: Path) -> None:
    with pytest.raises(HelperError) as caught:
        _bazel(workspace).call(f"{pyx_env['PYX_API_URL']}/simple/")
    assert caught.value.exit_code == 2
    assert "no pyx credentials: set PYX_API_KEY or run `pyx-auth login`" in caught.value.stderr
    assert caught.value.stderr.count("\n") == 1


def test_get_rejected_api_key_is_never_printed(
    pyx_env: dict[str, str], workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYX_API_KEY", "sk-pyx-wrong-and-secret")
    with pytest.raises(HelperError) as caught:
        _bazel(workspace).call(f"{pyx_env['PYX_API_URL']}/simple/")
    assert caught.value.exit_code == 2 and caught.value.stderr.count("\n") == 1
    assert "sk-pyx-wrong-and-secret" not in caught.value.stderr + caught.value.stdout


def test_get_finishes_inside_bazels_timeout_when_pyx_hangs(
    api_key_env: dict[str, str],
    emulator: PyxEmulator,
    workspace: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PYX_AUTH_TIMEOUT")  # the default budget must fit Bazel's 10 s
    emulator.fail_next("access-token", hang=30)
    started = time.monotonic()
    with pytest.raises(HelperError) as caught:
        _bazel(workspace).call(f"{emulator.url}/simple/")
    assert caught.value.kind == "exit"  # pyx-auth gave up by itself, Bazel did not kill it
    assert time.monotonic() - started < 10
    assert caught.value.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "request_bytes",
    [
        b'{"uri":"%s/simple/"}\n',
        b'{"uri":"%s/simple/","extra":{"a":[1,2]},"uri2":"x"}',
        b'{"uri":"%s\\/simple\\/"}',
    ],
    ids=["trailing-newline", "extra-fields", "escaped-slashes"],
)
def test_get_request_variants_get_the_same_answer(
    request_bytes: bytes, api_key_env: dict[str, str], emulator: PyxEmulator, workspace: Path
) -> None:
    client = _bazel(workspace)
    plain = client.call(f"{emulator.url}/simple/")
    variant = client.call("", request=request_bytes.replace(b"%s", emulator.url.encode()))
    assert variant.headers == plain.headers and variant.expires == plain.expires


def test_get_extra_arguments_do_not_break_it(
    run_pyx_auth: RunPyxAuth, monkeypatch: pytest.MonkeyPatch, emulator: PyxEmulator
) -> None:
    token = emulator.mint_access_token()
    monkeypatch.setenv("PYX_AUTH_TOKEN", token)
    result = run_pyx_auth("get", "--future-flag", input=gson_request("https://api.pyx.dev/"))
    assert result.returncode == 0, result.stderr
    headers, _ = judge(result.returncode, result.stdout, result.stderr)
    assert headers == {"Authorization": [f"Bearer {token}"]}


def test_no_command_prints_usage_and_fails(run_pyx_auth: RunPyxAuth) -> None:
    result = run_pyx_auth()
    assert result.returncode == 2 and result.stdout == ""
    assert "usage: pyx-auth" in result.stderr


def test_get_64_concurrent_cold_calls_make_one_exchange(
    api_key_env: dict[str, str],
    emulator: PyxEmulator,
    workspace: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """64 cold helpers: one exchange, and every waiter gets its result.

    On a busy 2-core machine a starved holder may need longer than a waiter's own lock
    budget; the waiters then wait on the running holder instead of failing
    (``locking.exclusive_lock``, pinned without scheduling luck in ``test_single_flight.py``).
    Here the budgets are those a user of such a machine would set (``PYX_AUTH_TIMEOUT=20``,
    ``--credential_helper_timeout=120``), so that starvation alone cannot fail the test: the
    holder's own request (to an emulator that shares the starved CPU) once ran out of a 5 s
    budget, and the second exchange that followed is what this test is about.
    """
    monkeypatch.setenv("PYX_AUTH_TIMEOUT", "20")
    client = _bazel(workspace, timeout=120)
    uris = [f"{emulator.url}/simple/acme/main/project-{n}/" for n in range(48)]
    uris += [f"https://files.astralhosted.com/acme/f-{n}.whl" for n in range(16)]
    with ThreadPoolExecutor(max_workers=64) as pool:
        answers = list(pool.map(client.call, uris))
    assert len({answer.authorization for answer in answers}) == 1
    assert emulator.verify(_jwt(answers[0].authorization)) is not None
    assert emulator.counts()["access-token"] == 1


# -- arbitrary input ------------------------------------------------------------------------

URI_PARTS = st.tuples(
    st.sampled_from(["https://", "http://", "HTTPS://", "ftp://", "unix:", "", "https:"]),
    st.sampled_from(["", "u@", "u:p@", "@", "api.pyx.dev@", ":@"]),
    st.sampled_from(
        [
            "api.pyx.dev",
            "files.astralhosted.com",
            "pyx.dev",
            "evil.example",
            "api.pyx.dev.",
            "[::1]",
            "b\u00fccher.example",
            "",
            "a%2eb",
        ]
    ),
    st.sampled_from(["", ":443", ":8443", ":", ":x", ":99999"]),
    st.text(max_size=12),
)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    request_bytes=st.one_of(
        st.binary(max_size=200),
        st.text(max_size=60).map(lambda uri: json.dumps({"uri": uri}).encode()),
        URI_PARTS.map(lambda parts: gson_request("".join(parts))),
        st.text(max_size=40).map(lambda text: text.encode("utf-8", "surrogatepass")),
        st.text(alphabet='{}[]":,uri \\/0-9.eE+-tfn', max_size=30).map(str.encode),
    )
)
def test_get_any_stdin_gives_an_answer_or_one_error_line(
    request_bytes: bytes, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYX_AUTH_TOKEN", "eyJhbGciOiJub25lIn0.eyJleHAiOjQxMDI0NDQ4MDB9.c2ln")
    client = _bazel(workspace)
    try:
        answer = client.call("", request=request_bytes)
    except HelperError as error:
        assert error.kind == "exit" and error.exit_code == 2, error
        assert error.stdout == ""
        assert error.stderr.startswith("pyx-auth: ") and error.stderr.count("\n") == 1
        assert "Traceback" not in error.stderr and "internal error" not in error.stderr
    else:
        assert answer.stdout.count("\n") == 1 and answer.stderr == ""


# -- the committed stub and .bazelrc lines --------------------------------------------------


def _single_executable() -> str:
    argv = pyx_auth_argv()
    if len(argv) != 1:
        pytest.skip("pyx-auth is not installed as one executable here")
    return argv[0]


def test_stub_runs_the_binary_named_by_pyx_auth_bin(
    api_key_env: dict[str, str],
    emulator: PyxEmulator,
    workspace: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYX_AUTH_BIN", _single_executable())
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    answer = _bazel(workspace, [str(STUB)]).call(f"{emulator.url}/simple/")
    assert emulator.verify(_jwt(answer.authorization)) is not None


def _fake_pip_venv(folder: Path, *, with_entry: bool) -> Path:
    """A venv whose pyx-auth script must never run; with ``with_entry``, pip's layout."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    site_packages = next((folder / "lib").glob("python*/site-packages"))
    if with_entry:
        (site_packages / "pyx_auth").symlink_to(Path(pyx_auth.__file__).parent)
    # what the refresh path imports (httpx, ...) is in this test environment's site folders
    folders = [path for path in sys.path if path.endswith("site-packages")]
    (site_packages / "test-deps.pth").write_text("\n".join(folders) + "\n")
    script = folder / "bin" / "pyx-auth"
    script.write_text(f"#!{folder}/bin/python3\nimport sys\nsys.exit('the console script ran')\n")
    script.chmod(0o755)
    return folder / "bin"


def test_stub_starts_pips_python_without_site_on_the_entry_file(
    api_key_env: dict[str, str],
    emulator: PyxEmulator,
    workspace: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "PATH", f"{_fake_pip_venv(tmp_path / 'venv', with_entry=True)}:/usr/bin:/bin"
    )
    client = _bazel(workspace, [str(STUB)])
    cold = client.call(f"{emulator.url}/simple/a/")  # exchanges: needs httpx via site again
    warm = client.call(f"{emulator.url}/simple/b/")
    assert cold.authorization == warm.authorization
    assert emulator.verify(_jwt(warm.authorization)) is not None
    assert emulator.counts()["access-token"] == 1


@pytest.mark.parametrize("layout", ["no-entry-file", "two-python-versions"])
def test_stub_runs_the_console_script_when_the_layout_is_not_pips(
    layout: str,
    monkeypatch: pytest.MonkeyPatch,
    emulator: PyxEmulator,
    workspace: Path,
    tmp_path: Path,
) -> None:
    venv = tmp_path / "venv"
    bin_dir = _fake_pip_venv(venv, with_entry=layout != "no-entry-file")
    if layout == "two-python-versions":  # which one would the script's Python use?
        other = venv / "lib" / "python3.0" / "site-packages"
        other.mkdir(parents=True)
        (other / "pyx_auth").symlink_to(Path(pyx_auth.__file__).parent)
    token = emulator.mint_access_token()
    monkeypatch.setenv("PYX_AUTH_TOKEN", token)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    with pytest.raises(HelperError) as caught:
        _bazel(workspace, [str(STUB)]).call("https://api.pyx.dev/")
    assert "the console script ran" in caught.value.stderr
    wrapper = tmp_path / "other" / "pyx-auth"
    wrapper.parent.mkdir()
    wrapper.write_text("#!/bin/sh\nexec " + " ".join(pyx_auth_argv()) + ' "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrapper.parent}:/usr/bin:/bin")
    answer = _bazel(workspace, [str(STUB)]).call("https://api.pyx.dev/")
    assert answer.authorization == f"Bearer {token}"


def test_stub_without_pyx_auth_says_how_to_install(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert shutil.which("pyx-auth", path="/usr/bin:/bin") is None
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    with pytest.raises(HelperError) as caught:
        _bazel(workspace, [str(STUB)]).call("https://api.pyx.dev/")
    assert caught.value.exit_code == 2 and caught.value.stdout == ""
    assert "pyx-auth is not on PATH" in caught.value.stderr
    assert "pip install pyx-auth" in caught.value.stderr


def test_stub_with_a_bad_pyx_auth_bin_names_it(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYX_AUTH_BIN", str(tmp_path / "missing"))
    with pytest.raises(HelperError) as caught:
        _bazel(workspace, [str(STUB)]).call("https://api.pyx.dev/")
    assert caught.value.exit_code == 2
    assert f"PYX_AUTH_BIN={tmp_path / 'missing'} is not an executable file" in caught.value.stderr


def test_stub_is_an_executable_bash_script_that_posix_sh_parses() -> None:
    """bash for the fast path; a plain sh (no /bin/bash) can still run it, without it."""
    assert os.access(STUB, os.X_OK)
    assert STUB.read_text().startswith("#!/bin/bash\n")
    subprocess.run(["sh", "-n", str(STUB)], check=True)


def test_config_bazelrc_prints_the_committed_lines(run_pyx_auth: RunPyxAuth) -> None:
    result = run_pyx_auth("config", "bazelrc")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (REPO / "bazel" / "bazelrc").read_text()
    lines = [line for line in result.stdout.splitlines() if not line.startswith("#")]
    assert lines == [
        f"common --credential_helper={scope}=%workspace%/bazel/pyx-credential-helper"
        for scope in ("api.pyx.dev", "api-static.pyx.dev", "*.astralhosted.com")
    ]
    for word in ("Bazel >= 7", "--credential_helper_timeout", "PYX_AUTH_NO_EXPIRES=1", "7.1-7.3"):
        assert word in result.stdout


def test_config_bazelrc_follows_the_environment(
    run_pyx_auth: RunPyxAuth, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYX_API_URL", "https://pyx.corp.example:8443")
    monkeypatch.setenv("PYX_CDN_DOMAIN", "cdn.corp.example")
    result = run_pyx_auth("config", "bazelrc", "--helper", "pyx-auth")
    scopes = [
        line.split("=")[1] for line in result.stdout.splitlines() if line.startswith("common")
    ]
    assert scopes == ["pyx.corp.example", "*.cdn.corp.example"]
    assert all(BAZEL_SCOPE.fullmatch(scope) for scope in scopes)
    assert "common --credential_helper=pyx.corp.example=pyx-auth\n" in result.stdout
    monkeypatch.setenv("PYX_API_URL", "http://localhost:8000")
    local = run_pyx_auth("config", "bazelrc").stdout
    assert "'localhost' cannot be a Bazel scope" in local
    assert "\ncommon --credential_helper=localhost" not in local
    bad = run_pyx_auth("config", "bazelrc", "--helper", "tools/helper")
    assert bad.returncode == 2 and "absolute path" in bad.stderr


# -- what the cache hit must not skip ---------------------------------------------------------


def test_get_with_a_deprecated_variable_warns_on_every_call_even_a_cache_hit(
    pyx_env: dict[str, str],
    emulator: PyxEmulator,
    workspace: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``UV_API_KEY`` still works but says so each time, the cached answer included."""
    monkeypatch.setenv("UV_API_KEY", EMULATOR_API_KEY)
    client = _bazel(workspace)
    first = client.call(f"{emulator.url}/simple/acme/main/")
    hit = client.call(f"{emulator.url}/simple/acme/main/")
    assert emulator.counts()["access-token"] == 1  # the second call was the cache hit
    for reply in (first, hit):
        assert emulator.verify(_jwt(reply.authorization)) is not None
        warning = "pyx-auth: warning: UV_API_KEY is deprecated; set PYX_API_KEY instead\n"
        assert reply.stderr == warning
        assert EMULATOR_API_KEY not in reply.stderr


def test_get_cache_hit_tries_uvs_credentials_lock_once_and_steps_aside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While uv holds its credentials lock, the cache hit does not wait for it: the full path
    (which may wait, and explains a timeout) answers instead."""
    folder = tmp_path / "uv-credentials"
    folder.mkdir()
    (folder / "credentials.toml").write_text(
        '[[credential]]\nservice = "https://a.example"\nusername = "u"\npassword = "p"\n'
    )
    environ = {
        "HOME": str(tmp_path),
        "UV_CREDENTIALS_DIR": str(folder),
        "UV_LOCK_TIMEOUT": "20",
        "PYX_AUTH_TIMEOUT": "20",
    }
    request = b'{"uri":"https://a.example/x"}'
    assert answer_offline(request, environ) is not None  # unlocked: the cache hit answers
    lock = os.open(folder / "credentials.toml.lock", os.O_RDWR | os.O_CREAT)
    attempts: list[int] = []
    real_flock = fcntl.flock

    def counted_flock(fd: int, operation: int) -> None:
        attempts.append(operation)
        real_flock(fd, operation)

    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        monkeypatch.setattr(fcntl, "flock", counted_flock)
        started = time.monotonic()
        assert answer_offline(request, environ) is None
        assert time.monotonic() - started < 5  # a wait would take the whole 20 s
        # tried, and tried again only to see the holder let go meanwhile; never polled for it
        assert attempts and len(attempts) <= 2
        assert all(operation & fcntl.LOCK_NB for operation in attempts)
    finally:
        os.close(lock)


def test_debug_trace_names_the_non_pyx_origin_it_hands_to_uvs_credentials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The trace says which host was judged not pyx's, so a user can see why no token went."""
    environ = {
        "HOME": str(tmp_path),
        "UV_CREDENTIALS_DIR": str(tmp_path / "none"),
        "PYX_AUTH_DEBUG": "1",
    }
    request = parse_request(b'{"uri":"https://example.com:8443/simple/"}')
    assert answer(request, Settings(environ), offline=False) == '{"headers":{}}'
    assert "pyx-auth: debug: https://example.com:8443 is not a pyx host: uv's answer\n" in (
        capsys.readouterr().err
    )
