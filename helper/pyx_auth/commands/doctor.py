"""``pyx-auth doctor``: the checklist to run when a Bazel download fails.

Bazel says only "continuing without credentials"; this names which link is broken and the
next step. Each check is one function returning a ``Check`` (a verdict, a one-line detail and,
unless it passed, the fix). It asks the real credential chain for a token as ``get`` would,
probes the API for its reachability and clock, reads the workspace's rc files as Bazel does
and runs the stub the way Bazel runs it, with a host-less request that carries no token.
Nothing it prints holds a secret: details come from ``PyxAuthError`` messages, stderr lines
of the probe (which asks for no token) and file metadata. Exit 0 unless a check failed.
"""

from __future__ import annotations

import argparse
import email.utils
import json
import os
import shutil
import subprocess
import sys
import time

from pyx_auth.bazel_workspace import (
    DEFAULT_STUB_PATH,
    WORKSPACE_PREFIX,
    HelperFlag,
    RcFiles,
    find_workspace,
    packaged_stub,
)
from pyx_auth.commands import load_settings
from pyx_auth.commands.config import helper_scopes
from pyx_auth.errors import PyxAuthError
from pyx_auth.settings import NO_EXPIRES_MIN_TTL, REFRESH_MARGIN, Settings
from pyx_auth.sources import Lookup, active, resolve_token
from pyx_auth.store import store_directory

OK, WARN, FAIL, SKIP = "ok", "warn", "FAIL", "skip"
MAX_CLOCK_SKEW = 60.0
"""Seconds pyx's clock may differ from ours before token lifetimes are judged wrongly."""
BAZEL_HELPER_TIMEOUT = 10.0
LAST_UV_WITH_PYX = (0, 12, 6)
PROBE_REQUEST = b'{"uri":"https:///pyx-auth-doctor"}'
"""A host-less URI: the helper must answer ``{"headers":{}}`` without a token or network."""
ANY_STATUS = tuple(range(100, 600))
SETUP = "run `pyx-auth setup bazel` in the workspace root"
NETRC_OR_KEYRING = (
    "for uv itself use a netrc (`pyx-auth token --format netrc --output FILE`, README"
    " \"Docker builds\") or uv's keyring provider (UV_KEYRING_PROVIDER=subprocess)"
)


class Check:
    """One line of the checklist."""

    __slots__ = ("detail", "fix", "name", "status")

    def __init__(self, name: str, status: str, detail: str, fix: str = "") -> None:
        self.name = name
        self.status = status
        self.detail = detail
        self.fix = fix

    def as_dict(self) -> dict[str, str | None]:
        return {
            "name": self.name,
            "status": self.status.lower(),
            "detail": self.detail,
            "fix": self.fix or None,
        }


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check everything a Bazel download through pyx-auth needs",
        description="Check, one line each, what a Bazel download through pyx-auth needs: the"
        " credential and a token now, the API and its clock, the workspace's stub and .bazelrc"
        " lines, the token store, and uv beside it; each failure names the fix. Never prints a"
        " secret. Exits 1 when a check fails.",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON object instead")
    parser.add_argument(
        "--dir",
        default=".",
        metavar="FOLDER",
        help="a folder in the workspace to check (default: the current folder)",
    )
    parser.set_defaults(run=run)


def _failed(name: str, exc: PyxAuthError, fallback: str = "") -> Check:
    """A failed check from an error whose message is '<what is wrong>; <what to do>'."""
    detail, _, fix = str(exc).partition("; ")
    return Check(name, FAIL, detail, fix or fallback)


def check_credential(settings: Settings) -> Check:
    try:
        credential = active(Lookup(settings))
    except PyxAuthError as exc:
        return _failed("credential", exc)
    if credential is None:
        return Check(
            "credential",
            FAIL,
            "no credential source applies",
            "set PYX_API_KEY in the shell that runs bazel, or run `pyx-auth login`",
        )
    return Check("credential", OK, credential.describe())


def _caching(settings: Settings) -> str:
    if settings.no_expires:
        return (
            "PYX_AUTH_NO_EXPIRES is set: answers carry no expires, Bazel caches each for 30 min"
            " and tokens outlive that"
        )
    return (
        "answers carry expires (1 min before the token's): right for Bazel >= 7.4; for Bazel"
        " 6.3-7.3 set PYX_AUTH_NO_EXPIRES=1"
    )


def check_token(settings: Settings) -> Check:
    """A token as ``get`` would hand it out now: same source, same margin."""
    margin = NO_EXPIRES_MIN_TTL if settings.no_expires else REFRESH_MARGIN
    try:
        token = resolve_token(settings, margin, time.monotonic() + settings.timeout)
    except PyxAuthError as exc:
        return _failed("token", exc, "`pyx-auth status` shows the configured source")
    assert token is not None  # not offline: a token or an error
    if token.expires_at is None:
        return Check(
            "token",
            WARN,
            f"from {token.source}, expiry unknown (no exp claim): Bazel caches it 30 min",
            "use a pyx access token, which carries exp",
        )
    left = (token.expires_at - time.time()) / 60
    detail = f"from {token.source}, valid for {left:.0f} min; {_caching(settings)}"
    return Check("token", OK, detail)


