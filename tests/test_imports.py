"""The Bazel cache hit imports only the standard library, and only its cheap part.

Proved with ``python -X importtime`` on a real cache hit (API-key mode, token already in the
store), both the way the Bazel stub starts pyx-auth (``-I -S`` on ``bazel_entry.py``) and
through the console script. httpx, PyJWT, keyring, cryptography and argparse cost 2-165 ms
each; ``re`` (pulled in by ``json``, ``base64``, ``urllib.parse``) costs about 4 ms.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import pyx_auth
from bazel_client import gson_request
from conftest import FROZEN_BIN, pyx_auth_argv
from pyx_auth.emulator import PyxEmulator

pytestmark = pytest.mark.skipif(
    FROZEN_BIN is not None, reason="checks the Python package; a frozen binary has no importtime"
)

NEVER_ON_THE_HIT_PATH = ("httpx", "jwt", "keyring", "cryptography", "argparse", "publicsuffixlist")
NOT_ON_THE_STUB_PATH = (
    *NEVER_ON_THE_HIT_PATH,
    "re",
    "json",
    "base64",
    "urllib",
    "tomllib",
    "typing",
    "dataclasses",
    "pathlib",
    "logging",
    "subprocess",
    "tempfile",
    "importlib.metadata",
    "pyx_auth.commands",
    "pyx_auth.api",
    "pyx_auth.http_boundary",
    "pyx_auth.uv_credentials",
    # CI providers are imported only when a CI marker variable is set (oidc.CI_MARKERS).
    "pyx_auth.oidc.github",
    "pyx_auth.oidc.gitlab",
    "pyx_auth.oidc.buildkite",
    "pyx_auth.oidc.generic",
)


def _imported(stderr: str) -> list[str]:
    """Module names from ``-X importtime`` lines, in import order."""
    return [
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and not line.rstrip().endswith("imported package")
    ]


def _offenders(modules: list[str], banned: tuple[str, ...]) -> list[str]:
    return [name for name in modules if any(name == b or name.startswith(b + ".") for b in banned)]


def _cache_hit(argv: list[str], emulator: PyxEmulator, workspace: Path) -> list[str]:
    """Run one cache-hit ``get`` under ``-X importtime``; the modules it imported."""
    request = gson_request(f"{emulator.url}/simple/acme/main/")
    warm = subprocess.run(
        [*pyx_auth_argv(), "get"], input=request, capture_output=True, cwd=workspace, check=True
    )
    exchanges = emulator.counts()["access-token"]
    hit = subprocess.run(argv, input=request, capture_output=True, cwd=workspace, check=True)
    assert hit.stdout == warm.stdout
    assert emulator.counts()["access-token"] == exchanges
    return _imported(hit.stderr.decode())


@pytest.fixture
def hit_env(api_key_env: dict[str, str], tmp_path: Path) -> Path:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    return workspace


def test_cache_hit_as_the_stub_starts_it_imports_only_cheap_stdlib(
    hit_env: Path, emulator: PyxEmulator
) -> None:
    entry = Path(pyx_auth.__file__).with_name("bazel_entry.py")
    argv = [sys.executable, "-X", "importtime", "-I", "-S", str(entry), "get"]
    modules = _cache_hit(argv, emulator, hit_env)
    assert "pyx_auth.credential_helper" in modules  # the table is real
    assert _offenders(modules, NOT_ON_THE_STUB_PATH) == [], "\n".join(modules)


def test_cache_hit_through_the_console_script_imports_no_heavy_module(
    hit_env: Path, emulator: PyxEmulator
) -> None:
    script = pyx_auth_argv()[0]
    with open(script, "rb") as handle:
        if handle.read(2) != b"#!":
            pytest.skip("pyx-auth is not a Python console script here")
    argv = [sys.executable, "-X", "importtime", script, "get"]
    modules = _cache_hit(argv, emulator, hit_env)
    assert "pyx_auth.credential_helper" in modules
    assert _offenders(modules, NEVER_ON_THE_HIT_PATH) == [], "\n".join(modules)


def test_cache_hit_for_the_default_api_loads_no_public_suffix_list(tmp_path: Path) -> None:
    """pyx's own API, a ready token: the hit (and the snapshot it writes for the Bazel stub,
    which lists the parent domain ``pyx.dev``) needs no Public Suffix List (~100 ms)."""
    token = PyxEmulator().mint_access_token()  # a signed JWT; no server needed
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYX_AUTH_TOKEN": token,
        "PYX_CREDENTIALS_DIR": str(tmp_path / "credentials"),
    }
    entry = Path(pyx_auth.__file__).with_name("bazel_entry.py")
    argv = [sys.executable, "-X", "importtime", "-I", "-S", str(entry), "get"]
    request = gson_request("https://api.pyx.dev/simple/acme/main/")
    # The first call writes the snapshot (its atomic write may load tempfile, once per token);
    # the second finds it current and is the plain cache hit.
    for banned in (NEVER_ON_THE_HIT_PATH, NOT_ON_THE_STUB_PATH):
        hit = subprocess.run(argv, input=request, capture_output=True, env=env, check=True)
        assert f"Bearer {token}".encode() in hit.stdout
        modules = _imported(hit.stderr.decode())
        assert "pyx_auth.snapshot" in modules  # the snapshot writer ran
        assert _offenders(modules, banned) == [], "\n".join(modules)
