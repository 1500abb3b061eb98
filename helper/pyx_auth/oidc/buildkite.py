"""Buildkite: ``buildkite-agent oidc request-token --audience <aud>`` prints the OIDC token.

The agent talks to Buildkite with the job's own credentials (``BUILDKITE_AGENT_ACCESS_TOKEN``,
``BUILDKITE_JOB_ID``), so it gets this process's environment, minus pyx credentials (as uv
strips them from build subprocesses). In the Docker plugin the agent is there only with
``mount-buildkite-agent: true`` and ``propagate-environment: true``.
"""

from __future__ import annotations

import contextlib
import time

from pyx_auth.errors import OIDCError
from pyx_auth.settings import BUILDKITE, PYX_API_KEY, PYX_AUTH_TOKEN, UV_API_KEY, UV_AUTH_TOKEN

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

NAME = "Buildkite"
AGENT = "buildkite-agent"
NOT_PASSED_ON = frozenset({PYX_API_KEY, UV_API_KEY, PYX_AUTH_TOKEN, UV_AUTH_TOKEN})
MAX_REASON = 200

MARKERS = (BUILDKITE,)
"""The variables ``present`` looks at (see ``oidc.CI_MARKERS``)."""


def present(environ: Mapping[str, str]) -> bool:
    return bool(environ.get(BUILDKITE))


def identity(environ: Mapping[str, str]) -> str:
    """The organization, pipeline and job id."""
    return "\n".join(
        environ.get(name, "")
        for name in ("BUILDKITE_ORGANIZATION_SLUG", "BUILDKITE_PIPELINE_SLUG", "BUILDKITE_JOB_ID")
    )


def _reason(stderr: str) -> str:
    """The agent's last error line, short, with anything token-shaped (``eyJ...``) removed."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    words = lines[-1].split() if lines else []
    text = " ".join("[redacted]" if word.startswith("eyJ") else word for word in words)
    return text[:MAX_REASON]


def detect(audience: str, environ: Mapping[str, str], deadline: float) -> str | None:
    """The token ``buildkite-agent`` prints; None outside Buildkite; ``OIDCError`` when the agent
    is missing, fails, prints nothing or does not finish within the run's deadline."""
    if not present(environ):
        return None
    import shutil

    agent = shutil.which(AGENT, path=environ.get("PATH"))
    if agent is None:
        raise OIDCError(
            f"{NAME}: {AGENT} is not on PATH; run on a Buildkite agent (in the Docker plugin set"
            " `mount-buildkite-agent: true` and `propagate-environment: true`)"
        )
    env = {name: value for name, value in environ.items() if name not in NOT_PASSED_ON}
    returncode, stdout, stderr = _run_agent(
        [agent, "oidc", "request-token", "--audience", audience], env, deadline
    )
    if returncode != 0:
        reason = _reason(stderr) or f"exit status {returncode}"
        raise OIDCError(
            f"{NAME}: `{AGENT} oidc request-token` failed: {reason}; check that the pipeline"
            " may request OIDC tokens"
        )
    token = stdout.strip()
    if not token:
        raise OIDCError(f"{NAME}: `{AGENT} oidc request-token` printed no token")
    return token


def _run_agent(argv: list[str], env: dict[str, str], deadline: float) -> tuple[int, str, str]:
    """Run the agent within the deadline (``deadline.run_within``); (exit status, out, err).

    It runs in a session of its own, so that when the time is up the whole process group is
    killed: the agent, and anything it started that still holds its output pipes open.
    """
    import os
    import signal
    import subprocess

    from pyx_auth.deadline import run_within

    def timed_out() -> OIDCError:
        return OIDCError(
            f"{NAME}: `{AGENT} oidc request-token` did not finish in time; rerun the job"
            " (set PYX_AUTH_TIMEOUT to wait longer)"
        )

    if deadline <= time.monotonic():
        raise timed_out()
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
            start_new_session=True,
        )
    except OSError as exc:
        raise OIDCError(f"{NAME}: cannot run {argv[0]}: {exc.strerror}") from exc
    try:
        stdout, stderr = run_within(deadline, process.communicate, timed_out, "pyx-auth agent")
    except UnicodeDecodeError as exc:
        raise OIDCError(
            f"{NAME}: `{AGENT} oidc request-token` printed text that is not UTF-8"
        ) from exc
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
    return process.returncode, stdout, stderr