def _bazel_version(workspace: str) -> tuple[int, int] | None:
    try:
        with open(os.path.join(workspace, ".bazelversion"), encoding="utf-8") as handle:
            text = handle.read().strip()
    except OSError:
        return None
    parts = text.split(".")
    if len(parts) < 2 or not (parts[0].isdigit() and parts[1].isdigit()):
        return None
    return int(parts[0]), int(parts[1])


def check_bazel_version(settings: Settings, workspace: str) -> Check | None:
    """``.bazelversion`` against the caching mode, when the workspace pins a version."""
    version = _bazel_version(workspace)
    if version is None:
        return None
    shown = f"Bazel {version[0]}.{version[1]} (.bazelversion)"
    if version < (6, 3):
        return Check(
            "bazel",
            FAIL,
            f"{shown} does not ask credential helpers for downloads",
            "use Bazel >= 7.4 (>= 6.3 at least)",
        )
    if version < (7, 4) and not settings.no_expires:
        stale = version < (7, 1)
        return Check(
            "bazel",
            FAIL if stale else WARN,
            f"{shown} "
            + (
                "ignores expires and caches answers 30 min, longer than a token may live"
                if stale
                else "re-runs a helper that sends expires on every download (bazel#23429)"
            ),
            "set PYX_AUTH_NO_EXPIRES=1 in the shell that runs bazel",
        )
    return Check("bazel", OK, f"{shown} with {'no ' if settings.no_expires else ''}expires")


def check_api(settings: Settings) -> list[Check]:
    """The API answers at all (any status) and its ``Date`` is within a minute of ours."""
    from pyx_auth.api import PyxClient

    url = settings.endpoint("")
    try:
        with PyxClient(settings, time.monotonic() + settings.timeout) as client:
            response = client.request(
                "GET", "", credential="nothing (a probe)", accept_statuses=ANY_STATUS
            )
    except PyxAuthError as exc:
        detail = str(exc).partition("; ")[0]
        fix = "check PYX_API_URL, the network and any proxy (HTTPS_PROXY)"
        return [Check("pyx API", FAIL, detail, fix)]
    now = time.time()
    api = Check("pyx API", OK, f"{url} answers (HTTP {response.status_code})")
    date = response.headers.get("Date")
    try:  # + 0.5: Date is truncated to the second
        skew = email.utils.parsedate_to_datetime(date).timestamp() + 0.5 - now if date else None
    except (TypeError, ValueError):
        skew = None
    if skew is None:
        return [api, Check("clock", WARN, f"{url} sent no usable Date header; clock not checked")]
    if abs(skew) > MAX_CLOCK_SKEW:
        direction = "ahead of" if skew > 0 else "behind"
        clock = Check(
            "clock",
            FAIL,
            f"pyx's clock is {abs(skew):.0f} s {direction} this machine's, so token expiry is"
            " misjudged",
            "set this machine's clock by NTP (e.g. `timedatectl set-ntp true`)",
        )
        return [api, clock]
    return [api, Check("clock", OK, f"within {MAX_CLOCK_SKEW:.0f} s of pyx's ({skew:+.0f} s)")]


def _required_hosts(settings: Settings) -> list[str]:
    """A host for each scope Bazel must send to the helper (``files.<CDN>`` for ``*.<CDN>``)."""
    return [scope.replace("*.", "files.", 1) for scope in helper_scopes(settings)]


def check_bazelrc(settings: Settings, rc: RcFiles) -> tuple[Check, list[HelperFlag]]:
    """Every pyx host reaches a helper; the helpers found, for the stub checks."""
    if rc.problems:
        return Check(".bazelrc", FAIL, rc.problems[0], "fix or remove that import"), []
    missing: list[str] = []
    flags: list[HelperFlag] = []
    for host in _required_hosts(settings):
        flag = rc.helper_for(host)
        if flag is None:
            missing.append(host)
        elif flag.path not in [known.path for known in flags]:
            flags.append(flag)
    if missing:
        return (
            Check(
                ".bazelrc",
                FAIL,
                f"no --credential_helper covers {', '.join(missing)} (read: "
                f"{', '.join(rc.read) or 'no rc file'})",
                SETUP,
            ),
            flags,
        )
    shown = ", ".join(f"{flag.path} ({flag.origin})" for flag in flags)
    return Check(".bazelrc", OK, f"pyx hosts go to {shown}"), flags


def check_stub(rc: RcFiles, flag: HelperFlag) -> list[Check]:
    """The helper exists and is executable (Bazel checks at every start), is current, runs."""
    name = "stub"
    path = rc.helper_file(flag)
    if path is None or not os.path.isfile(path):
        missing = f"{flag.path} is missing: Bazel refuses to start any command"
        return [Check(name, FAIL, missing, SETUP)]
    if not os.access(path, os.X_OK):
        return [Check(name, FAIL, f"{path} is not executable", f"chmod +x {path}, or {SETUP}")]
    checks = [Check(name, OK, f"{path} is present and executable")]
    if flag.path.startswith(WORKSPACE_PREFIX):
        with open(path, "rb") as handle:
            current = handle.read() == packaged_stub()
        checks.append(
            Check(f"{name} current", OK, "the same as this pyx-auth's stub")
            if current
            else Check(f"{name} current", WARN, "differs from this pyx-auth's stub", SETUP)
        )
    checks.append(_probe(name, path, rc.workspace))
    return checks


