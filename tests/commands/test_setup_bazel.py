"""``pyx-auth setup bazel`` in temporary workspaces, checked with the Bazel-faithful client.

No Bazel can run here, so ``tests/bazel_client.py`` plays it: it runs the stub the command
wrote, exactly as Bazel runs ``%workspace%/bazel/pyx-credential-helper get``.
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pytest

from bazel_client import BazelClient
from conftest import EMULATOR_API_KEY, RunPyxAuth, stub_environment
from pyx_auth.commands.config import helper_lines
from pyx_auth.emulator import PyxEmulator
from pyx_auth.settings import Settings

REPO = Path(__file__).resolve().parents[2]
PACKAGED_STUB = REPO / "helper" / "pyx_auth" / "data" / "pyx-credential-helper"
USER_LINES = "# my settings\nbuild --jobs=4\ntry-import %workspace%/user.bazelrc\n"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A fresh Bazel workspace whose .bazelrc already holds the user's own lines."""
    folder = tmp_path / "workspace"
    folder.mkdir()
    (folder / "MODULE.bazel").write_text('module(name = "demo")\n')
    (folder / ".bazelrc").write_text(USER_LINES)
    return folder


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(path.relative_to(folder)): (path.read_bytes(), path.stat().st_mode)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_setup_bazel_wires_a_workspace_and_a_second_run_changes_nothing(
    pyx_env: dict[str, str],
    emulator: PyxEmulator,
    workspace: Path,
    run_pyx_auth: RunPyxAuth,
) -> None:
    before = _snapshot(workspace)
    check = run_pyx_auth("setup", "bazel", "--check", cwd=workspace)
    assert check.returncode == 1, check.stderr
    assert "would create bazel/pyx-credential-helper" in check.stdout
    assert _snapshot(workspace) == before  # --check writes nothing

    first = run_pyx_auth("setup", "bazel", cwd=workspace)
    assert first.returncode == 0, first.stderr
    stub = workspace / "bazel" / "pyx-credential-helper"
    assert stub.read_bytes() == PACKAGED_STUB.read_bytes()
    assert os.access(stub, os.X_OK)
    rc = (workspace / ".bazelrc").read_text()
    assert rc.startswith(USER_LINES)  # every line the user had, in place
    for line in helper_lines(Settings(os.environ), "%workspace%/bazel/pyx-credential-helper"):
        assert line in rc.splitlines()
    assert "common --credential_helper=127.0.0.1=%workspace%/bazel/pyx-credential-helper" in rc

    bazel = BazelClient(
        [str(stub)],
        workspace=workspace,
        env=stub_environment({**os.environ, "PYX_API_KEY": EMULATOR_API_KEY}),
    )
    answer = bazel.call(f"{emulator.url}/simple/acme/main/")
    assert answer.authorization is not None
    assert emulator.verify(answer.authorization.removeprefix("Bearer ")) is not None

    wired = _snapshot(workspace)
    second = run_pyx_auth("setup", "bazel", cwd=workspace)
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith("nothing to change")
    assert _snapshot(workspace) == wired  # byte for byte, modes too
    clean = run_pyx_auth("setup", "bazel", "--check", "--dir", str(workspace))
    assert clean.returncode == 0 and clean.stdout.startswith("nothing to change")


def _download(bazel: BazelClient, url: str) -> bytes:
    """What Bazel's downloader does for each URL: ask the helper, send its headers."""
    headers = {name: values[0] for name, values in bazel.get(url).headers.items()}
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return bytes(response.read())


def test_setup_bazel_stub_serves_a_rules_python_fetch(
    pyx_env: dict[str, str],
    emulator: PyxEmulator,
    workspace: Path,
    run_pyx_auth: RunPyxAuth,
) -> None:
    """rules_python >= 2.0's order: the index's root listing, the project page, the wheel."""
    wheel = b"not really a wheel"
    emulator.add_file("acme", "main", "six", "six-1.17.0-py2.py3-none-any.whl", wheel)
    assert run_pyx_auth("setup", "bazel", cwd=workspace).returncode == 0
    stub = workspace / "bazel" / "pyx-credential-helper"
    env = stub_environment({**os.environ, "PYX_API_KEY": EMULATOR_API_KEY})
    bazel = BazelClient([str(stub)], workspace=workspace, env=env)
    index = f"{emulator.url}/simple/acme/main/"
    assert b"six" in _download(bazel, index)
    page = _download(bazel, f"{index}six/").decode()
    file_url = page.split('href="', 1)[1].split('"', 1)[0].split("#", 1)[0]
    assert _download(bazel, file_url) == wheel
    assert bazel.calls == 3 and emulator.counts()["access-token"] == 1


