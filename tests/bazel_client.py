"""A credential-helper client that behaves as Bazel does, for tests: run, read, judge, cache.

Reproduces ``shared/reference/bazel-credential-helpers.md`` §2-§5 (from Bazel's documented
behaviour, not its code), because no Bazel with credential helpers can be installed here:

- argv is exactly ``[helper..., "get"]``; the cwd is a workspace; the environment is the
  caller's (Bazel passes its client environment);
- the request is ``{"uri":"..."}`` as Gson writes it: compact, HTML-safe escapes
  (``=`` becomes ``\\u003d``), no trailing newline; then stdin is closed;
- Bazel waits for the exit (10 s, then kills) and only then reads stdout and stderr, so a
  helper that writes more than a pipe holds stalls until the timeout;
- the answer is judged by Bazel's rules: non-zero exit, empty stdout, a non-object, a
  ``headers`` that is not an object of arrays of strings, or an ``expires`` that is not a
  string in ``yyyy-MM-dd'T'HH:mm:ssXXX`` form all fail the whole call;
- answers are cached per full URI until ``expires`` (Bazel >= 7.1) or for 30 minutes.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

BAZEL_TIMEOUT = 10.0
"""``--credential_helper_timeout``'s default since Bazel 6.3."""
CACHE_DURATION = 30 * 60.0
"""``--credential_helper_cache_duration``'s default."""
STRICT_EXPIRES = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$")
"""The strict form to check answers against (the spec's JSON schema does not check it)."""
_EXPIRES_PARTS = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:(Z)|([+-])(\d{2}):(\d{2}))$"
)
_GSON_HTML_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "=": "\\u003d",
    "'": "\\u0027",
}


class HelperError(Exception):
    """The helper call failed the way Bazel would fail it; ``kind`` names how."""

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        exit_code: int | None = None,
        stdout: str = "",
        stderr: str = "",
    ) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr


class Answer:
    """An answer Bazel accepted, and what the process printed to produce it."""

    def __init__(
        self,
        headers: dict[str, list[str]],
        expires: dt.datetime | None,
        stdout: str,
        stderr: str,
        seconds: float,
    ) -> None:
        self.headers = headers
        self.expires = expires
        self.stdout = stdout
        self.stderr = stderr
        self.seconds = seconds

    @property
    def authorization(self) -> str | None:
        values = self.headers.get("Authorization", [])
        return values[0] if values else None


def gson_request(uri: str) -> bytes:
    """``{"uri":"<uri>"}`` exactly as Bazel's default ``new Gson()`` serialises it."""
    text = json.dumps({"uri": uri}, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    for char, escape in _GSON_HTML_ESCAPES.items():
        text = text.replace(char, escape)
    return text.encode("utf-8", "surrogatepass")


def parse_expires(text: str) -> dt.datetime:
    """Bazel's ``expires`` parsing: ``yyyy-MM-dd'T'HH:mm:ssXXX``, LENIENT resolver, in UTC.

    Fractional seconds, lower-case ``t``/``z``, a space, a missing offset and ``+0000`` or
    ``+02`` are rejected; out-of-range fields (``23:59:60``, ``24:00:00``, ``02-30``) roll
    over, as java.time's lenient resolver does.
    """
    match = _EXPIRES_PARTS.match(text)
    if match is None:
        raise ValueError(f"Bazel cannot parse expires {text!r}")
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    extra_years, month_index = divmod(month - 1, 12)
    offset = dt.timedelta()
    if match.group(7) is None:
        sign = -1 if match.group(8) == "-" else 1
        offset = sign * dt.timedelta(hours=int(match.group(9)), minutes=int(match.group(10)))
    start = dt.datetime(year + extra_years, month_index + 1, 1, tzinfo=dt.UTC)
    return start + dt.timedelta(days=day - 1, hours=hour, minutes=minute, seconds=second) - offset


def judge(
    exit_code: int, stdout: str, stderr: str
) -> tuple[dict[str, list[str]], dt.datetime | None]:
    """Headers and expiry of an answer, or ``HelperError`` where Bazel fails the call."""
    if exit_code != 0:
        raise HelperError("exit", f"process exited with code {exit_code}. stderr: {stderr}")
    if not stdout:
        raise HelperError("no-output", "process exited without output")
    try:
        answer = json.loads(stdout)
    except ValueError:
        raise HelperError("parse", f"error parsing output. stderr: {stderr}") from None
    if not isinstance(answer, dict):
        raise HelperError("parse", "output is not a JSON object")
    headers = answer.get("headers", {})
    if not isinstance(headers, dict) or not all(
        isinstance(values, list) and all(isinstance(value, str) for value in values)
        for values in headers.values()
    ):
        raise HelperError("parse", f"invalid headers: {headers!r}")
    expires = None
    if "expires" in answer:
        if not isinstance(answer["expires"], str):
            raise HelperError("parse", f"expires is not a string: {answer['expires']!r}")
        try:
            expires = parse_expires(answer["expires"])
        except ValueError as exc:
            raise HelperError("parse", str(exc)) from None
    return headers, expires


class BazelClient:
    """Calls one credential helper as Bazel does; ``get`` adds Bazel's per-URI cache."""

    def __init__(
        self,
        helper: Sequence[str],
        *,
        workspace: Path,
        env: Mapping[str, str],
        timeout: float = BAZEL_TIMEOUT,
        honour_expires: bool = True,
    ) -> None:
        self.argv = [*helper, "get"]
        self.workspace = workspace
        self.env = dict(env)
        self.timeout = timeout
        self.honour_expires = honour_expires
        self.calls = 0
        self._cache: dict[str, tuple[float, Answer]] = {}

    def call(self, uri: str, *, request: bytes | None = None) -> Answer:
        """Run the helper once for ``uri`` (or send ``request`` as it is) and judge the answer."""
        self.calls += 1
        started = time.monotonic()
        try:
            process = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=self.workspace,
                env=self.env,
            )
        except OSError as exc:
            raise HelperError("start", f"cannot run {self.argv[0]}: {exc.strerror}") from None
        with process:
            assert process.stdin is not None and process.stdout is not None
            assert process.stderr is not None
            try:
                process.stdin.write(gson_request(uri) if request is None else request)
                process.stdin.close()
            except BrokenPipeError:  # Bazel >= 6.2 ignores a helper that never reads stdin
                pass
            try:
                exit_code = process.wait(self.timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise HelperError("timeout", f"process timed out after {self.timeout} s") from None
            stdout = process.stdout.read().decode("utf-8", "replace")
            stderr = process.stderr.read().decode("utf-8", "replace")
        try:
            headers, expires = judge(exit_code, stdout, stderr)
        except HelperError as exc:
            exc.exit_code, exc.stdout, exc.stderr = exit_code, stdout, stderr
            raise
        return Answer(headers, expires, stdout, stderr, time.monotonic() - started)

    def get(self, uri: str, *, now: float | None = None) -> Answer:
        """Bazel's cached lookup: reuse an answer for the same URI until it expires."""
        now = time.time() if now is None else now
        cached = self._cache.get(uri)
        if cached is not None and now < cached[0]:
            return cached[1]
        answer = self.call(uri)
        until = now + CACHE_DURATION
        if self.honour_expires and answer.expires is not None:
            until = answer.expires.timestamp()
        self._cache[uri] = (until, answer)
        return answer
