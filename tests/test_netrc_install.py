"""`pyx-auth token --format netrc` is all pip, uv 0.12.6 and the newest uv need to install from pyx.

Each installer gets a fresh empty HOME, no PYX_* or UV_* variables and no config: nothing but
``NETRC=<the file pyx-auth wrote>``. The index page and the wheel it links to are both served by
the emulator (127.0.0.1), which wants the token on every request. Each installer must fail
without the file, so the file is what authenticates it.

The wheel, its index (the ``published`` fixture) and the newest uv come from ``demo_wheel``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import EMULATOR_API_KEY, RunPyxAuth
from demo_wheel import LAST_PYX_UV, MODULE, PROJECT, newest_uv, uv_version
from pyx_auth.emulator import PyxEmulator

INSTALLERS = ("pip", "uv-0.12.6", "uv-newest")


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
            assert uv_version(uv) == LAST_PYX_UV, f"{uv} is not uv 0.12.6"
        else:
            uv = newest_uv(require_tool)
        return [
            uv, "pip", "install", "--no-config", "--python", sys.executable, "--no-deps",
            "--target", str(target), "--index-url", index_url, PROJECT,
        ]  # fmt: skip

    return argv


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
