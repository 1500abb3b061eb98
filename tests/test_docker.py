"""Docker builds with pyx secrets, run by a real container builder without a Docker daemon.

buildah (``buildah bud --isolation chroot --storage-driver vfs``, storage in a temporary folder)
runs Dockerfile builds with BuildKit-style ``--secret`` options and ``RUN --mount=type=secret``.
The base image is built here from the host's static busybox, so nothing is pulled. With chroot
isolation the build shares the host network, so it reaches the emulator on 127.0.0.1.

``docker/pyx-buildx`` is driven through a ``docker`` stand-in first on PATH: it answers the
engine detection as a CLI with the buildx plugin, a classic CLI without it, or a CLI without
BuildKit would, records a build's argv and environment, then runs the build as that buildah
build. That is the only way to run the ``buildx build`` path here: no buildx plugin can be
installed on this machine. tests/test_docker_daemon.py runs pyx-buildx with the real Docker CLI
and daemon (the classic path) and with podman.
buildah 1.28 has no ``env=`` option on secret mounts (BuildKit's Dockerfile frontend 1.10 has),
so the Dockerfiles here read ``/run/secrets/<id>``; the secrets themselves are passed exactly as
pyx-buildx passes them to Docker.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import RunPyxAuth
from container_images import add_busybox, is_static_elf
from docker_builds import (
    BUILD_TIMEOUT,
    DOCKER_DIR,
    NETRC_STEP,
    PROJECT,
    PYX_BUILDX,
    TOKEN_STEP,
    VIEW,
    WORKSPACE,
    BuildxRun,
    context,
    log_lines,
)
from pyx_auth.emulator import PyxEmulator

BASE_IMAGE = "localhost/pyx-auth-test-busybox"
DOCKERFILE_TOKEN = f"FROM {BASE_IMAGE}\nARG INDEX_URL\n{TOKEN_STEP}"
DOCKERFILE_BOTH = f"FROM {BASE_IMAGE}\nARG INDEX_URL\n{TOKEN_STEP}{NETRC_STEP}"

STANDIN = """\
#!{python}
# docker stand-in. ENGINE: "buildx" (has the plugin), "classic" (no plugin; `build` takes
# --secret with DOCKER_BUILDKIT=1, as Docker 18.09 to 22.x) or "none" (Docker >= 23 without the
# plugin). A build records its argv, environment and the netrc secret file (atomically: the
# record exists only once complete), then acts per MODE.
import json, os, signal, stat, sys, time

args = sys.argv[1:]
ENGINE, MODE = {engine!r}, {mode!r}
if args == ["buildx", "version"]:
    if ENGINE == "buildx":
        sys.exit(print("github.com/docker/buildx v0.0.0-stand-in"))
    sys.exit("docker: 'buildx' is not a docker command.")
if args == ["build", "--help"]:
    if ENGINE == "classic" and os.environ.get("DOCKER_BUILDKIT") == "1":
        sys.exit(print("      --secret stringArray      Secret file to expose to the build"))
    sys.exit("ERROR: BuildKit is enabled but the buildx component is missing or broken.")
if args == ["--version"]:
    sys.exit(print("Docker version 0.0.0-stand-in"))
if MODE == "sleep":  # a long build, interrupted like a real one (dies of the signal)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
secrets = [args[i + 1] for i, arg in enumerate(args[:-1]) if arg == "--secret"]
netrc = next((s.split(",src=", 1)[1] for s in secrets if s.startswith("id=pyx_netrc,")), None)
record = {{
    "argv": sys.argv,
    "cmdline": open("/proc/self/cmdline", "rb").read().decode(errors="replace"),
    "env_token": os.environ.get("PYX_AUTH_TOKEN"),
    "env_buildkit": os.environ.get("DOCKER_BUILDKIT"),
    "netrc": netrc,
    "netrc_mode": stat.S_IMODE(os.stat(netrc).st_mode) if netrc else None,
    "netrc_dir_mode": stat.S_IMODE(os.stat(os.path.dirname(netrc)).st_mode) if netrc else None,
    "netrc_text": open(netrc).read() if netrc else None,
}}
with open({record!r} + ".part", "w") as handle:
    json.dump(record, handle)
