"""``pyx-auth login --api-key`` and the keyring-held API key as a token source.

A test machine has no Secret Service, so the keyring backends are stand-ins from
``tests/keyring_backends.py`` (a file-backed one and one that hangs), loaded by the real
``keyring`` package in the real pyx-auth process through its config file, plus keyring's own
null backend and its "no backend at all" state, which is what this headless machine has.
The emulator, HTTP and JWTs are real.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import EMULATOR_API_KEY, RunPyxAuth, pyx_auth_argv
from keyring_backends import calls, stored, use_backend
from pyx_auth.emulator import PyxEmulator
from pyx_auth.settings import Settings
from pyx_auth.sources.keyring_key import MARKER_FILE, read_marker
from pyx_auth.store import Store, api_key_file, store_directory

MARKER = "pyx-auth-keyring.json"
NO_KEYRING = "pyx-auth: no keyring on this machine: set PYX_API_KEY instead\n"


def _store() -> Path:
    return Path(store_directory(Settings(dict(os.environ))))


def _service(emulator: PyxEmulator) -> str:
    return f"pyx-auth:{emulator.url}/"


def _login(
    run_pyx_auth: RunPyxAuth, key: str = EMULATOR_API_KEY, **env: str
) -> subprocess.CompletedProcess[str]:
    result = run_pyx_auth("login", "--api-key", input=key + "\n", env={**os.environ, **env})
    assert key not in result.stdout + result.stderr
    return result


@pytest.fixture
def file_keyring(clean_environ: Path) -> Path:
    """The file-backed keyring for pyx-auth processes; returns HOME, where it keeps its file."""
    use_backend(clean_environ, "FileKeyring")
    return clean_environ


def test_login_api_key_stores_key_in_keyring_and_token_in_store(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str], file_keyring: Path
) -> None:
    result = _login(run_pyx_auth)

    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "Logged in to acme with an API key",
        "Stored the API key in the system keyring (keyring backends FileKeyring):"
        f" service {_service(emulator)!r}, user 'api-key'",
    ]
    assert stored(file_keyring) == {f"{_service(emulator)}\0api-key": EMULATOR_API_KEY}
    store = _store()
    marker = store / MARKER
    assert json.loads(marker.read_text()) == {"token_file": api_key_file(EMULATOR_API_KEY)}
    assert EMULATOR_API_KEY not in marker.read_text()
    assert marker.stat().st_mode & 0o777 == 0o600
    cached = (store / api_key_file(EMULATOR_API_KEY)).read_text()
    assert emulator.verify(cached) is not None
    assert emulator.counts()["access-token"] == 1  # the one check

    token = run_pyx_auth("token")
    assert token.returncode == 0, token.stderr
    assert token.stdout.strip() == cached
    status = json.loads(run_pyx_auth("status", "--json").stdout)
    assert status["source"] == "API key in the system keyring (pyx-auth login --api-key)"


def test_keyring_source_cache_hit_never_asks_the_keyring(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str], file_keyring: Path
) -> None:
    assert _login(run_pyx_auth).returncode == 0
    (file_keyring / "keyring-calls.log").unlink()

    request = json.dumps({"uri": f"{emulator.url}/simple/acme/main/"})
    answer = run_pyx_auth("get", input=request)

    assert answer.returncode == 0, answer.stderr
    cached = (_store() / api_key_file(EMULATOR_API_KEY)).read_text()
    assert json.loads(answer.stdout)["headers"] == {"Authorization": [f"Bearer {cached}"]}
    assert calls(file_keyring) == []
    # ... and the module is not even imported (checked in-process, not through a binary).
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import io, sys\n"
            "from pyx_auth.cli import main\n"
            f"assert main(['get'], stdin={request.encode()!r}) == 0\n"
            "assert 'keyring' not in sys.modules, 'keyring imported'\n",
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        check=False,
    )
    assert probe.returncode == 0, probe.stderr


def test_keyring_source_mints_with_the_key_from_the_keyring(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str], file_keyring: Path
) -> None:
    emulator.token_lifetime = 120  # always inside the 5-minute refresh margin
    assert _login(run_pyx_auth).returncode == 0
    (file_keyring / "keyring-calls.log").unlink()

    token = run_pyx_auth("token")

    assert token.returncode == 0, token.stderr
    assert emulator.verify(token.stdout.strip()) is not None
    assert emulator.counts()["access-token"] == 2
    assert calls(file_keyring) == [f"get {_service(emulator)} api-key"]
    assert (_store() / api_key_file(EMULATOR_API_KEY)).read_text() == token.stdout.strip()


def test_keyring_source_key_gone_from_keyring_is_a_clear_error(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str], file_keyring: Path
) -> None:
    emulator.token_lifetime = 120
    assert _login(run_pyx_auth).returncode == 0
    (file_keyring / "test-keyring.json").write_text("{}")  # someone removed it from the keyring

    token = run_pyx_auth("token")

    assert token.returncode == 2
    assert token.stderr == (
        f"pyx-auth: {_store() / MARKER} says the system keyring holds an API key, but service"
        f" {_service(emulator)!r} has none; run `pyx-auth login --api-key` again or"
        " `pyx-auth logout`\n"
    )


def test_keyring_source_hanging_keyring_fails_within_the_time_budget(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str], file_keyring: Path
) -> None:
    emulator.token_lifetime = 120
    assert _login(run_pyx_auth).returncode == 0
    use_backend(file_keyring, "HangingKeyring")

    started = time.monotonic()
    token = run_pyx_auth("token", env={**os.environ, "PYX_AUTH_TIMEOUT": "1"})

    assert time.monotonic() - started < 10
    assert token.returncode == 2
    # "within 1 s" or, when a loaded machine used up the budget before the keyring was
    # asked, "in time": the number is what was left of the run's budget.
    assert re.search(r"the system keyring did not answer (within 1 s|in time)", token.stderr)
    assert "PYX_AUTH_TIMEOUT to wait longer" in token.stderr
    assert len(token.stderr.splitlines()) == 1


def test_source_order_env_key_then_keyring_key_then_uv_login(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str], file_keyring: Path
) -> None:
    store = _store()
    store.mkdir(parents=True)
    access, refresh = emulator.issue_tokens()
    pair = {"access_token": access, "refresh_token": refresh}
    (store / "tokens.json").write_text(json.dumps(pair))
    assert json.loads(run_pyx_auth("status", "--json").stdout)["source"].startswith("uv login")

    assert _login(run_pyx_auth).returncode == 0
    status = json.loads(run_pyx_auth("status", "--json").stdout)
    assert status["source"] == "API key in the system keyring (pyx-auth login --api-key)"
    assert run_pyx_auth("token").stdout.strip() != access

    env = {**os.environ, "PYX_API_KEY": EMULATOR_API_KEY}
    assert json.loads(run_pyx_auth("status", "--json", env=env).stdout)["source"] == (
        "PYX_API_KEY set"
    )


def test_login_api_key_null_backend_says_there_is_no_keyring(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    result = _login(run_pyx_auth, PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring")

    assert result.returncode == 2
    assert result.stderr == NO_KEYRING
    assert emulator.counts()["access-token"] == 0  # failed before using the network
    assert not (_store() / MARKER).exists()


def test_login_api_key_without_any_backend_says_there_is_no_keyring(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    """This machine's own state: no D-Bus, no Secret Service, so keyring has no backend."""
    result = _login(run_pyx_auth)

    assert result.returncode == 2
    assert result.stderr == NO_KEYRING


