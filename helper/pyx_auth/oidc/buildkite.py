"""Buildkite: ``buildkite-agent oidc request-token --audience <aud>`` prints the OIDC token.

The agent talks to Buildkite with the job's own credentials (``BUILDKITE_AGENT_ACCESS_TOKEN``,
``BUILDKITE_JOB_ID``), so it gets this process's environment, minus pyx credentials (as uv
strips them from build subprocesses). In the Docker plugin the agent is there only with
``mount-buildkite-agent: true`` and ``propagate-environment: true``.
"""

from __future__ import annotations

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
    if not present(environ):
        return None
    import shutil
    import subprocess

    agent = shutil.which(AGENT, path=environ.get("PATH"))
    if agent is None:
        raise OIDCError(
            f"{NAME}: {AGENT} is not on PATH; run on a Buildkite agent (in the Docker plugin set"
            " `mount-buildkite-agent: true` and `propagate-environment: true`)"
        )
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise OIDCError(f"{NAME}: no time left to request an OIDC token")
    env = {name: value for name, value in environ.items() if name not in NOT_PASSED_ON}
    try:
        process = subprocess.run(
            [agent, "oidc", "request-token", "--audience", audience],
            capture_output=True,
            text=True,
            env=env,
            stdin=subprocess.DEVNULL,
            timeout=remaining,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise OIDCError(
            f"{NAME}: `{AGENT} oidc request-token` did not finish within {remaining:.0f} s;"
            " rerun the job (PYX_AUTH_TIMEOUT allows more time)"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise OIDCError(f"{NAME}: cannot run {agent}: {exc}") from exc
    if process.returncode != 0:
        reason = _reason(process.stderr) or f"exit status {process.returncode}"
        raise OIDCError(
            f"{NAME}: `{AGENT} oidc request-token` failed: {reason}; check that the pipeline"
            " may request OIDC tokens"
        )
    token = process.stdout.strip()
    if not token:
        raise OIDCError(f"{NAME}: `{AGENT} oidc request-token` printed no token")
    return token