def test_setup_bazel_refuses_a_folder_outside_a_workspace(
    tmp_path: Path, run_pyx_auth: RunPyxAuth
) -> None:
    folder = tmp_path / "not-a-workspace"
    folder.mkdir()
    result = run_pyx_auth("setup", "bazel", "--dir", str(folder))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (
        f"pyx-auth: {folder} is not a Bazel workspace root (it has no MODULE.bazel,"
        " WORKSPACE.bazel, WORKSPACE); run this in the workspace root or pass --dir\n"
    )
    assert list(folder.iterdir()) == []


def test_setup_bazel_updates_an_older_stub_and_shows_the_change(
    workspace: Path, run_pyx_auth: RunPyxAuth
) -> None:
    stub = workspace / "bazel" / "pyx-credential-helper"
    stub.parent.mkdir()
    stub.write_text("#!/bin/sh\nexec pyx-auth \"$@\"  # an older stub\n")
    result = run_pyx_auth("setup", "bazel", cwd=workspace)
    assert result.returncode == 0, result.stderr
    assert "update bazel/pyx-credential-helper to this pyx-auth's stub:" in result.stdout
    assert '-exec pyx-auth "$@"  # an older stub' in result.stdout  # the diff is shown
    assert stub.read_bytes() == PACKAGED_STUB.read_bytes()
    assert os.access(stub, os.X_OK)


def test_setup_bazel_replaces_its_own_block_when_the_hosts_change(
    workspace: Path, run_pyx_auth: RunPyxAuth, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_pyx_auth("setup", "bazel", "--path", "tools/pyx", cwd=workspace).returncode == 0
    monkeypatch.setenv("PYX_API_URL", "https://pyx.example.com")
    monkeypatch.setenv("PYX_CDN_DOMAIN", "cdn.example.com")
    result = run_pyx_auth("setup", "bazel", "--path", "tools/pyx", cwd=workspace)
    assert result.returncode == 0, result.stderr
    assert "update the pyx-auth block in .bazelrc:" in result.stdout
    rc = (workspace / ".bazelrc").read_text()
    assert rc.startswith(USER_LINES) and rc.count("# >>> pyx-auth setup bazel") == 1
    assert "api.pyx.dev" not in rc
    assert "common --credential_helper=pyx.example.com=%workspace%/tools/pyx\n" in rc
    assert "common --credential_helper=*.cdn.example.com=%workspace%/tools/pyx\n" in rc
    assert os.access(workspace / "tools" / "pyx", os.X_OK)


@pytest.mark.parametrize("path", ["../outside", "/abs/stub", "a//b", "a=b"])
def test_setup_bazel_refuses_a_path_bazel_cannot_name(
    path: str, workspace: Path, run_pyx_auth: RunPyxAuth
) -> None:
    result = run_pyx_auth("setup", "bazel", "--path", path, cwd=workspace)
    assert result.returncode == 2
    assert "must be a relative path inside the workspace" in result.stderr
    assert result.stdout == "" and result.stderr.count("\n") <= 3  # argparse's usage + error


EXAMPLE = REPO / "bazel" / "examples" / "rules_python"


def test_rules_python_example_is_what_setup_bazel_writes(run_pyx_auth: RunPyxAuth) -> None:
    """The example's stub and .bazelrc block are current for the default pyx hosts."""
    result = run_pyx_auth("setup", "bazel", "--check", "--dir", str(EXAMPLE))
    assert result.returncode == 0, result.stdout
    assert "--credential_helper_timeout=" in (EXAMPLE / ".bazelrc").read_text()


def test_rules_python_example_index_and_files_reach_the_helper(
    run_pyx_auth: RunPyxAuth,
) -> None:
    """doctor, reading the example as Bazel reads it: its index host and the CDN are covered."""
    module = (EXAMPLE / "MODULE.bazel").read_text()
    assert 'pip.default(index_url = "https://api.pyx.dev/simple/acme/main")' in module
    assert "--hash=sha256:" in (EXAMPLE / "requirements_lock.txt").read_text()
    env = stub_environment(dict(os.environ))
    result = run_pyx_auth("doctor", "--json", "--dir", str(EXAMPLE), env=env)
    checks = {check["name"]: check for check in json.loads(result.stdout)["checks"]}
    assert checks[".bazelrc"]["status"] == "ok", checks[".bazelrc"]
    assert checks["stub"]["status"] == "ok" and checks["stub current"]["status"] == "ok"
    assert checks["stub runs"]["status"] == "ok", checks["stub runs"]
