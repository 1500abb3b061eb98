"""`pyx-auth token --format netrc` is all pip, uv 0.12.6 and the newest uv need to install from pyx.

Each installer gets a fresh empty HOME, no PYX_* or UV_* variables and no config: nothing but
``NETRC=<the file pyx-auth wrote>``. The index page and the wheel it links to are both served by
the emulator (127.0.0.1), which wants the token on every request. Each installer must fail
without the file, so the file is what authenticates it.

The newest uv comes from ``.venv/uv-latest`` (``scripts/test.sh`` installs it there) or the
executable named by ``PYX_AUTH_TEST_NEWEST_UV``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import EMULATOR_API_KEY, RunPyxAuth
from pyx_auth.emulator import PyxEmulator

REPO = Path(__file__).resolve().parents[1]
NEWEST_UV = os.environ.get("PYX_AUTH_TEST_NEWEST_UV") or str(REPO / ".venv/uv-latest/bin/uv")
"""Read at import, before the autouse fixture scrubs every PYX_ variable."""
LAST_PYX_UV = (0, 12, 6)
WORKSPACE, VIEW, PROJECT = "acme", "main", "pyx-netrc-demo"
MODULE = "pyx_netrc_demo"
INSTALLERS = ("pip", "uv-0.12.6", "uv-newest")


def build_wheel(version: str = "1.0") -> tuple[str, bytes]:
    """A minimal real wheel (module, METADATA, WHEEL, RECORD with hashes), built in memory."""
    dist_info = f"{MODULE}-{version}.dist-info"
    files = {
        f"{MODULE}/__init__.py": b"ANSWER = 42\n",
        f"{dist_info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {PROJECT}\nVersion: {version}\n"
        ).encode(),
        f"{dist_info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: pyx-auth-tests\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
    }
    record = [
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}"
        for path, data in files.items()
    ]
    files[f"{dist_info}/RECORD"] = ("\n".join([*record, f"{dist_info}/RECORD,,"]) + "\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return f"{MODULE}-{version}-py3-none-any.whl", buffer.getvalue()


def _version(executable: str) -> tuple[int, ...]:
    out = subprocess.run(
        [executable, "--version"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", out)
    assert match, out
    return tuple(int(part) for part in match.groups())


@pytest.fixture
def installer_argv(require_tool: Callable[[str], str]) -> Callable[[str, str, Path], list[str]]:
    """``argv(installer, index_url, target)``: install PROJECT into ``target``, no deps."""

    def argv(installer: str, index_url: str, target: Path) -> list[str]:
        if installer == "pip":
            return [
                sys.executable, "-m", "pip", "install", "--isolated", "--no-input",
                "--no-cache-dir", "--disable-pip-version-check", "--no-deps", "-vv",
                "--target", str(target), "--index-url", index_url, PROJECT,
            ]  # fmt: skip
        if installer == "uv-0.12.6":
            uv = str(Path(sys.executable).with_name("uv"))
            uv = uv if os.access(uv, os.X_OK) else require_tool("uv")
            assert _version(uv) == LAST_PYX_UV, f"{uv} is not uv 0.12.6"
        else:
            uv = require_tool(NEWEST_UV)
            assert _version(uv) > LAST_PYX_UV, f"{uv} is not newer than uv 0.12.6"
        return [
            uv, "pip", "install", "--no-config", "--python", sys.executable, "--no-deps",
            "--target", str(target), "--index-url", index_url, PROJECT,
        ]  # fmt: skip

    return argv


@pytest.fixture
def published(emulator: PyxEmulator) -> str:
    """The index URL of a workspace view holding the demo wheel."""
    emulator.add_file(WORKSPACE, VIEW, PROJECT, *build_wheel())
    return f"{emulator.url}/simple/{WORKSPACE}/{VIEW}/"


@pytest.fixture
def netrc_file(run_pyx_auth: RunPyxAuth, pyx_env: dict[str, str], tmp_path: Path) -> Path:
    path = tmp_path / "pyx.netrc"
    env = {**os.environ, "PYX_API_KEY": EMULATOR_API_KEY}
    result = run_pyx_auth("token", "--format", "netrc", "--output", str(path), env=env)
    assert result.returncode == 0, result.stderr
    return path


def _run_installer(
    argv: list[str], tmp_path: Path, netrc: Path | None
) -> subprocess.CompletedProcess[str]:
    """Run with a minimal environment: an empty HOME, private caches, NETRC only if given."""
    home = tmp_path / "installer-home"
    home.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TMPDIR": str(tmp_path),
        "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
    }
    if netrc is not None:
        env["NETRC"] = str(netrc)
    return subprocess.run(
        argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("installer", INSTALLERS)
def test_netrc_file_alone_lets_installer_fetch_index_and_wheel(
    installer: str,
    installer_argv: Callable[[str, str, Path], list[str]],
    published: str,
    netrc_file: Path,
    emulator: PyxEmulator,
    tmp_path: Path,
) -> None:
    target = tmp_path / "site"
    result = _run_installer(installer_argv(installer, published, target), tmp_path, netrc_file)
    assert result.returncode == 0, result.stderr
    assert (target / MODULE / "__init__.py").read_text() == "ANSWER = 42\n"
    counts = emulator.counts()
    assert counts["simple"] >= 1 and counts["files"] >= 1, "index and file both came from pyx"


@pytest.mark.parametrize("installer", INSTALLERS)
def test_installer_without_netrc_file_is_refused(
    installer: str,
    installer_argv: Callable[[str, str, Path], list[str]],
    published: str,
    emulator: PyxEmulator,
    tmp_path: Path,
) -> None:
    target = tmp_path / "site"
    result = _run_installer(installer_argv(installer, published, target), tmp_path, None)
    assert result.returncode != 0
    output = result.stdout + result.stderr  # pip reports the 401 on stdout with -vv
    assert "401" in output, output
    assert not (target / MODULE).exists()
    assert emulator.counts()["files"] == 0


def test_netrc_file_for_another_host_does_not_authenticate(
    installer_argv: Callable[[str, str, Path], list[str]],
    published: str,
    netrc_file: Path,
    tmp_path: Path,
) -> None:
    """The credentials are bound to the netrc machine name: ``localhost`` is not ``127.0.0.1``."""
    url = published.replace("127.0.0.1", "localhost")
    result = _run_installer(
        installer_argv("uv-newest", url, tmp_path / "site"), tmp_path, netrc_file
    )
    assert result.returncode != 0
    assert "401" in result.stderr
