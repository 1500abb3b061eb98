"""The frozen one-dir bundle (``bash scripts/freeze.sh``): what only a frozen build can get wrong.

These tests run only when ``PYX_AUTH_TEST_BIN`` names the bundle's executable (``.ci/run`` sets
it for its second pass; the rest of that pass runs the usual protocol, token and Docker tests
against the same binary). A frozen program has no interpreter to ask, so the bundle's entry
script writes a report of what a run imported and found when ``PYX_AUTH_FROZEN_REPORT`` is set
(see ``packaging/entry.py``); ``python packaging/entry.py`` writes the same report from the
pip-installed packages, for comparison.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import EMULATOR_API_KEY, FROZEN_BIN, REQUIRE_TOOLS, RunPyxAuth
from container_images import system_libraries
from pyx_auth import __version__
from pyx_auth.emulator import PyxEmulator

pytestmark = pytest.mark.skipif(
    not FROZEN_BIN,
    reason="PYX_AUTH_TEST_BIN is not set (bash scripts/freeze.sh builds dist/pyx-auth/pyx-auth)",
)

REPO = Path(__file__).resolve().parents[1]
ENTRY_SCRIPT = REPO / "packaging" / "entry.py"
DOCKERFILE = REPO / "docker" / "Dockerfile.ci-image"
STUB = REPO / "helper" / "pyx_auth" / "data" / "pyx-credential-helper"  # bazel/ links to it
REPORT_VARIABLE = "PYX_AUTH_FROZEN_REPORT"

NOT_ON_THE_CACHE_HIT = ("httpx", "httpcore", "jwt", "keyring", "cryptography", "certifi")
"""Third-party imports that a cache-hit ``get`` must not load (the style's rule 2)."""
STARTUP_IMPORTS_TRIMMED = ("argparse", "inspect", "pkgutil", "multiprocessing", "zipfile", "ctypes")
"""Imported on every start by an untrimmed bundle (PyInstaller's run-time hooks) or by argparse."""


@pytest.fixture(scope="module")
def executable() -> Path:
    """The bundle's executable; a set but wrong PYX_AUTH_TEST_BIN fails rather than skips."""
    assert FROZEN_BIN
    path = Path(FROZEN_BIN)
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"PYX_AUTH_TEST_BIN={FROZEN_BIN} is not an executable file")
    if not (path.parent / "_internal").is_dir():
        pytest.fail(f"PYX_AUTH_TEST_BIN={FROZEN_BIN} is not a one-dir bundle (no _internal/)")
    return path