def test_login_api_key_hanging_backend_times_out(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str], clean_environ: Path
) -> None:
    use_backend(clean_environ, "HangingKeyring")

    started = time.monotonic()
    result = _login(run_pyx_auth, PYX_AUTH_TIMEOUT="1")

    assert time.monotonic() - started < 10
    assert result.returncode == 2
    assert result.stderr == (
        "pyx-auth: the system keyring did not answer within 1 s (locked, or a Secret Service"
        " that never starts?); set PYX_API_KEY instead, or PYX_AUTH_TIMEOUT to wait longer\n"
    )
    assert not (_store() / MARKER).exists()


def test_login_api_key_rejected_key_is_not_stored(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str], file_keyring: Path
) -> None:
    result = _login(run_pyx_auth, "sk-pyx-wrong")

    assert result.returncode == 2
    assert "the API key was rejected by" in result.stderr
    assert "HTTP 401" in result.stderr
    assert stored(file_keyring) == {}
    assert not (_store() / MARKER).exists()


def test_login_api_key_in_ci_does_not_use_the_keyring(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str], file_keyring: Path
) -> None:
    result = _login(run_pyx_auth, GITHUB_ACTIONS="true")

    assert result.returncode == 2
    assert result.stderr == (
        "pyx-auth: no keyring in CI (GITHUB_ACTIONS is set): set PYX_API_KEY instead\n"
    )
    assert calls(file_keyring) == []


def test_login_api_key_empty_input_is_a_usage_error(
    run_pyx_auth: RunPyxAuth, pyx_env: dict[str, str], file_keyring: Path
) -> None:
    result = run_pyx_auth("login", "--api-key", input="\n")

    assert result.returncode == 2
    assert result.stderr == "pyx-auth: no API key given; pipe it in or type it at the prompt\n"


PROMPT_DRIVER = """\
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
seen = b""
while b"(input hidden): " not in seen:
    seen += os.read(fd, 1024)
os.write(fd, b"sk-pyx-test\\n")
while True:
    try:
        chunk = os.read(fd, 1024)
    except OSError:
        break
    if not chunk:
        break
    seen += chunk
sys.stdout.write(seen.decode())
sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"""


def test_login_api_key_prompt_on_a_terminal_hides_the_key(
    emulator: PyxEmulator, pyx_env: dict[str, str], file_keyring: Path
) -> None:
    """A real pseudo-terminal, driven by a tiny forked helper, stands in for the user's."""
    result = subprocess.run(
        [sys.executable, "-c", PROMPT_DRIVER, *pyx_auth_argv(), "login", "--api-key"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=30,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("pyx API key (input hidden): ")
    assert EMULATOR_API_KEY not in result.stdout  # no echo
    assert "Logged in to acme with an API key" in result.stdout
    assert stored(file_keyring) == {f"{_service(emulator)}\0api-key": EMULATOR_API_KEY}


@pytest.mark.parametrize(
    ("token_file", "used"),
    [
        ("7d547ab2e8ca1a67.json", True),
        ("../../../../et/x.json", False),  # 21 characters, ends in .json: still not ours
        ("7d547ab2e8ca1a6.json", False),
        ("7d547ab2e8ca1a678.json", False),
        ("7d547ab2e8ca1a67.jsox", False),
        ("7D547AB2E8CA1A67.json", False),
        ("7d547ab2e8ca1a6/.json", False),
        (42, False),
    ],
)
def test_the_keyring_marker_names_only_a_token_file_inside_the_store(
    tmp_path: Path, token_file: object, used: bool
) -> None:
    """A planted marker cannot point the keyring source at a file outside the store."""
    store = Store(str(tmp_path / "store"))
    store.write(MARKER_FILE, json.dumps({"token_file": token_file}))
    assert read_marker(store) == (token_file if used else None)
