"""A Bazel workspace as ``setup bazel`` and ``doctor`` see it: its root, stub and ``.bazelrc``.

What Bazel does, reproduced closely enough to tell whether a download will reach the helper
(``bazel-credential-helpers.md`` §8): the rc files it reads and their ``import``/``try-import``
lines, the ``--credential_helper=[scope=]path`` flags in them (the last one per scope wins),
and the lookup by host: exact scope, then ``*.`` on the host and each parent, then the
unscoped default helper. The stub ``setup bazel`` writes is the one shipped in this package.
"""

from __future__ import annotations

import os
import shlex

from pyx_auth.errors import ConfigError

WORKSPACE_FILES = ("MODULE.bazel", "WORKSPACE.bazel", "WORKSPACE")
"""Any of these makes a folder a workspace root."""
DEFAULT_STUB_PATH = "bazel/pyx-credential-helper"
PACKAGED_STUB = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "data", "pyx-credential-helper"
)
"""The stub this pyx-auth ships (in the wheel and in the frozen bundle)."""
WORKSPACE_PREFIX = "%workspace%/"
RC_COMMANDS = ("common", "always", "build", "fetch", "sync")
"""rc-line commands whose options apply when ``bazel build`` fetches repositories."""
HELPER_FLAGS = ("--credential_helper", "--experimental_credential_helper")
MAX_IMPORT_DEPTH = 20


def is_workspace(directory: str) -> bool:
    return any(os.path.isfile(os.path.join(directory, name)) for name in WORKSPACE_FILES)


def find_workspace(directory: str) -> str | None:
    """The workspace root holding ``directory``, searched upwards as Bazel does, or None."""
    path = os.path.abspath(directory)
    while True:
        if is_workspace(path):
            return path
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent


def packaged_stub() -> bytes:
    try:
        with open(PACKAGED_STUB, "rb") as handle:
            return handle.read()
    except OSError as exc:  # a broken installation, not a user error
        raise ConfigError(
            f"this pyx-auth has no packaged credential-helper stub ({PACKAGED_STUB}:"
            f" {exc.strerror}); reinstall pyx-auth"
        ) from exc


def stub_relative_path(value: str) -> str:
    """``--path``: a relative path inside the workspace, as ``%workspace%/<path>`` needs."""
    parts = value.split("/")
    if not value or os.path.isabs(value) or "=" in value or ".." in parts or "" in parts:
        raise ValueError(
            f"must be a relative path inside the workspace, such as {DEFAULT_STUB_PATH}"
        )
    return value


class HelperFlag:
    """One ``--credential_helper`` flag: its scope (None: the default helper) and path."""

    __slots__ = ("origin", "path", "scope")

    def __init__(self, scope: str | None, path: str, origin: str) -> None:
        self.scope = scope
        self.path = path
        self.origin = origin
        """``file:line`` where the flag was read."""


class RcFiles:
    """The rc files Bazel reads for a workspace, with every flag and every broken import."""

    def __init__(self, workspace: str, home: str) -> None:
        self.workspace = workspace
        self.read: list[str] = []
        self.flags: list[HelperFlag] = []
        self.problems: list[str] = []
        for path in ("/etc/bazel.bazelrc", os.path.join(workspace, ".bazelrc")):
            self._read(path, required=False, chain=())
        self._read(os.path.join(home, ".bazelrc"), required=False, chain=())

    def _resolve(self, value: str) -> str:
        if value.startswith(WORKSPACE_PREFIX):
            return os.path.join(self.workspace, value[len(WORKSPACE_PREFIX) :])
        return value if os.path.isabs(value) else os.path.join(self.workspace, value)

    def _read(self, path: str, *, required: bool, chain: tuple[str, ...]) -> None:
        if path in chain or len(chain) > MAX_IMPORT_DEPTH:
            self.problems.append(f"{path} imports itself (an import loop Bazel refuses)")
            return
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except (OSError, UnicodeDecodeError):
            if required:
                self.problems.append(f"{path} is imported but cannot be read")
            return
        self.read.append(path)
        for number, words in _rc_lines(text):
            if words[0] in ("import", "try-import") and len(words) == 2:
                imported = self._resolve(words[1])
                self._read(imported, required=words[0] == "import", chain=(*chain, path))
            elif words[0] in RC_COMMANDS:
                self._flags(words[1:], f"{path}:{number}")

    def _flags(self, words: list[str], origin: str) -> None:
        for index, word in enumerate(words):
            name, equals, value = word.partition("=")
            if name not in HELPER_FLAGS:
                continue
            if not equals:
                if index + 1 >= len(words):
                    continue
                value = words[index + 1]
            scope, has_scope, helper = value.partition("=")
            if has_scope:
                self.flags.append(HelperFlag(scope.lower(), helper, origin))
            else:
                self.flags.append(HelperFlag(None, value, origin))

    def helper_for(self, host: str) -> HelperFlag | None:
        """The helper Bazel runs for ``host``: most specific scope, last flag per scope."""
        by_scope: dict[str | None, HelperFlag] = {}
        for flag in self.flags:
            by_scope[flag.scope] = flag
        host = host.lower()
        if host in by_scope:
            return by_scope[host]
        labels = host.split(".")
        for start in range(len(labels) - 1):
            wildcard = "*." + ".".join(labels[start:])
            if wildcard in by_scope:
                return by_scope[wildcard]
        return by_scope.get(None)

    def helper_file(self, flag: HelperFlag) -> str | None:
        """The file Bazel runs for a flag, or None for a bare name not found on PATH."""
        if flag.path.startswith(WORKSPACE_PREFIX) or os.path.isabs(flag.path):
            return self._resolve(flag.path)
        import shutil

        return shutil.which(flag.path)


def _rc_lines(text: str) -> list[tuple[int, list[str]]]:
    """(line number, words) of each rc line, joined across ``\\`` continuations, comments cut."""
    lines: list[tuple[int, list[str]]] = []
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not pending:
            start = number
        if raw.endswith("\\"):
            pending += raw[:-1] + " "
            continue
        line, pending = pending + raw, ""
        try:
            words = shlex.split(line, comments=True)
        except ValueError:  # an unclosed quote: Bazel refuses the file; we skip the line
            continue
        if words:
            lines.append((start, words))
    return lines
