"""What the Docker-side tests share: the secret steps of their Dockerfiles, and a pyx-buildx runner.

``TOKEN_STEP`` and ``NETRC_STEP`` print ``pyx-test:`` lines, which ``log_lines`` picks out of
a build's output (buildah prints them on stdout, BuildKit's plain progress on stderr).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

from conftest import pyx_auth_argv

REPO = Path(__file__).resolve().parents[1]
DOCKER_DIR = REPO / "docker"
PYX_BUILDX = DOCKER_DIR / "pyx-buildx"
WORKSPACE, VIEW, PROJECT = "acme", "main", "pyx-demo"
BUILD_TIMEOUT = 180

# The pyx_auth_token step of the busybox builds: the issue's own command, plus the check that
# catches an empty secret (which required=true lets through). The index page is kept in the
# image on purpose, so the layer scans have something to find besides the token.
TOKEN_STEP = """\
RUN --mount=type=secret,id=pyx_auth_token,required=true \\
    test -s /run/secrets/pyx_auth_token \\
      || { echo "pyx-test: the pyx_auth_token secret is empty" >&2; exit 1; }; \\
    wget -q -O /srv/index.html \\
      --header "Authorization: Bearer $(cat /run/secrets/pyx_auth_token)" "$INDEX_URL" \\
    && echo "pyx-test: GET $INDEX_URL with the Bearer token: OK" \\
    && grep -o 'href="[^"]*"' /srv/index.html | sed 's/^/pyx-test: index links to /'
"""
NETRC_STEP = """\
RUN --mount=type=secret,id=pyx_netrc,target=/root/.netrc,required=true \\
    password="$(awk '$2 == "127.0.0.1" && $4 == "__token__" { print $6 }' /root/.netrc)" \\
    && test -n "$password" \\
    && basic="$(printf '__token__:%s' "$password" | base64 -w 0)" \\
    && wget -q -O /srv/project.html \\
      --header "Authorization: Basic $basic" "${INDEX_URL}pyx-demo/" \\
    && echo "pyx-test: GET ${INDEX_URL}pyx-demo/ with __token__ from ~/.netrc: OK" \\
    && echo "pyx-test: netrc machines: $(awk '{ printf "%s ", $2 }' /root/.netrc)"
"""


def context(tmp_path: Path, dockerfile: str) -> Path:
    """A build context folder holding only ``Dockerfile``."""
    folder = tmp_path / "context"
    folder.mkdir()
    (folder / "Dockerfile").write_text(dockerfile)
    return folder


def log_lines(output: str) -> list[str]:
    """The ``pyx-test:`` lines a build's steps printed, without BuildKit's ``#5 0.123 `` prefix
    (and not the step titles, which quote the script)."""
    return [match[1] for match in map(_STEP_OUTPUT.match, output.splitlines()) if match]


_STEP_OUTPUT = re.compile(r"(?:#\d+ \d+\.\d+ )?(pyx-test:.*)")


class BuildxRun:
    """Runs docker/pyx-buildx with a recording PYX_AUTH_BIN and a private TMPDIR.

    ``bin`` comes first on PATH: a test puts the ``docker`` it wants pyx-buildx to find there.
    """

    def __init__(self, tmp_path: Path, env: dict[str, str] | None = None) -> None:
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        self.tmpdir = tmp_path / "tmpdir"
        self.tmpdir.mkdir()
        self.pyx_auth_log = tmp_path / "pyx-auth-argv.log"
        wrapper = self.bin / "pyx-auth-recording"
        wrapper.write_text(
            "#!/bin/sh\n"
            f'printf "%s\\n" "$*" >> {shlex.quote(str(self.pyx_auth_log))}\n'
            f'exec {shlex.join(pyx_auth_argv())} "$@"\n'
        )
        wrapper.chmod(0o755)
        base = os.environ if env is None else env
        self.env = {
            **base,
            "PATH": f"{self.bin}{os.pathsep}{base['PATH']}",
            "PYX_AUTH_BIN": str(wrapper),
            "TMPDIR": str(self.tmpdir),
        }

    def argv(self, *args: str) -> list[str]:
        return [str(PYX_BUILDX), *args]

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args),
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
            check=False,
        )

    def pyx_auth_calls(self) -> list[str]:
        return self.pyx_auth_log.read_text().splitlines() if self.pyx_auth_log.exists() else []
