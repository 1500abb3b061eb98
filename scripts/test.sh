#!/usr/bin/env bash
# Install everything the test suite needs, then run it. Usage: bash scripts/test.sh [pytest args]
# System tools (buildah and busybox-static for the container-build tests, python3-venv where
# Debian's python3 lacks it) come from apt when running as root; the Python side goes into
# .venv next to this repository.
# docker.io and podman: tests/test_docker_daemon.py starts its own dockerd and stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    missing=()
    # strace: tests/test_stub_fast_path.py counts the processes a Bazel stub cache hit starts.
    for pair in buildah:buildah busybox:busybox-static dockerd:docker.io podman:podman strace:strace; do
        command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
    done
    # Debian's python3 comes without venv/ensurepip.
    python3 -c "import ensurepip" 2>/dev/null || missing+=(python3-venv)
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "installing ${missing[*]} with apt-get" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'   # editable: a bare `pytest` tests the source
# A uv newer than 0.12.6 (no pyx support), for tests/test_netrc_install.py. Pinned so that the
# suite does not change with the calendar: bump it deliberately (`pip index versions uv`).
NEWEST_UV=0.13.9
.venv/bin/python -m pip install -q --upgrade --target .venv/uv-latest "uv==$NEWEST_UV"
exec .venv/bin/python -m pytest "$@"