def _probe(name: str, path: str, workspace: str) -> Check:
    """Run the helper as Bazel does (cwd, environment, timeout) on a host-less request."""
    try:
        result = subprocess.run(
            [path, "get"],
            input=PROBE_REQUEST,
            capture_output=True,
            cwd=workspace,
            timeout=BAZEL_HELPER_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check(f"{name} runs", FAIL, f"cannot run it: {type(exc).__name__}", SETUP)
    if result.returncode == 0 and result.stdout.strip() == b'{"headers":{}}':
        return Check(f"{name} runs", OK, "finds pyx-auth and answers as Bazel runs it")
    lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
    reason = lines[-1] if lines else f"exit {result.returncode}, no message"
    return Check(
        f"{name} runs",
        FAIL,
        reason[:300],
        "install pyx-auth on PATH in the shell that runs bazel, or set PYX_AUTH_BIN",
    )


def check_store(settings: Settings) -> Check:
    """Ours, not writable by others, token files readable by us only (uv follows the umask)."""
    try:
        folder = store_directory(settings)
    except PyxAuthError as exc:
        return _failed("store", exc)
    if not os.path.isdir(folder):
        return Check("store", OK, f"{folder} not created yet")
    uid = os.getuid()
    paths = [folder, *(os.path.join(folder, n) for n in sorted(os.listdir(folder)))]
    for path in paths:
        info = os.lstat(path)
        if info.st_uid != uid:
            return Check(
                "store",
                FAIL,
                f"{path} belongs to uid {info.st_uid}, not to you (uid {uid})",
                f"sudo chown -R {uid} {folder}",
            )
        secret = path.endswith(".json")
        if (path == folder and info.st_mode & 0o022) or (secret and info.st_mode & 0o077):
            return Check(
                "store",
                FAIL,
                f"{path} is mode {info.st_mode & 0o777:o}: other users can read or change tokens",
                f"chmod 700 {folder} && chmod 600 {folder}/*.json",
            )
    return Check("store", OK, f"{folder}: yours, tokens 0600")


def check_uv() -> Check:
    uv = shutil.which("uv")
    if uv is None:
        return Check("uv", SKIP, "uv is not on PATH")
    try:
        output = subprocess.run(
            [uv, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return Check("uv", WARN, f"{uv} --version did not answer")
    words = output.split()
    parts = words[1].split(".") if len(words) > 1 else []
    if len(parts) < 3 or not all(part.isdigit() for part in parts[:3]):
        return Check("uv", WARN, f"cannot tell the version of {uv}")
    version = tuple(int(part) for part in parts[:3])
    if version <= LAST_UV_WITH_PYX:
        return Check("uv", OK, f"uv {words[1]} shares pyx-auth's token store")
    return Check(
        "uv",
        WARN,
        f"uv {words[1]} ignores PYX_AUTH_TOKEN and pyx logins (pyx support ended with 0.12.6)",
        NETRC_OR_KEYRING,
    )


def collect(settings: Settings, directory: str) -> list[Check]:
    checks = [check_credential(settings)]
    if checks[0].status == OK:
        checks.append(check_token(settings))
    checks += check_api(settings)
    workspace = find_workspace(directory)
    if workspace is None:
        checks.append(Check("workspace", SKIP, f"{os.path.abspath(directory)} is in no workspace"))
    else:
        checks.append(Check("workspace", OK, workspace))
        version = check_bazel_version(settings, workspace)
        checks += [version] if version else []
        rc = RcFiles(workspace, os.path.expanduser("~"))
        bazelrc, flags = check_bazelrc(settings, rc)
        checks.append(bazelrc)
        for flag in flags or [HelperFlag(None, WORKSPACE_PREFIX + DEFAULT_STUB_PATH, "default")]:
            checks += check_stub(rc, flag)
    return [*checks, check_store(settings), check_uv()]


def render(checks: list[Check]) -> str:
    lines = []
    for check in checks:
        lines.append(f"[{check.status:>4}] {check.name}: {check.detail}")
        if check.fix and check.status != OK:
            lines.append(f"       fix: {check.fix}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(os.environ)
    except PyxAuthError as exc:
        checks = [_failed("configuration", exc)]
    else:
        checks = collect(settings, args.dir)
    passed = all(check.status != FAIL for check in checks)
    if args.json:
        report = {"ok": passed, "checks": [check.as_dict() for check in checks]}
        sys.stdout.write(json.dumps(report) + "\n")
    else:
        sys.stdout.write(render(checks) + "\n")
        sys.stdout.write("all checks passed\n" if passed else "some checks failed\n")
    return 0 if passed else 1