os.replace({record!r} + ".part", {record!r})
if MODE == "buildah":
    build = {{"buildx": args[2:], "classic": args[1:]}}[ENGINE]
    os.execvp("buildah", [*{buildah!r}, "bud", "--isolation", "chroot", *build])
if MODE == "sleep":
    time.sleep(60)
sys.exit(int(MODE))
"""


class Buildah:
    """buildah with its own storage (vfs) in a temporary folder, so tests leave no images behind."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.prefix = [
            "buildah",
            "--root", str(root / "storage"),
            "--runroot", str(root / "run"),
            "--storage-driver", "vfs",
        ]  # fmt: skip
        self.has_base = False

    def run(
        self, *args: str, env: dict[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*self.prefix, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
            check=False,
        )
        if check:
            assert result.returncode == 0, result.stderr
        return result

    def build(
        self, context: Path, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.run("bud", "--isolation", "chroot", *args, str(context), env=env, check=False)

    def ensure_base_image(self, busybox: str) -> None:
        """``BASE_IMAGE``: the host's static busybox and its applet links, from a local tarball."""
        if self.has_base:
            return
        if not is_static_elf(busybox):
            pytest.fail(f"{busybox} is not statically linked: apt-get install busybox-static")
        tarball = self.root / "busybox-rootfs.tar"
        with tarfile.open(tarball, "w") as archive:
            add_busybox(archive, busybox)
        container = self.run("from", "scratch").stdout.strip()
        self.run("add", container, str(tarball), "/")
        self.run("commit", "-q", container, BASE_IMAGE)
        self.run("rm", container)
        self.has_base = True

    def image_contents(self, image: str, dest: Path) -> list[bytes]:
        """Every blob of ``image`` pushed to an OCI layout: manifest, config (with the history)
        and each layer's tar, decompressed, so file contents appear verbatim."""
        self.run("push", "-q", image, f"oci:{dest}:latest")
        blobs = []
        for blob in sorted((dest / "blobs" / "sha256").iterdir()):
            data = blob.read_bytes()
            blobs.append(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
        return blobs


@pytest.fixture(scope="module")
def buildah_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Buildah]:
    store = Buildah(tmp_path_factory.mktemp("buildah"))
    yield store
    shutil.rmtree(store.root, ignore_errors=True)


@pytest.fixture
def buildah(require_tool: Callable[[str], str], buildah_store: Buildah) -> Buildah:
    """The module's buildah store with the base image in it (built once per module)."""
    require_tool("buildah")
    buildah_store.ensure_base_image(require_tool("busybox"))
    return buildah_store


@pytest.fixture
def index_url(emulator: PyxEmulator) -> str:
    emulator.add_file(WORKSPACE, VIEW, PROJECT, "pyx_demo-1.0-py3-none-any.whl", b"not a wheel")
    return f"{emulator.url}/simple/{WORKSPACE}/{VIEW}/"




def _assert_not_in_image(buildah: Buildah, image: str, token: str, dest: Path) -> None:
    """The token is in no layer, no history entry, no config; the scan does see the layers."""
    blobs = buildah.image_contents(image, dest)
    assert any(b'href="' in blob and PROJECT.encode() in blob for blob in blobs), (
        "the scan must see /srv/index.html, which the build kept in a layer"
    )
    assert not any(token.encode() in blob for blob in blobs)
    history = json.loads(buildah.run("inspect", "--type", "image", image).stdout)
    assert any("--mount=type=secret,id=pyx_auth_token" in entry.get("created_by", "")
               for entry in history["History"])  # fmt: skip
    assert token not in json.dumps(history)


# -- the secret in a real build -----------------------------------------------------------------


def test_build_with_token_secret_fetches_the_index_and_keeps_no_trace_of_it(
    buildah: Buildah,
    run_pyx_auth: RunPyxAuth,
    emulator: PyxEmulator,
    index_url: str,
    api_key_env: dict[str, str],
    tmp_path: Path,
) -> None:
    token_file = tmp_path / "pyx-token"
    assert run_pyx_auth("token", "--output", str(token_file)).returncode == 0
    token = token_file.read_text()
    folder = context(tmp_path, DOCKERFILE_TOKEN)
    result = buildah.build(
        folder,
        "--secret", f"id=pyx_auth_token,src={token_file}",
        "--build-arg", f"INDEX_URL={index_url}",
        "-t", "localhost/pyx-test-token-build",
    )  # fmt: skip
    print("\n".join(log_lines(result.stdout)))
    assert result.returncode == 0, result.stderr
    assert log_lines(result.stdout) == [
        f"pyx-test: GET {index_url} with the Bearer token: OK",
        f'pyx-test: index links to href="{index_url}{PROJECT}/"',
    ]
    assert emulator.counts()["simple"] == 1
    _assert_not_in_image(buildah, "localhost/pyx-test-token-build", token, tmp_path / "oci")


def test_build_without_the_secret_fails_at_the_required_secret_step(
    buildah: Buildah, emulator: PyxEmulator, index_url: str, tmp_path: Path
) -> None:
    folder = context(tmp_path, DOCKERFILE_TOKEN)
    result = buildah.build(folder, "--build-arg", f"INDEX_URL={index_url}")
    assert result.returncode != 0
    assert 'building at STEP "RUN --mount=type=secret,id=pyx_auth_token,required=true' in (
        result.stderr
    )
    assert "secret required but no secret with id pyx_auth_token found" in result.stderr
    assert emulator.counts()["simple"] == 0, "the step never ran"


def test_build_with_an_unset_env_secret_gets_an_empty_secret_that_only_the_check_catches(
    buildah: Buildah, emulator: PyxEmulator, index_url: str, tmp_path: Path
) -> None:
    """The pitfall the README warns about: required=true passes; the emptiness check fails."""
    folder = context(tmp_path, DOCKERFILE_TOKEN)
    env = {k: v for k, v in os.environ.items() if k != "PYX_AUTH_TOKEN"}
    result = buildah.build(
        folder,
        "--secret", "id=pyx_auth_token,env=PYX_AUTH_TOKEN",
        "--build-arg", f"INDEX_URL={index_url}",
        env=env,
    )  # fmt: skip
    assert result.returncode != 0
    assert "pyx-test: the pyx_auth_token secret is empty" in result.stdout + result.stderr
    assert "secret required but no secret" not in result.stderr
    assert emulator.counts()["simple"] == 0


# -- docker/pyx-buildx --------------------------------------------------------------------------


class StandinRun(BuildxRun):
    """docker/pyx-buildx with the stand-in ``docker`` of ``engine`` first on PATH."""

    def __init__(
        self, tmp_path: Path, buildah: Buildah | None, mode: str, engine: str = "buildx"
    ) -> None:
        super().__init__(tmp_path)
        self.record = tmp_path / "docker-record.json"
        docker = self.bin / "docker"
        docker.write_text(
            STANDIN.format(
                python=sys.executable,
                record=str(self.record),
                engine=engine,
                mode=mode,
                buildah=buildah.prefix if buildah else [],
            )
        )
        docker.chmod(0o755)

    def recorded(self) -> dict[str, object]:
        data: dict[str, object] = json.loads(self.record.read_text())
        return data


def test_pyx_buildx_passes_the_token_by_env_and_netrc_file_never_argv(
    buildah: Buildah,
    emulator: PyxEmulator,
    index_url: str,
    api_key_env: dict[str, str],
    tmp_path: Path,
) -> None:
    buildx = StandinRun(tmp_path, buildah, "buildah")
    folder = context(tmp_path, DOCKERFILE_BOTH)
    result = buildx.run(
        "--build-arg", f"INDEX_URL={index_url}",
        "-t", "localhost/pyx-test-buildx",
        "-f", str(folder / "Dockerfile"),
        str(folder),
    )  # fmt: skip
    print("\n".join(log_lines(result.stdout)))
    assert result.returncode == 0, result.stderr
    assert log_lines(result.stdout) == [
        f"pyx-test: GET {index_url} with the Bearer token: OK",
        f'pyx-test: index links to href="{index_url}{PROJECT}/"',
        f"pyx-test: GET {index_url}{PROJECT}/ with __token__ from ~/.netrc: OK",
        "pyx-test: netrc machines: 127.0.0.1 astralhosted.com files.astralhosted.com"
        " views.astralhosted.com files-static.astralhosted.com views-static.astralhosted.com ",
    ]
    record = buildx.recorded()
    token = record["env_token"]
    assert isinstance(token, str) and emulator.verify(token) is not None
    assert record["argv"][1:5] == [  # type: ignore[index]
        "buildx", "build",
        "--secret", "id=pyx_auth_token,env=PYX_AUTH_TOKEN",
    ]  # fmt: skip
    assert token not in str(record["cmdline"]) and token not in json.dumps(record["argv"])
    assert not any(token in call for call in buildx.pyx_auth_calls()), "not in pyx-auth's argv"
    assert record["netrc_mode"] == 0o600 and record["netrc_dir_mode"] == 0o700
    assert f"machine 127.0.0.1 login __token__ password {token}\n" in str(record["netrc_text"])
    assert str(record["netrc"]).startswith(str(buildx.tmpdir))
    assert list(buildx.tmpdir.iterdir()) == [], "the netrc secret is deleted after the build"
    assert emulator.counts()["access-token"] == 1, "one token for both secrets"
    assert token not in result.stdout + result.stderr
    _assert_not_in_image(buildah, "localhost/pyx-test-buildx", token, tmp_path / "oci")


def test_pyx_buildx_without_a_token_fails_before_the_build_with_the_reason(
    pyx_env: dict[str, str], tmp_path: Path
) -> None:
    buildx = StandinRun(tmp_path, None, "0")
    result = buildx.run("-t", "never-built", ".")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("pyx-auth: no pyx credentials")
    assert lines[1] == "pyx-buildx: no pyx token (reason above); the build was not started"
    assert not buildx.record.exists(), "docker was never called"
    assert list(buildx.tmpdir.iterdir()) == []


def test_pyx_buildx_without_buildx_runs_the_classic_build_with_buildkit(
    emulator: PyxEmulator, api_key_env: dict[str, str], tmp_path: Path
) -> None:
    """A CLI without the plugin whose ``build`` takes --secret: ``DOCKER_BUILDKIT=1 docker build``
    with the same secrets (the real one runs in tests/test_docker_daemon.py)."""
    buildx = StandinRun(tmp_path, None, "0", engine="classic")
    result = buildx.run("-t", "classic", ".")
    assert result.returncode == 0, result.stderr
    record = buildx.recorded()
    assert record["argv"][1:] == [  # type: ignore[index]
        "build",
        "--secret", "id=pyx_auth_token,env=PYX_AUTH_TOKEN",
        "--secret", f"id=pyx_netrc,src={record['netrc']}",
        "-t", "classic", ".",
    ]  # fmt: skip
    assert record["env_buildkit"] == "1"
    assert emulator.verify(str(record["env_token"])) is not None
    assert result.stderr == "", "no engine line without PYX_AUTH_DEBUG"


@pytest.mark.parametrize(
    ("engine", "line"),
    [
        ("buildx", "docker buildx build (github.com/docker/buildx v0.0.0-stand-in)"),
        ("classic", "DOCKER_BUILDKIT=1 docker build (Docker version 0.0.0-stand-in)"),
    ],
)
def test_pyx_buildx_debug_names_the_engine_in_one_line(
    engine: str, line: str, emulator: PyxEmulator, api_key_env: dict[str, str], tmp_path: Path
) -> None:
    buildx = StandinRun(tmp_path, None, "0", engine=engine)
    result = buildx.run(".", PYX_AUTH_DEBUG="1")
    assert result.returncode == 0, result.stderr
    # pyx-auth's own debug trace follows (PYX_AUTH_DEBUG reaches it too); pyx-buildx says one line
    ours = [text for text in result.stderr.splitlines() if text.startswith("pyx-buildx:")]
    assert ours == [f"pyx-buildx: engine: {line}"]


def test_pyx_buildx_with_an_engine_without_buildkit_secrets_fails_before_minting(
    emulator: PyxEmulator, api_key_env: dict[str, str], tmp_path: Path
) -> None:
    """Docker 23 and later without the buildx plugin: no BuildKit, so no secrets (the stock
    static CLI is one; tests/test_docker_daemon.py runs it when the machine has it)."""
    buildx = StandinRun(tmp_path, None, "0", engine="none")
    result = buildx.run("-t", "never-built", ".")
    assert result.returncode == 2
    assert result.stderr == (
        "pyx-buildx: 'docker' cannot take BuildKit secrets (no buildx plugin, no --secret in its"
        " 'build' with DOCKER_BUILDKIT=1): install the buildx plugin, or set PYX_DOCKER=podman;"
        " no token was minted\n"
    )
    assert emulator.counts()["access-token"] == 0
    assert buildx.pyx_auth_calls() == []
    assert not buildx.record.exists(), "no build was started"


def test_pyx_buildx_without_the_engine_says_how_to_pick_one(
    emulator: PyxEmulator, api_key_env: dict[str, str], tmp_path: Path
) -> None:
    buildx = StandinRun(tmp_path, None, "0")
    result = buildx.run(".", PYX_DOCKER="no-such-engine")
    assert result.returncode == 2
    assert result.stderr == (
        "pyx-buildx: cannot find the container engine 'no-such-engine': install Docker, or set"
        " PYX_DOCKER (e.g. PYX_DOCKER=podman)\n"
    )
    assert emulator.counts()["access-token"] == 0


def test_pyx_buildx_without_pyx_auth_says_how_to_point_at_it(tmp_path: Path) -> None:
    buildx = StandinRun(tmp_path, None, "0")
    result = buildx.run(".", PYX_AUTH_BIN=str(tmp_path / "nowhere" / "pyx-auth"))
    assert result.returncode == 2
    assert "cannot find pyx-auth" in result.stderr and "PYX_AUTH_BIN" in result.stderr
    assert not buildx.record.exists()


def test_pyx_buildx_failed_build_keeps_its_exit_code_and_removes_the_netrc(
    emulator: PyxEmulator, api_key_env: dict[str, str], tmp_path: Path
) -> None:
    buildx = StandinRun(tmp_path, None, "3")
    result = buildx.run("-t", "failing", ".")
    assert result.returncode == 3
    assert Path(str(buildx.recorded()["netrc"])).parent.parent == buildx.tmpdir
    assert list(buildx.tmpdir.iterdir()) == []


def test_pyx_buildx_interrupted_by_ctrl_c_removes_the_netrc(
    emulator: PyxEmulator, api_key_env: dict[str, str], tmp_path: Path
) -> None:
    """Ctrl-C sends SIGINT to the whole foreground process group: pyx-buildx and the build."""
    buildx = StandinRun(tmp_path, None, "sleep")
    with subprocess.Popen(
        buildx.argv("-t", "interrupted", "."),
        env=buildx.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    ) as process:
        try:
            # The build is running once its record is there: the stand-in renames it into place
            # complete, after it has read the netrc secret and let SIGINT kill it.
            deadline = time.monotonic() + 60
            while not buildx.record.exists() and process.poll() is None:
                assert time.monotonic() < deadline, "the build never started"
                time.sleep(0.05)
            assert buildx.record.exists(), f"pyx-buildx ended first ({process.returncode})"
            netrc = Path(str(buildx.recorded()["netrc"]))
            assert netrc.exists()
            os.killpg(process.pid, signal.SIGINT)
            assert process.wait(timeout=30) == 130
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
    assert not netrc.exists()
    assert list(buildx.tmpdir.iterdir()) == []


def test_pyx_buildx_asks_for_30_minutes_unless_told_otherwise(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, api_key_env: dict[str, str], tmp_path: Path
) -> None:
    """A cached token with 20 minutes left is replaced by default, kept when 10 are enough."""
    emulator.token_lifetime = 20 * 60
    assert run_pyx_auth("token").returncode == 0
    buildx = StandinRun(tmp_path, None, "0")

    assert buildx.run(".", PYX_BUILD_MIN_TTL="10m").returncode == 0
    assert buildx.run("--min-ttl", "10m", ".").returncode == 0
    assert buildx.run("--min-ttl=10m", ".").returncode == 0
    assert emulator.counts()["access-token"] == 1
    emulator.token_lifetime = 3600  # the replacement must itself last 30 minutes
    assert buildx.run(".").returncode == 0
    assert emulator.counts()["access-token"] == 2
    assert buildx.recorded()["argv"][-1] == "."  # type: ignore[index]
    assert "--min-ttl" not in buildx.recorded()["argv"]  # type: ignore[operator]


# -- the published examples ---------------------------------------------------------------------


def test_examples_use_the_secret_ids_pyx_buildx_passes() -> None:
    dockerfile = (DOCKER_DIR / "Dockerfile.example").read_text()
    for mount in (
        "--mount=type=secret,id=pyx_auth_token,required=true",
        "--mount=type=secret,id=pyx_netrc,target=/root/.netrc,required=true",
        "--mount=type=secret,id=pyx_api_key,required=true",
    ):
        assert mount in dockerfile
    # The built-in frontend (Docker 20.10) parses it only without env= anywhere and without a
    # syntax line (which would pull a frontend); tests/test_docker_daemon.py builds it.
    instructions = [line for line in dockerfile.splitlines() if not line.startswith("#")]
    assert not [line for line in dockerfile.splitlines() if line.startswith("# syntax=")]
    assert not [line for line in instructions if ",env=" in line]
    env_dockerfile = (DOCKER_DIR / "Dockerfile.env-example").read_text()
    assert env_dockerfile.startswith("# syntax=docker/dockerfile:1\n")
    for mount in (
        "--mount=type=secret,id=pyx_auth_token,env=PYX_AUTH_TOKEN,required=true",
        "--mount=type=secret,id=pyx_api_key,env=PYX_API_KEY,required=true",
    ):
        assert mount in env_dockerfile
    bake = (DOCKER_DIR / "docker-bake.hcl").read_text()
    assert '"id=pyx_auth_token,env=PYX_AUTH_TOKEN"' in bake
    assert '"id=pyx_netrc,src=${PYX_NETRC_FILE}"' in bake
    workflow = (DOCKER_DIR / "github-actions.yml").read_text()
    assert "secret-envs: |\n            pyx_auth_token=PYX_AUTH_TOKEN\n" in workflow
    assert "pyx_api_key=${{ secrets.PYX_API_KEY }}" in workflow
    script = PYX_BUILDX.read_text()
    assert "--secret id=pyx_auth_token,env=PYX_AUTH_TOKEN" in script
    assert '--secret "id=pyx_netrc,src=$netrc"' in script
    assert os.access(PYX_BUILDX, os.X_OK)
    assert not re.search(r"^\s*set\s+-\w*x", script, re.MULTILINE), "a trace would print the token"
