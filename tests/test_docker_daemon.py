"""Docker builds with pyx secrets on a real Docker daemon, and on podman.

A session fixture starts Debian's ``dockerd`` (docker.io: daemon 20.10 with its built-in
BuildKit) as root in a fresh temporary folder with its own socket, vfs storage and no bridge
(so builds and containers use ``--network host`` to reach the emulator on 127.0.0.1), and stops
it by its pid at the end. The CLI is the one installed with that daemon (``/usr/bin/docker``
for ``/usr/sbin/dockerd``), not whatever ``docker`` comes first on PATH: Debian's 20.10 CLI has
no buildx plugin, so these builds take pyx-buildx's classic ``DOCKER_BUILDKIT=1 docker build``
path. No buildx plugin can be installed here (Debian 12 has no docker-buildx package), so the
``buildx build`` path is covered only by tests/test_docker.py's stand-in. Base images are built
``FROM scratch`` from local tarballs (tests/container_images.py); nothing is pulled.

Mocked: pyx (the emulator), and the registry images the Dockerfiles name (local stand-ins,
said in each test).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from conftest import EMULATOR_API_KEY, FROZEN_BIN, REQUIRE_TOOLS, RunPyxAuth
from container_images import (
    add_busybox,
    add_libraries,
    add_python,
    is_static_elf,
    ldd_libraries,
    system_libraries,
)
from demo_wheel import MODULE as WHEEL_MODULE
from demo_wheel import PROJECT as WHEEL_PROJECT
from demo_wheel import build_wheel
from docker_builds import (
    BUILD_TIMEOUT,
    DOCKER_DIR,
    NETRC_STEP,
    PROJECT,
    TOKEN_STEP,
    VIEW,
    WORKSPACE,
    BuildxRun,
    context,
    log_lines,
)
from pyx_auth.emulator import PyxEmulator

BUSYBOX_IMAGE = "pyx-test-busybox"
PYTHON_IMAGE = "pyx-test-python"
DOCKERFILE_TOKEN = f"FROM {BUSYBOX_IMAGE}\nARG INDEX_URL\n{TOKEN_STEP}"
DOCKERFILE_BOTH = f"FROM {BUSYBOX_IMAGE}\nARG INDEX_URL\n{TOKEN_STEP}{NETRC_STEP}"
SECRET_STEP = "RUN --mount=type=secret,id=pyx_auth_token,required=true"
START_TIMEOUT = 60
TMPFS_SIZE = "6g"


def _unavailable(message: str) -> NoReturn:
    if REQUIRE_TOOLS:
        pytest.fail(message)
    pytest.skip(message)


def _mounts_under(root: Path) -> list[str]:
    """Mount points at or below ``root``, deepest first (fields of /proc/self/mountinfo)."""
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == str(root) or point.startswith(f"{root}/"):
            points.append(point)
    return sorted(points, key=len, reverse=True)


class DockerDaemon:
    """One dockerd with everything (socket, data, state, pid file, log) in ``root``."""

    def __init__(self, root: Path, dockerd: str, cli: str) -> None:
        self.root, self.dockerd, self.cli = root, dockerd, cli
        self.socket = root / "docker.sock"
        self.env = {
            "DOCKER_HOST": f"unix://{self.socket}",
            "DOCKER_CONFIG": str(root / "client-config"),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.root / "dockerd.log", "wb") as log:
            self.process = subprocess.Popen(
                [
                    self.dockerd, "--storage-driver", "vfs", "--bridge", "none",
                    "--iptables=false", "--ip6tables=false",
                    "--data-root", str(self.root / "root"), "--exec-root", str(self.root / "exec"),
                    "--pidfile", str(self.root / "pid"), "-H", self.env["DOCKER_HOST"],
                ],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"dockerd exited with {self.process.returncode}: {self.log_tail()}")
            if self.socket.exists() and self.run("version", check=False).returncode == 0:
                return
            time.sleep(0.2)
        pytest.fail(f"dockerd did not answer within {START_TIMEOUT} s: {self.log_tail()}")

    def log_tail(self) -> str:
        return (self.root / "dockerd.log").read_text(errors="replace")[-2000:]

    def stop(self) -> None:
        """SIGTERM by pid (dockerd then stops its containerd), SIGKILL if it hangs; unmount
        whatever is still mounted below ``root`` and delete it: the next session starts clean."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        containerd_pid = self.root / "exec" / "containerd" / "containerd.pid"
        if containerd_pid.exists():  # left only when dockerd could not stop it
            with contextlib.suppress(ValueError, ProcessLookupError):
                os.kill(int(containerd_pid.read_text()), signal.SIGKILL)
        for point in _mounts_under(self.root):
            subprocess.run(["umount", "--lazy", point], check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def run(
        self, *args: str, check: bool = True, timeout: float = BUILD_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """The daemon's CLI; ``docker build`` with BuildKit (DOCKER_BUILDKIT=1)."""
        result = subprocess.run(
            [self.cli, *args],
            env={**os.environ, **self.env, "DOCKER_BUILDKIT": "1"},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check:
            assert result.returncode == 0, f"docker {' '.join(args)}: {result.stderr[-3000:]}"
        return result

    def build_base(self, image: str, rootfs: Path, base: str = "scratch") -> None:
        """``image`` = ``base`` plus the tarball ``rootfs`` (a local file, no pull)."""
        folder = rootfs.parent
        (folder / "Dockerfile").write_text(f"FROM {base}\nADD {rootfs.name} /\n")
        self.run("build", "--quiet", "-t", image, str(folder))

    def image_id(self, image: str) -> str:
        return self.run("image", "inspect", "--format", "{{.Id}}", image).stdout.strip()


@pytest.fixture(scope="session")
def docker_daemon() -> Iterator[DockerDaemon]:
    if os.geteuid() != 0:
        _unavailable("dockerd needs root")
    dockerd = shutil.which("dockerd") or _unavailable(
        "dockerd is not installed (bash scripts/test.sh installs docker.io as root)"
    )
    real = Path(dockerd).resolve()  # its own CLI: /usr/sbin/dockerd, /usr/bin/docker
    beside = (real.with_name("docker"), real.parent.parent / "bin" / "docker")
    cli = next((path for path in beside if os.access(path, os.X_OK)), None) or _unavailable(
        f"no docker CLI installed with {dockerd}"
    )
    root = Path(tempfile.mkdtemp(prefix="pyx-dockerd-"))  # short: sockets live below it
    # In memory: vfs copies every layer whole (1 GB, 20,000 files by the end), and deleting that
    # from this machine's disk (mounted with discard) takes over 30 s; unmounting takes none.
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=0700", "tmpfs", str(root)],
        capture_output=True, check=False,
    )  # fmt: skip
    daemon = DockerDaemon(root, dockerd, str(cli))
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture(scope="session")
def busybox_rootfs() -> Path:
    busybox = shutil.which("busybox") or _unavailable(
        "busybox is not installed (bash scripts/test.sh installs busybox-static as root)"
    )
    if not is_static_elf(busybox):
        pytest.fail(f"{busybox} is not statically linked: apt-get install busybox-static")
    return Path(busybox)


@pytest.fixture(scope="session")
def busybox_image(
    docker_daemon: DockerDaemon, busybox_rootfs: Path, tmp_path_factory: pytest.TempPathFactory
) -> str:
    tarball = tmp_path_factory.mktemp("busybox-image") / "rootfs.tar"
    with tarfile.open(tarball, "w") as archive:
        add_busybox(archive, str(busybox_rootfs))
    docker_daemon.build_base(BUSYBOX_IMAGE, tarball)
    return BUSYBOX_IMAGE


@pytest.fixture(scope="session")
def python_image(
    docker_daemon: DockerDaemon, busybox_rootfs: Path, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """busybox plus this machine's Python and the test environment's pip: no Python image."""
    tarball = tmp_path_factory.mktemp("python-image") / "rootfs.tar"
    with tarfile.open(tarball, "w") as archive:
        add_busybox(archive, str(busybox_rootfs))
        add_python(archive)
    docker_daemon.build_base(PYTHON_IMAGE, tarball)
    return PYTHON_IMAGE


@pytest.fixture
def index_url(emulator: PyxEmulator) -> str:
    emulator.add_file(WORKSPACE, VIEW, PROJECT, "pyx_demo-1.0-py3-none-any.whl", b"not a wheel")
    return f"{emulator.url}/simple/{WORKSPACE}/{VIEW}/"


@pytest.fixture
def buildx(
    docker_daemon: DockerDaemon,
    pyx_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> BuildxRun:
    """pyx-buildx with the daemon's CLI as ``docker`` on PATH and PYX_API_KEY set."""
    monkeypatch.setenv("PYX_API_KEY", EMULATOR_API_KEY)
    runner = BuildxRun(tmp_path, {**os.environ, **docker_daemon.env})
    (runner.bin / "docker").symlink_to(docker_daemon.cli)
    return runner


def _build_args(index_url: str, folder: Path, *extra: str) -> list[str]:
    return ["--progress", "plain", "--network", "host", "--build-arg", f"INDEX_URL={index_url}",
            *extra, str(folder)]  # fmt: skip


def _step_number(output: str, step: str) -> str:
    """BuildKit's ``#N`` for the step whose plain-progress title contains ``step``."""
    for line in output.splitlines():
        if line.startswith("#") and "] " in line and step in line:
            return line.split()[0]
    raise AssertionError(f"no step {step!r} in the build output:\n{output}")


def _cached_token(run_pyx_auth: RunPyxAuth) -> str:
    """The token pyx-buildx used: the store's, as a cache hit returns it."""
    result = run_pyx_auth("token")
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


# -- 1. the token secret, through pyx-buildx and Debian's CLI without buildx ---------------------


def test_pyx_buildx_without_the_buildx_plugin_fetches_the_index_with_the_token_secret(
    docker_daemon: DockerDaemon,
    busybox_image: str,
    buildx: BuildxRun,
    emulator: PyxEmulator,
    index_url: str,
    tmp_path: Path,
) -> None:
    assert docker_daemon.run("buildx", "version", check=False).returncode != 0, (
        "this CLI has the buildx plugin: the test is about the CLI without it"
    )
    folder = context(tmp_path, DOCKERFILE_TOKEN)

    without = docker_daemon.run("build", *_build_args(index_url, folder), check=False)
    assert without.returncode != 0, "the required secret step must fail without the secret"
    step = _step_number(without.stderr, SECRET_STEP)
    assert f"{step} ERROR: secret pyx_auth_token not found: not found" in without.stderr
    assert emulator.counts()["simple"] == 0, "the step never ran"

    result = buildx.run(*_build_args(index_url, folder, "-t", "pyx-test-token"), PYX_AUTH_DEBUG="1")
    print(result.stderr)
    assert result.returncode == 0, result.stderr
    version = docker_daemon.run("version", "--format", "{{.Client.Version}}").stdout.strip()
    assert result.stderr.startswith(
        f"pyx-buildx: engine: DOCKER_BUILDKIT=1 docker build (Docker version {version},"
    )
    assert log_lines(result.stderr) == [
        f"pyx-test: GET {index_url} with the Bearer token: OK",
        f'pyx-test: index links to href="{index_url}{PROJECT}/"',
    ]
    assert emulator.counts()["simple"] == 1
    assert list(buildx.tmpdir.iterdir()) == [], "the netrc secret is deleted after the build"


# -- 2. the netrc secret: real pip in the build installs a real wheel from pyx -------------------


def test_pyx_buildx_netrc_secret_lets_pip_in_the_build_install_a_wheel_from_pyx(
    python_image: str, buildx: BuildxRun, emulator: PyxEmulator, tmp_path: Path
) -> None:
    emulator.add_file(WORKSPACE, VIEW, WHEEL_PROJECT, *build_wheel())
    index_url = f"{emulator.url}/simple/{WORKSPACE}/{VIEW}/"
    dockerfile = f"""\
FROM {python_image}
ARG INDEX_URL
RUN --mount=type=secret,id=pyx_netrc,target=/root/.netrc,required=true \\
    python3 -m pip install --no-cache-dir --disable-pip-version-check --root-user-action=ignore \\
      --no-deps --index-url "$INDEX_URL" {WHEEL_PROJECT} \\
    && python3 -c 'import {WHEEL_MODULE}; print("pyx-test: {WHEEL_MODULE}.ANSWER =", \\
      {WHEEL_MODULE}.ANSWER)'
"""
    folder = context(tmp_path, dockerfile)
    result = buildx.run(*_build_args(index_url, folder, "-t", "pyx-test-pip"))
    print("\n".join(line for line in result.stderr.splitlines() if " RUN " in line
                    or "Successfully" in line or "pyx-test:" in line))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Successfully installed pyx-netrc-demo-1.0" in result.stderr
    assert log_lines(result.stderr) == [f"pyx-test: {WHEEL_MODULE}.ANSWER = 42"]
    counts = emulator.counts()
    assert counts["simple"] >= 1 and counts["files"] == 1, "index and wheel both came from pyx"


# -- 3. neither the token nor the API key in the image ------------------------------------------


def test_image_save_and_history_hold_neither_the_token_nor_the_api_key(
    docker_daemon: DockerDaemon,
    busybox_image: str,
    buildx: BuildxRun,
    run_pyx_auth: RunPyxAuth,
    index_url: str,
    tmp_path: Path,
) -> None:
    folder = context(tmp_path, DOCKERFILE_BOTH)
    result = buildx.run(*_build_args(index_url, folder, "-t", "pyx-test-both"))
    assert result.returncode == 0, result.stderr
    assert len(log_lines(result.stderr)) == 4, result.stderr
    token = _cached_token(run_pyx_auth)

    saved = tmp_path / "image.tar"
    docker_daemon.run("save", "-o", str(saved), "pyx-test-both")
    image = saved.read_bytes()
    history = docker_daemon.run("history", "--no-trunc", "pyx-test-both").stdout
    assert f'href="{index_url}{PROJECT}/"'.encode() in image, "the scan sees the layers' files"
    assert "cat /run/secrets/pyx_auth_token" in history, "the scan sees the steps' history"
    for secret in (token, EMULATOR_API_KEY):
        assert secret.encode() not in image
        assert secret not in history
    inspected = docker_daemon.run("image", "inspect", "pyx-test-both").stdout
    assert token not in inspected and EMULATOR_API_KEY not in inspected
    assert token not in json.dumps(result.stdout + result.stderr)


# -- 4. a new token does not bust the layer cache ------------------------------------------------


def test_a_new_token_leaves_the_secret_step_cached_and_the_image_unchanged(
    docker_daemon: DockerDaemon,
    busybox_image: str,
    buildx: BuildxRun,
    run_pyx_auth: RunPyxAuth,
    emulator: PyxEmulator,
    index_url: str,
    store_root: Path,
    tmp_path: Path,
) -> None:
    folder = context(tmp_path, DOCKERFILE_TOKEN)
    args = _build_args(index_url, folder, "-t", "pyx-test-cache")
    first = buildx.run(*args)
    assert first.returncode == 0, first.stderr
    first_token, first_image = _cached_token(run_pyx_auth), docker_daemon.image_id("pyx-test-cache")
    shutil.rmtree(store_root)  # the next pyx-buildx must mint a new token

    second = buildx.run(*args)
    assert second.returncode == 0, second.stderr
    second_token = _cached_token(run_pyx_auth)
    assert second_token != first_token and emulator.counts()["access-token"] == 2
    step = _step_number(second.stderr, SECRET_STEP)
    print("\n".join(line for line in second.stderr.splitlines() if line.startswith(f"{step} ")))
    assert f"{step} CACHED" in second.stderr.splitlines()
    assert docker_daemon.image_id("pyx-test-cache") == first_image
    assert emulator.counts()["simple"] == 1, "the cached step did not fetch the index again"


# -- 5. the token on no command line during the build --------------------------------------------


def test_the_token_is_on_no_command_line_while_the_build_runs(
    busybox_image: str,
    buildx: BuildxRun,
    run_pyx_auth: RunPyxAuth,
    emulator: PyxEmulator,
    tmp_path: Path,
) -> None:
    """Every process's /proc/PID/cmdline, read over and over until the build ends: pyx-buildx,
    pyx-auth, the docker CLI, dockerd, containerd, runc and the build step itself."""
    marker = "pyx-test-step-is-running"
    dockerfile = f"""\
FROM {busybox_image}
RUN --mount=type=secret,id=pyx_auth_token,required=true \\
    --mount=type=secret,id=pyx_netrc,target=/root/.netrc,required=true \\
    test -s /run/secrets/pyx_auth_token && test -s /root/.netrc && sleep 2 && echo {marker}
"""
    folder = context(tmp_path, dockerfile)
    seen: set[bytes] = set()
    with subprocess.Popen(
        buildx.argv("--progress", "plain", "--network", "host", "--no-cache", str(folder)),
        env=buildx.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    ) as process:
        deadline = time.monotonic() + BUILD_TIMEOUT
        while process.poll() is None and time.monotonic() < deadline:
            for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                with contextlib.suppress(OSError):  # the process ended meanwhile
                    seen.add(cmdline.read_bytes())
            time.sleep(0.01)
        stderr = process.communicate(timeout=BUILD_TIMEOUT)[1].decode()
    assert process.returncode == 0, stderr
    token = _cached_token(run_pyx_auth)
    assert emulator.counts()["access-token"] == 1
    assert any(b"id=pyx_auth_token,env=PYX_AUTH_TOKEN" in line for line in seen), "saw the CLI"
    assert any(marker.encode() in line for line in seen), "saw the build step"
    assert not [line for line in seen if token.encode() in line]


# -- docker/Dockerfile.example with the built-in frontend -----------------------------------------


def test_dockerfile_example_netrc_stage_builds_with_the_built_in_frontend(
    docker_daemon: DockerDaemon,
    python_image: str,
    buildx: BuildxRun,
    run_pyx_auth: RunPyxAuth,
    emulator: PyxEmulator,
    uv: str,
    tmp_path: Path,
) -> None:
    """The example as published, ``--target netrc``: Docker 20.10 parses the whole file (no
    ``# syntax=`` line, so nothing pulled) and uv 0.12.6 syncs a locked project from pyx.

    Stand-ins: ``BASE`` is the local Python image plus uv's libraries, ``UV_IMAGE`` holds this
    machine's uv 0.12.6 (the registry images cannot be pulled here)."""
    emulator.add_file(WORKSPACE, VIEW, WHEEL_PROJECT, *build_wheel())
    index_url = f"{emulator.url}/simple/{WORKSPACE}/{VIEW}/"
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        f'[project]\nname = "app"\nversion = "0"\nrequires-python = ">=3.11"\n'
        f'dependencies = ["{WHEEL_PROJECT}"]\n\n[tool.uv]\npackage = false\n\n'
        f'[[tool.uv.index]]\nname = "pyx"\nurl = "{index_url}"\ndefault = true\n'
    )
    netrc = tmp_path / "lock.netrc"
    assert run_pyx_auth("token", "--format", "netrc", "--output", str(netrc)).returncode == 0
    locked = subprocess.run(
        [uv, "lock", "--directory", str(project)],
        env={"PATH": os.environ["PATH"], "HOME": os.environ["HOME"], "NETRC": str(netrc),
             "UV_CACHE_DIR": str(tmp_path / "uv-cache")},
        capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False,
    )  # fmt: skip
    assert locked.returncode == 0, locked.stderr
    netrc.unlink()
    fetched_for_the_lock = emulator.counts()["files"]

    uv_image, uv_base = tmp_path / "uv-image", tmp_path / "uv-base"
    uv_image.mkdir()
    uv_base.mkdir()
    with tarfile.open(uv_image / "rootfs.tar", "w") as archive:
        archive.add(uv, "uv")
        archive.add(Path(uv).with_name("uvx"), "uvx")
    docker_daemon.build_base("pyx-test-uv", uv_image / "rootfs.tar")
    with tarfile.open(uv_base / "rootfs.tar", "w") as archive:
        add_libraries(archive, ldd_libraries([Path(uv)]))
    docker_daemon.build_base("pyx-test-uv-base", uv_base / "rootfs.tar", python_image)
    result = buildx.run(
        "--progress", "plain", "--network", "host", "-f", str(DOCKER_DIR / "Dockerfile.example"),
        "--build-arg", "BASE=pyx-test-uv-base", "--build-arg", "UV_IMAGE=pyx-test-uv",
        "--target", "netrc", "-t", "pyx-test-example", str(project),
    )  # fmt: skip
    print("\n".join(line for line in result.stderr.splitlines() if "uv sync" in line
                    or "Installed" in line or "pyx-netrc-demo" in line))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "docker/dockerfile" not in result.stderr, "the built-in frontend, none pulled"
    answer = docker_daemon.run(
        "run", "--rm", "pyx-test-example", "/app/.venv/bin/python", "-c",
        f"import {WHEEL_MODULE}; print({WHEEL_MODULE}.ANSWER)",
    )  # fmt: skip
    assert answer.stdout == "42\n"
    assert emulator.counts()["files"] > fetched_for_the_lock, "the build got the wheel from pyx"


# -- 6. the CI image: the frozen bundle in an image without Python -------------------------------


@pytest.mark.skipif(
    not FROZEN_BIN,
    reason="PYX_AUTH_TEST_BIN is not set (bash scripts/freeze.sh builds dist/pyx-auth/pyx-auth)",
)
def test_ci_image_built_by_docker_prints_a_token_from_pyx(
    docker_daemon: DockerDaemon,
    busybox_rootfs: Path,
    emulator: PyxEmulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """docker/Dockerfile.ci-image on a base of busybox and the bundle's system libraries, which
    stands in for debian:bookworm-slim (no registry access here)."""
    assert FROZEN_BIN
    bundle = Path(FROZEN_BIN).parent
    base = tmp_path / "base"
    base.mkdir()
    with tarfile.open(base / "rootfs.tar", "w") as archive:
        add_busybox(archive, str(busybox_rootfs))
        add_libraries(archive, system_libraries(bundle))
    docker_daemon.build_base("pyx-test-glibc", base / "rootfs.tar")
    folder = tmp_path / "context"
    shutil.copytree(bundle, folder / "dist" / "pyx-auth", symlinks=True)
    built = docker_daemon.run(
        "build", "--progress", "plain", "--network", "host", "--build-arg", "BASE=pyx-test-glibc",
        "-f", str(DOCKER_DIR / "Dockerfile.ci-image"), "-t", "pyx-test-ci", str(folder),
    )  # fmt: skip
    assert "pyx-auth " in built.stderr, "the image's RUN step ran pyx-auth --version"

    def run_in_image(*command: str) -> subprocess.CompletedProcess[str]:
        return docker_daemon.run(
            "run", "--rm", "--network", "host", "-e", f"PYX_API_URL={emulator.url}",
            "-e", "PYX_API_KEY", "-e", "PYX_CREDENTIALS_DIR=/tmp/pyx-credentials",
            "pyx-test-ci", *command, check=False,
        )  # fmt: skip

    monkeypatch.setenv("PYX_API_KEY", EMULATOR_API_KEY)  # read by `docker run -e PYX_API_KEY`
    no_python = run_in_image("sh", "-c", "command -v python3 python || echo none")
    minted = run_in_image("pyx-auth", "token")
    assert no_python.stdout == "none\n", no_python.stderr
    assert minted.returncode == 0, minted.stderr
    assert emulator.verify(minted.stdout.strip()) is not None
    assert emulator.counts()["access-token"] == 1


# -- a CLI that cannot take BuildKit secrets -----------------------------------------------------


def _clis_without_buildkit(daemon_cli: str) -> list[str]:
    """``docker`` executables on PATH, other than the daemon's, of Docker 23 or later without
    the buildx plugin (such a CLI has no BuildKit: the stock static client is one)."""
    found = []
    for folder in os.environ["PATH"].split(os.pathsep):
        candidate = Path(folder) / "docker"
        if not os.access(candidate, os.X_OK) or candidate.resolve() == Path(daemon_cli).resolve():
            continue
        version = subprocess.run(
            [str(candidate), "--version"], capture_output=True, text=True, check=False
        ).stdout
        plugin = subprocess.run(
            [str(candidate), "buildx", "version"], capture_output=True, check=False
        ).returncode
        major = version.removeprefix("Docker version ").split(".")[0]
        if major.isdigit() and int(major) >= 23 and plugin != 0:
            found.append(str(candidate))
    return found


def test_pyx_buildx_with_a_cli_without_buildkit_fails_before_minting(
    docker_daemon: DockerDaemon, buildx: BuildxRun, emulator: PyxEmulator
) -> None:
    clis = _clis_without_buildkit(docker_daemon.cli)
    if not clis:
        pytest.skip("no Docker >= 23 CLI without the buildx plugin on this machine")
    result = buildx.run(".", PYX_DOCKER=clis[0])
    assert result.returncode == 2
    assert result.stderr == (
        f"pyx-buildx: '{clis[0]}' cannot take BuildKit secrets (no buildx plugin, no --secret"
        " in its 'build' with DOCKER_BUILDKIT=1): install the buildx plugin, or set"
        " PYX_DOCKER=podman; no token was minted\n"
    )
    assert emulator.counts()["access-token"] == 0
    assert buildx.pyx_auth_calls() == []


# -- 7. podman ------------------------------------------------------------------------------------


@pytest.fixture
def podman(busybox_rootfs: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """podman as root with vfs storage in a temporary folder (CONTAINERS_STORAGE_CONF), and
    ``localhost/pyx-test-busybox`` built in it from the tarball."""
    if os.geteuid() != 0:
        _unavailable("podman with vfs storage needs root here")
    path = shutil.which("podman") or _unavailable(
        "podman is not installed (bash scripts/test.sh installs it as root)"
    )
    storage = tmp_path / "podman"
    storage.mkdir()
    conf = storage / "storage.conf"
    conf.write_text(
        f'[storage]\ndriver = "vfs"\ngraphroot = "{storage / "graph"}"\n'
        f'runroot = "{storage / "run"}"\n'
    )
    monkeypatch.setenv("CONTAINERS_STORAGE_CONF", str(conf))
    base = tmp_path / "podman-base"
    base.mkdir()
    with tarfile.open(base / "rootfs.tar", "w") as archive:
        add_busybox(archive, str(busybox_rootfs))
    (base / "Dockerfile").write_text("FROM scratch\nADD rootfs.tar /\n")
    built = subprocess.run(
        [path, "build", "--quiet", "--isolation", "chroot", "-t", f"localhost/{BUSYBOX_IMAGE}",
         str(base)],
        capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    try:
        yield path
    finally:
        for point in _mounts_under(storage):
            subprocess.run(["umount", "--lazy", point], check=False)
        shutil.rmtree(storage, ignore_errors=True)


def test_pyx_buildx_with_podman_fetches_the_index_with_the_token_secret(
    podman: str,
    pyx_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    emulator: PyxEmulator,
    index_url: str,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("PYX_API_KEY", EMULATOR_API_KEY)
    buildx = BuildxRun(tmp_path)
    dockerfile = DOCKERFILE_TOKEN.replace(BUSYBOX_IMAGE, f"localhost/{BUSYBOX_IMAGE}")
    folder = context(tmp_path, dockerfile)
    args = ["--isolation", "chroot", "--network", "host", "--build-arg", f"INDEX_URL={index_url}"]

    without = subprocess.run(
        [podman, "build", *args, str(folder)],
        capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False,
    )  # fmt: skip
    assert without.returncode != 0
    assert "secret required but no secret with id pyx_auth_token found" in without.stderr
    assert emulator.counts()["simple"] == 0

    result = buildx.run(
        *args, "-t", "localhost/pyx-test-podman", str(folder), PYX_DOCKER="podman",
        PYX_AUTH_DEBUG="1",
    )  # fmt: skip
    print(result.stderr.splitlines()[0], *log_lines(result.stdout), sep="\n")
    assert result.returncode == 0, result.stderr
    version = subprocess.run([podman, "--version"], capture_output=True, text=True).stdout
    assert result.stderr.splitlines()[0] == (
        f"pyx-buildx: engine: DOCKER_BUILDKIT=1 podman build ({version.strip()})"
    )
    assert log_lines(result.stdout) == [
        f"pyx-test: GET {index_url} with the Bearer token: OK",
        f'pyx-test: index links to href="{index_url}{PROJECT}/"',
    ]
    assert emulator.counts()["simple"] == 1
    assert list(buildx.tmpdir.iterdir()) == []