def _report(
    argv: list[str], tmp_path: Path, *args: str, input: str = ""
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """Run ``argv + args`` with the report switched on; the result and the report."""
    report = tmp_path / f"report-{uuid.uuid4().hex}.json"
    result = subprocess.run(
        [*argv, *args],
        input=input,
        capture_output=True,
        text=True,
        env={**os.environ, REPORT_VARIABLE: str(report)},
        timeout=60,
        check=False,
    )
    assert report.exists(), f"no report written; stderr: {result.stderr}"
    loaded: dict[str, Any] = json.loads(report.read_text())
    return result, loaded


def _bearer(answer: str) -> str:
    headers = json.loads(answer)["headers"]
    (value,) = headers["Authorization"]
    assert value.startswith("Bearer ")
    return str(value.removeprefix("Bearer "))


def test_frozen_bundle_is_one_dir_and_reports_the_package_version(
    executable: Path, run_pyx_auth: RunPyxAuth, tmp_path: Path
) -> None:
    result = run_pyx_auth("--version")
    assert (result.returncode, result.stdout, result.stderr) == (0, f"pyx-auth {__version__}\n", "")
    _, report = _report([str(executable)], tmp_path, "--version")
    assert report["frozen"] is True
    assert report["bundle_dir"] == str((executable.parent / "_internal").resolve())


def test_frozen_cache_hit_get_imports_only_the_standard_library(
    executable: Path,
    emulator: PyxEmulator,
    pyx_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("PYX_API_KEY", EMULATOR_API_KEY)
    minted, slow = _report([str(executable)], tmp_path, "token")
    assert minted.returncode == 0, minted.stderr
    assert "httpx" in slow["modules"]  # the report does see what the slow path imports

    request = json.dumps({"uri": f"{emulator.url}/simple/acme/main/"})
    answered, fast = _report([str(executable)], tmp_path, "get", input=request)
    assert answered.returncode == 0, answered.stderr
    assert _bearer(answered.stdout) == minted.stdout.strip()
    assert emulator.counts()["access-token"] == 1
    modules = set(fast["modules"])
    loaded = {name for name in modules if name.split(".")[0] in NOT_ON_THE_CACHE_HIT}
    assert loaded == set()
    assert modules & set(STARTUP_IMPORTS_TRIMMED) == set()


def test_frozen_keyring_finds_the_same_backends_as_installed_keyring(
    executable: Path, tmp_path: Path
) -> None:
    """Entry-point metadata and backend modules are bundled: keyring's view matches a pip install.

    Headless here (no D-Bus), SecretService is not viable either way, but the reason differs
    when its modules are missing from the bundle ("SecretStorage required").
    """
    _, frozen = _report([str(executable)], tmp_path, "--version")
    _, installed = _report([sys.executable, str(ENTRY_SCRIPT)], tmp_path, "--version")
    assert isinstance(frozen["keyring"], dict), frozen["keyring"]
    assert frozen["keyring"] == installed["keyring"]
    assert frozen["keyring"]["entry_points"]["SecretService"] == "ok"


def test_frozen_ca_bundle_is_inside_the_bundle(executable: Path, tmp_path: Path) -> None:
    _, report = _report([str(executable)], tmp_path, "--version")
    tls = report["tls"]
    assert isinstance(tls, dict), tls
    assert tls["ca_file_exists"] is True
    assert Path(tls["ca_file"]).resolve().is_relative_to(executable.parent.resolve())
    assert tls["ca_certs"] >= 100


def test_frozen_archive_holds_the_bundle_and_matches_its_checksum(executable: Path) -> None:
    dist = executable.parent.parent
    archives = sorted(dist.glob(f"pyx-auth-{__version__}-linux-*.tar.gz"))
    if not archives:
        pytest.skip(f"no pyx-auth-{__version__}-linux-*.tar.gz beside {executable.parent}")
    (archive,) = archives
    recorded, name = Path(f"{archive}.sha256").read_text().split()
    assert name == archive.name
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == recorded
    bundle = executable.parent
    on_disk = {
        str(Path(bundle.name) / path.relative_to(bundle))
        for path in bundle.rglob("*")
        if not path.is_dir()
    }
    with tarfile.open(archive) as tar:
        members = {member.name for member in tar.getmembers() if not member.isdir()}
    assert members == on_disk


# -- the example CI image: the bundle in an image without Python ---------------------------------


def _buildah(*args: str, timeout: float = 300) -> str:
    result = subprocess.run(
        ["buildah", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"buildah {' '.join(args)}: {result.stderr[-2000:]}"
    return result.stdout


@pytest.fixture
def glibc_base(require_tool: Callable[[str], str], tmp_path: Path) -> Iterator[str]:
    """A local base image with only busybox and the glibc the bundle links to: no Python.

    Stands in for debian:bookworm-slim, which cannot be pulled here (no registry access).
    """
    require_tool("buildah")
    busybox = require_tool("busybox")
    require_tool("ldd")
    if os.geteuid() != 0:
        message = "building images with buildah needs root"
        if REQUIRE_TOOLS:
            pytest.fail(message)
        pytest.skip(message)
    assert FROZEN_BIN
    rootfs = tmp_path / "base" / "rootfs"
    for folder in ("bin", "tmp", "usr/local/bin", "etc"):
        (rootfs / folder).mkdir(parents=True)
    shutil.copy(busybox, rootfs / "bin" / "busybox")
    for library in system_libraries(Path(FROZEN_BIN).parent):
        target = rootfs / library.relative_to("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(library.resolve(), target)
    (rootfs / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (tmp_path / "base" / "Containerfile").write_text(
        "FROM scratch\nCOPY rootfs/ /\nENV PATH=/usr/local/bin:/usr/bin:/bin\n"
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
    )
    tag = f"localhost/pyx-auth-test-glibc:{uuid.uuid4().hex[:12]}"
    _buildah("build", "--quiet", "--isolation", "chroot", "-t", tag, str(tmp_path / "base"))
    try:
        yield tag
    finally:
        _buildah("rmi", "--force", tag)


@pytest.fixture
def ci_container(glibc_base: str, executable: Path, tmp_path: Path) -> Iterator[str]:
    """A container of docker/Dockerfile.ci-image built on ``glibc_base``, with the Bazel stub."""
    context = tmp_path / "context"
    shutil.copytree(executable.parent, context / "dist" / "pyx-auth", symlinks=True)
    tag = f"localhost/pyx-auth-test-ci:{uuid.uuid4().hex[:12]}"
    _buildah(
        "build", "--quiet", "--isolation", "chroot", "--build-arg", f"BASE={glibc_base}",
        "-f", str(DOCKERFILE), "-t", tag, str(context),
    )  # fmt: skip
    container = _buildah("from", "--quiet", tag).strip()
    try:
        _buildah("copy", "--quiet", container, str(STUB), "/workspace/bazel/pyx-credential-helper")
        yield container
    finally:
        _buildah("rm", container)
        _buildah("rmi", "--force", tag)


def _run_in(container: str, script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    variables = [item for name, value in env.items() for item in ("--env", f"{name}={value}")]
    return subprocess.run(
        ["buildah", "run", "--isolation", "chroot", "--network", "host", *variables, container,
         "--", "/bin/sh", "-c", script],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_ci_image_runs_the_bundle_without_python(
    ci_container: str, emulator: PyxEmulator, executable: Path
) -> None:
    """The example image: `pyx-auth` on PATH and the Bazel stub via PYX_AUTH_BIN, no Python.

    Mocked: the base image (busybox + the host's glibc instead of debian:bookworm-slim), which
    has no /bin/bash, so the stub runs under busybox sh, as its comment tells such systems to.
    """
    env = {
        "PYX_API_URL": emulator.url,
        "PYX_API_KEY": EMULATOR_API_KEY,
        "PYX_CREDENTIALS_DIR": "/tmp/pyx-credentials",
    }
    no_python = _run_in(ci_container, "command -v python3 python || echo none", env)
    assert no_python.stdout == "none\n"

    minted = _run_in(ci_container, "pyx-auth token", env)  # httpx, TLS set-up, the store
    assert minted.returncode == 0, minted.stderr
    token = minted.stdout.strip()
    assert emulator.verify(token) is not None

    request = json.dumps({"uri": f"{emulator.url}/simple/acme/main/"})
    answered = _run_in(
        ci_container, f"echo '{request}' | sh /workspace/bazel/pyx-credential-helper get", env
    )
    assert answered.returncode == 0, answered.stderr
    assert _bearer(answered.stdout) == token
    assert emulator.counts()["access-token"] == 1


def test_frozen_bundle_carries_the_public_suffix_list(executable: Path) -> None:
    """A custom PYX_CDN_DOMAIN is checked against the PSL snapshot inside the bundle."""
    answers = {}
    for domain in ("github.io", "cdn.corp.example"):
        answers[domain] = subprocess.run(
            [str(executable), "config", "bazelrc"],
            capture_output=True,
            text=True,
            env={**os.environ, "PYX_API_URL": "https://pyx.corp.example", "PYX_CDN_DOMAIN": domain},
            timeout=60,
            check=False,
        )
    refused, accepted = answers["github.io"], answers["cdn.corp.example"]
    assert refused.returncode == 2 and "not a public suffix" in refused.stderr, refused.stderr
    assert accepted.returncode == 0, accepted.stderr
