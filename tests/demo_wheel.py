"""A real wheel on the emulator's index, and the uv binaries that install it, for install tests.

The newest uv (no pyx support) comes from ``.venv/uv-latest`` (``scripts/test.sh`` installs it
there) or the executable named by ``PYX_AUTH_TEST_NEWEST_UV``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NEWEST_UV = os.environ.get("PYX_AUTH_TEST_NEWEST_UV") or str(REPO / ".venv/uv-latest/bin/uv")
"""Read at import, before the autouse fixture scrubs every PYX_ variable."""
LAST_PYX_UV = (0, 12, 6)
WORKSPACE, VIEW, PROJECT = "acme", "main", "pyx-netrc-demo"
MODULE = "pyx_netrc_demo"


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


def uv_version(executable: str) -> tuple[int, ...]:
    out = subprocess.run(
        [executable, "--version"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", out)
    assert match, out
    return tuple(int(part) for part in match.groups())


def newest_uv(require_tool: Callable[[str], str]) -> str:
    """The newest uv's path (skips, or fails in CI, when it is missing), checked to be > 0.12.6."""
    uv = require_tool(NEWEST_UV)
    assert uv_version(uv) > LAST_PYX_UV, f"{uv} is not newer than uv 0.12.6"
    return uv
