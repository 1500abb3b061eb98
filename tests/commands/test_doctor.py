"""``pyx-auth doctor``: passes on a wired workspace; each broken link fails with its fix.

One test per row of the checklist. The workspace is wired by the real ``setup bazel``; the
stub is run by doctor itself, as Bazel would run it (no Bazel can be installed here). The
emulator is pyx; its ``clock_skew`` plays a server whose clock is off.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from conftest import EMULATOR_API_KEY, RunPyxAuth, stub_environment
from pyx_auth.emulator import PyxEmulator


@pytest.fixture
def wired(tmp_path: Path, pyx_env: dict[str, str], run_pyx_auth: RunPyxAuth) -> Path:
    """A workspace set up by ``pyx-auth setup bazel`` for the emulator."""
    folder = tmp_path / "workspace"
    folder.mkdir()
    (folder / "MODULE.bazel").write_text('module(name = "demo")\n')
    (folder / ".bazelrc").write_text("build --jobs=4\n")
    result = run_pyx_auth("setup", "bazel", cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder


def _doctor(
    run_pyx_auth: RunPyxAuth, workspace: Path, **variables: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, dict[str, str | None]]]:
    """Run ``doctor --json`` as a user would in the workspace; the checks by name, too."""
    env = stub_environment({**os.environ, **variables})
    result = run_pyx_auth("doctor", "--json", cwd=workspace, env=env)
    report = json.loads(result.stdout)
    assert report["ok"] is (result.returncode == 0), result.stdout
    return result, {check["name"]: check for check in report["checks"]}


def _failing(checks: dict[str, dict[str, str | None]]) -> dict[str, dict[str, str | None]]:
    return {name: check for name, check in checks.items() if check["status"] == "fail"}


def test_doctor_passes_on_a_wired_workspace_with_a_credential(
    wired: Path, emulator: PyxEmulator, run_pyx_auth: RunPyxAuth
) -> None:
    result, checks = _doctor(run_pyx_auth, wired, PYX_API_KEY=EMULATOR_API_KEY)
    assert result.returncode == 0, result.stdout
    assert _failing(checks) == {}
    for name in ("credential", "token", "pyx API", "clock", ".bazelrc", "stub", "stub runs"):
        assert checks[name]["status"] == "ok", checks[name]
    assert checks["credential"]["detail"] == "PYX_API_KEY set"
    assert str(checks["token"]["detail"]).startswith("from PYX_API_KEY, valid for 60 min")
    assert checks["stub current"]["status"] == "ok"
    assert checks["store"]["status"] == "ok"
    text = run_pyx_auth(
        "doctor", cwd=wired, env=stub_environment({**os.environ, "PYX_API_KEY": EMULATOR_API_KEY})
    )
    assert text.returncode == 0 and text.stdout.endswith("all checks passed\n")
    assert EMULATOR_API_KEY not in text.stdout + text.stderr + result.stdout
    assert "eyJ" not in text.stdout + result.stdout  # no JWT, from any source


def test_doctor_missing_stub_fails_and_says_run_setup(
    wired: Path, emulator: PyxEmulator, run_pyx_auth: RunPyxAuth
) -> None:
    (wired / "bazel" / "pyx-credential-helper").unlink()
    result, checks = _doctor(run_pyx_auth, wired, PYX_API_KEY=EMULATOR_API_KEY)
    assert result.returncode == 1
    assert list(_failing(checks)) == ["stub"]
    assert "is missing: Bazel refuses to start any command" in str(checks["stub"]["detail"])
    assert checks["stub"]["fix"] == "run `pyx-auth setup bazel` in the workspace root"


def test_doctor_missing_bazelrc_line_fails_naming_the_host(
    wired: Path, emulator: PyxEmulator, run_pyx_auth: RunPyxAuth
) -> None:
    rc = wired / ".bazelrc"
    lines = rc.read_text().splitlines(keepends=True)
    rc.write_text("".join(line for line in lines if "astralhosted.com=" not in line))
    result, checks = _doctor(run_pyx_auth, wired, PYX_API_KEY=EMULATOR_API_KEY)
    assert result.returncode == 1
    assert list(_failing(checks)) == [".bazelrc"]
    assert "no --credential_helper covers files.astralhosted.com" in str(
        checks[".bazelrc"]["detail"]
    )
    assert checks[".bazelrc"]["fix"] == "run `pyx-auth setup bazel` in the workspace root"


def test_doctor_follows_imports_in_bazelrc(
    wired: Path, emulator: PyxEmulator, run_pyx_auth: RunPyxAuth
) -> None:
    rc = wired / ".bazelrc"
    (wired / "tools").mkdir()
    (wired / "tools" / "pyx.bazelrc").write_bytes(rc.read_bytes())
    rc.write_text(
        "build --jobs=4\n"
        "try-import %workspace%/missing.bazelrc\n"
        "import %workspace%/tools/pyx.bazelrc\n"
    )
    result, checks = _doctor(run_pyx_auth, wired, PYX_API_KEY=EMULATOR_API_KEY)
    assert result.returncode == 0, result.stdout
    assert "tools/pyx.bazelrc" in str(checks[".bazelrc"]["detail"])


def test_doctor_without_a_credential_fails_and_says_how_to_get_one(
    wired: Path, emulator: PyxEmulator, run_pyx_auth: RunPyxAuth
) -> None:
    result, checks = _doctor(run_pyx_auth, wired)
    assert result.returncode == 1
    assert list(_failing(checks)) == ["credential"]
    assert checks["credential"]["fix"] == (
        "set PYX_API_KEY in the shell that runs bazel, or run `pyx-auth login`"
    )


def test_doctor_expired_env_token_fails_and_says_to_mint_or_unset(
    wired: Path, emulator: PyxEmulator, run_pyx_auth: RunPyxAuth
) -> None:
    token = emulator.mint_access_token(lifetime=-600)
    result, checks = _doctor(run_pyx_auth, wired, PYX_AUTH_TOKEN=token)
    assert result.returncode == 1
    assert list(_failing(checks)) == ["token"]
    assert checks["token"]["detail"] == "the token in PYX_AUTH_TOKEN expired 10 min ago"
    assert checks["token"]["fix"] == "mint a new one (pyx-auth token) or unset PYX_AUTH_TOKEN"
    assert token not in result.stdout + result.stderr


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_doctor_unreachable_api_fails_and_points_at_the_url_and_network(
    wired: Path, emulator: PyxEmulator, run_pyx_auth: RunPyxAuth
) -> None:
    token = emulator.mint_access_token()
    url = f"http://127.0.0.1:{_closed_port()}"
    result, checks = _doctor(run_pyx_auth, wired, PYX_AUTH_TOKEN=token, PYX_API_URL=url)
    assert result.returncode == 1
    assert "pyx API" in _failing(checks)
    assert str(checks["pyx API"]["detail"]).startswith(f"cannot reach {url}/")
    assert checks["pyx API"]["fix"] == "check PYX_API_URL, the network and any proxy (HTTPS_PROXY)"


def test_doctor_skewed_clock_fails_and_says_to_sync_it(
    wired: Path, emulator: PyxEmulator, run_pyx_auth: RunPyxAuth
) -> None:
    emulator.clock_skew = 3600
    result, checks = _doctor(run_pyx_auth, wired, PYX_API_KEY=EMULATOR_API_KEY)
    assert result.returncode == 1
    assert "clock" in _failing(checks)
    detail = str(checks["clock"]["detail"])
    assert detail.startswith("pyx's clock is ") and " s ahead of this machine's" in detail
    assert 3590 <= int(detail.split()[3]) <= 3610
    assert "NTP" in str(checks["clock"]["fix"])


def test_doctor_token_file_readable_by_others_fails_and_gives_the_chmod(
    wired: Path, emulator: PyxEmulator, run_pyx_auth: RunPyxAuth, store_root: Path
) -> None:
    assert _doctor(run_pyx_auth, wired, PYX_API_KEY=EMULATOR_API_KEY)[0].returncode == 0
    (token_file,) = store_root.glob("*/*.json")
    token_file.chmod(0o644)  # what uv's umask-following writes look like
    result, checks = _doctor(run_pyx_auth, wired, PYX_API_KEY=EMULATOR_API_KEY)
    assert result.returncode == 1
    assert list(_failing(checks)) == ["store"]
    assert f"{token_file} is mode 644" in str(checks["store"]["detail"])
    folder = token_file.parent
    assert checks["store"]["fix"] == f"chmod 700 {folder} && chmod 600 {folder}/*.json"


def test_doctor_stub_that_cannot_find_pyx_auth_fails_with_the_stubs_reason(
    wired: Path, emulator: PyxEmulator, run_pyx_auth: RunPyxAuth
) -> None:
    env = {**os.environ, "PYX_API_KEY": EMULATOR_API_KEY, "PATH": "/usr/bin:/bin"}
    env.pop("PYX_AUTH_BIN", None)
    result = run_pyx_auth("doctor", "--json", cwd=wired, env=env)
    checks = {check["name"]: check for check in json.loads(result.stdout)["checks"]}
    assert result.returncode == 1
    assert checks["stub runs"]["status"] == "fail"
    assert "pyx-auth is not on PATH" in checks["stub runs"]["detail"]
