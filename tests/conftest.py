"""Shared fixtures: a scrubbed environment, a real emulator, and the executable under test.

The suite runs in CI, which is itself a CI: every variable that could change which
credential pyx-auth picks is removed before each test. Tests that run pyx-auth as a process
use ``run_pyx_auth``, which runs the executable named by ``PYX_AUTH_TEST_BIN`` (the frozen
binary, in the second CI pass) or else the installed console script.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import httpx
import pytest

from demo_wheel import PROJECT, VIEW, WORKSPACE, build_wheel
from pyx_auth.emulator import PyxEmulator

SCRUBBED_PREFIXES = (
    "PYX_",
    "UV_",
    "ACTIONS_ID_TOKEN_",
    "GITHUB_",
    "GITLAB_",
    "BUILDKITE",
    "CIRCLE",
    "PYTHON_KEYRING",
    "XDG_",
    "DBUS_",
)
SCRUBBED_NAMES = ("CI", "NETRC", "BROWSER", "DEPENDABOT", "SSL_CERT_FILE")
SCRUBBED_SUFFIXES = ("_ID_TOKEN",)
EMULATOR_API_KEY = "sk-pyx-test"

FROZEN_BIN = os.environ.get("PYX_AUTH_TEST_BIN")
"""Read at import, before the autouse fixture scrubs every PYX_ variable."""
REQUIRE_TOOLS = os.environ.get("PYX_AUTH_REQUIRE_TOOLS") == "1"
"""Set in CI: a missing system tool fails the test instead of skipping it."""

def write_uv_login(access_token: str, refresh_token: str) -> Path:
    """Write ``tokens.json`` as ``uv auth login`` does, in the store of the current environment."""
    from pyx_auth.settings import Settings
    from pyx_auth.store import TOKENS_FILE, store_directory

    store = Path(store_directory(Settings(dict(os.environ))))
    store.mkdir(parents=True, exist_ok=True)
    tokens = store / TOKENS_FILE
    tokens.write_text(json.dumps({"access_token": access_token, "refresh_token": refresh_token}))
    return tokens


RunPyxAuth = Callable[..., "subprocess.CompletedProcess[str]"]


def pyx_auth_argv() -> list[str]:
    """argv prefix of the executable under test."""
    if FROZEN_BIN:
        return [FROZEN_BIN]
    script = Path(sys.executable).with_name("pyx-auth")
    if script.exists():
        return [str(script)]
    found = shutil.which("pyx-auth")
    return [found] if found else [sys.executable, "-m", "pyx_auth"]


def start_pyx_auth(*args: str, env: Mapping[str, str]) -> subprocess.Popen[str]:
    """pyx-auth ``args`` started in the background: no stdin, stdout and stderr piped (text)."""
    return subprocess.Popen(
        [*pyx_auth_argv(), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(env),
    )


def run_concurrently(
    count: int, env: Mapping[str, str], *args: str
) -> list[subprocess.CompletedProcess[str]]:
    """``count`` pyx-auth ``args`` processes started at once; their results once all ended."""
    processes = [start_pyx_auth(*args, env=env) for _ in range(count)]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return results


def stub_environment(environ: dict[str, str]) -> dict[str, str]:
    """The environment Bazel would pass: the stub finds the pyx-auth under test on PATH."""
    if FROZEN_BIN:
        return {**environ, "PYX_AUTH_BIN": FROZEN_BIN, "PATH": "/usr/bin:/bin"}
    argv = pyx_auth_argv()
    if len(argv) != 1:
        pytest.skip("pyx-auth is not installed as a console script here")
    return {**environ, "PATH": f"{Path(argv[0]).parent}:/usr/bin:/bin"}


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No inherited credentials or CI identity; HOME is an empty temporary folder."""
    for name in list(os.environ):
        if (
            name.startswith(SCRUBBED_PREFIXES)
            or name in SCRUBBED_NAMES
            or name.endswith(SCRUBBED_SUFFIXES)
        ):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PYX_AUTH_TIMEOUT", "5")
    return home


@pytest.fixture
def emulator() -> Iterator[PyxEmulator]:
    with PyxEmulator(api_keys=(EMULATOR_API_KEY,)) as server:
        yield server


@pytest.fixture
def emulator_client(emulator: PyxEmulator) -> Iterator[httpx.Client]:
    """An HTTP client whose base URL is the emulator's, for tests of the emulator itself."""
    with httpx.Client(base_url=emulator.url, timeout=5) as client:
        yield client


@pytest.fixture
def store_root(tmp_path: Path) -> Path:
    root = tmp_path / "credentials"
    return root


@pytest.fixture
def pyx_env(
    monkeypatch: pytest.MonkeyPatch, emulator: PyxEmulator, store_root: Path
) -> dict[str, str]:
    """Point pyx-auth (and uv) at the emulator and a temporary store; returns the variables."""
    variables = {"PYX_API_URL": emulator.url, "PYX_CREDENTIALS_DIR": str(store_root)}
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return variables


@pytest.fixture
def api_key_env(pyx_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The emulator plus its API key, set in os.environ so subprocesses inherit it; returns
    the whole environment, for ``env={**api_key_env, ...}``. The store starts empty."""
    monkeypatch.setenv("PYX_API_KEY", EMULATOR_API_KEY)
    return dict(os.environ)


@pytest.fixture
def run_pyx_auth() -> RunPyxAuth:
    """Run the executable under test: ``run_pyx_auth("token", input=..., env=...)``."""

    def run(
        *args: str,
        input: str | bytes | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 30,
        cwd: str | Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        environment = dict(os.environ if env is None else env)
        data = input.decode() if isinstance(input, bytes) else input
        return subprocess.run(
            [*pyx_auth_argv(), *args],
            input=data if data is not None else "",
            capture_output=True,
            text=True,
            env=environment,
            timeout=timeout,
            cwd=cwd,
            check=False,
        )

    return run


@pytest.fixture
def require_tool() -> Callable[[str], str]:
    """``require_tool("buildah")``: the tool's path; skips if missing (fails in CI)."""

    def find(name: str) -> str:
        path = shutil.which(name)
        if path is None:
            message = f"{name} is not installed (bash scripts/test.sh installs it as root)"
            if REQUIRE_TOOLS:
                pytest.fail(message)
            pytest.skip(message)
        return path

    return find


@pytest.fixture(scope="session")
def uv() -> str:
    """The real uv 0.12.6 of the ``test`` extra, installed next to this Python."""
    path = Path(sys.executable).with_name("uv")
    if not path.exists():
        pytest.fail("uv 0.12.6 is missing from the test environment: pip install '.[test]'")
    version = subprocess.run([str(path), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("uv 0.12.6"), version.stdout
    return str(path)


@pytest.fixture
def published(emulator: PyxEmulator) -> str:
    """The index URL of a workspace view holding the demo wheel (``demo_wheel``)."""
    emulator.add_file(WORKSPACE, VIEW, PROJECT, *build_wheel())
    return f"{emulator.url}/simple/{WORKSPACE}/{VIEW}/"
