"""``pyx-auth setup bazel``: wire a Bazel workspace to pyx-auth in one idempotent command.

It writes the packaged stub (executable) at ``--path`` and keeps one marked block in the
workspace's ``.bazelrc`` with the ``--credential_helper`` lines for the configured pyx hosts,
leaving every other line as it was. A second run writes nothing; ``--check`` only reports.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys

from pyx_auth.bazel_workspace import (
    DEFAULT_STUB_PATH,
    WORKSPACE_FILES,
    WORKSPACE_PREFIX,
    is_workspace,
    packaged_stub,
    stub_relative_path,
)
from pyx_auth.commands import load_settings
from pyx_auth.commands.config import helper_lines
from pyx_auth.errors import ConfigError, UsageError
from pyx_auth.settings import Settings
from pyx_auth.store import atomic_write

BLOCK_BEGIN = "# >>> pyx-auth setup bazel >>> (rerun `pyx-auth setup bazel` to update)"
BLOCK_END = "# <<< pyx-auth setup bazel <<<"
CHECK_FAILED_EXIT = 1
"""``--check`` with something to change: not an error, but not clean either."""


def _stub_path(value: str) -> str:
    try:
        return stub_relative_path(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "setup",
        help="set up a tool to use pyx-auth (bazel)",
        description="Set up a tool to use pyx-auth.",
    )
    tools = parser.add_subparsers(dest="tool", metavar="TOOL", required=True)
    bazel = tools.add_parser(
        "bazel",
        help="write the credential-helper stub and the .bazelrc lines into a workspace",
        description="Write the credential-helper stub (executable) into a Bazel workspace and"
        " keep a marked block in its .bazelrc that sends the pyx hosts of the current"
        " PYX_API_URL and PYX_CDN_DOMAIN to it; every other .bazelrc line stays. A second run"
        " changes nothing.",
    )
    bazel.add_argument(
        "--dir",
        default=".",
        metavar="WORKSPACE",
        help="the workspace root (default: the current folder)",
    )
    bazel.add_argument(
        "--path",
        type=_stub_path,
        default=DEFAULT_STUB_PATH,
        metavar="PATH",
        help=f"where the stub goes, relative to the workspace (default {DEFAULT_STUB_PATH})",
    )
    bazel.add_argument(
        "--check",
        action="store_true",
        help="change nothing; show what would change and exit 1 if anything would",
    )
    bazel.set_defaults(run=run)


def bazelrc_block(settings: Settings, stub_path: str) -> str:
    """The marked block: the helper lines for the configured hosts, and where they came from."""
    lines = [
        BLOCK_BEGIN,
        f"# pyx hosts of PYX_API_URL={settings.api_url} and PYX_CDN_DOMAIN={settings.cdn_domain}",
        *helper_lines(settings, WORKSPACE_PREFIX + stub_path),
        BLOCK_END,
    ]
    return "\n".join(lines) + "\n"


def with_block(text: str, block: str) -> str:
    """``text`` with its marked block replaced by ``block``, or ``block`` appended."""
    lines = text.splitlines(keepends=True)
    starts = [index for index, line in enumerate(lines) if line.rstrip("\r\n") == BLOCK_BEGIN]
    ends = [index for index, line in enumerate(lines) if line.rstrip("\r\n") == BLOCK_END]
    if starts:
        after = [index for index in ends if index > starts[0]]
        if len(starts) > 1 or not after:
            raise ConfigError(
                "the .bazelrc has a broken pyx-auth block (markers missing or repeated);"
                " delete the block and run `pyx-auth setup bazel` again"
            )
        return "".join(lines[: starts[0]]) + block + "".join(lines[after[0] + 1 :])
    if not text:
        return block
    separator = "\n" if text.endswith("\n") else "\n\n"
    return text + separator + block


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc


def _diff(name: str, old: bytes, new: bytes) -> str:
    return "".join(
        difflib.unified_diff(
            old.decode("utf-8", "replace").splitlines(keepends=True),
            new.decode("utf-8", "replace").splitlines(keepends=True),
            f"{name} (installed)",
            f"{name} (this pyx-auth)",
        )
    )


class Change:
    """One file to write: its path, the new bytes and mode, and what the change is."""

    __slots__ = ("data", "mode", "path", "summary")

    def __init__(self, path: str, data: bytes, mode: int, summary: str) -> None:
        self.path = path
        self.data = data
        self.mode = mode
        self.summary = summary


def plan(workspace: str, stub_path: str, settings: Settings) -> list[Change]:
    """What must change so that the workspace uses this pyx-auth's stub for the pyx hosts."""
    changes: list[Change] = []
    stub_file = os.path.join(workspace, stub_path)
    stub, old_stub = packaged_stub(), _read(stub_file)
    if old_stub is None:
        changes.append(Change(stub_file, stub, 0o755, f"create {stub_path} (executable)"))
    elif old_stub != stub:
        diff = _diff(stub_path, old_stub, stub).rstrip("\n")
        summary = f"update {stub_path} to this pyx-auth's stub:\n{diff}"
        changes.append(Change(stub_file, stub, 0o755, summary))
    elif not os.access(stub_file, os.X_OK) or not os.path.isfile(stub_file):
        changes.append(Change(stub_file, stub, 0o755, f"make {stub_path} executable"))
    rc_file = os.path.join(workspace, ".bazelrc")
    old_rc = _read(rc_file)
    block = bazelrc_block(settings, stub_path)
    try:
        new_rc = with_block((old_rc or b"").decode(), block).encode()
    except UnicodeDecodeError:
        raise ConfigError(f"{rc_file} is not UTF-8 text; fix it, then run this again") from None
    if new_rc != old_rc:
        if old_rc is None:
            summary = "create .bazelrc with the pyx-auth block:"
        elif BLOCK_BEGIN.encode() in old_rc:
            summary = "update the pyx-auth block in .bazelrc:"
        else:
            summary = "add the pyx-auth block to .bazelrc, after the lines already there:"
        mode = 0o644 if old_rc is None else os.stat(rc_file).st_mode & 0o7777
        summary = f"{summary}\n{block}".rstrip()
        changes.append(Change(rc_file, new_rc, mode, summary))
    return changes


def _write(change: Change) -> None:
    folder = os.path.dirname(change.path)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {folder}: {exc.strerror}") from exc
    atomic_write(change.path, change.data, mode=change.mode)


def run(args: argparse.Namespace) -> int:
    workspace = os.path.abspath(args.dir)
    if not is_workspace(workspace):
        raise UsageError(
            f"{workspace} is not a Bazel workspace root (it has no {', '.join(WORKSPACE_FILES)});"
            " run this in the workspace root or pass --dir"
        )
    changes = plan(workspace, args.path, load_settings(os.environ))
    if not changes:
        sys.stdout.write(
            f"nothing to change: {workspace} already has this pyx-auth's stub and .bazelrc lines\n"
        )
        return 0
    for change in changes:
        sys.stdout.write(("would " if args.check else "") + change.summary + "\n")
        if not args.check:
            _write(change)
    if args.check:
        sys.stdout.write("pyx-auth setup bazel would change the files above\n")
        return CHECK_FAILED_EXIT
    return 0
