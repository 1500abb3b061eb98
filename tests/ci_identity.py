"""Simulated CI jobs for the Trusted Access tests: what each CI puts into a job's environment.

Every OIDC token is a real RS256 JWT from the emulator's fake issuer, fetched over real HTTP
where the CI fetches one (GitHub's token endpoint, Buildkite's agent API). The one stand-in is
the ``buildkite-agent`` binary, which cannot exist outside a Buildkite agent: ``install_agent``
writes a small script that does what the agent does, asking the emulator's Buildkite-shaped
endpoint with the job's agent token, and prints the token.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from pyx_auth.emulator import PyxEmulator

WORKSPACE = "acme"
GITHUB_CLAIMS: dict[str, Any] = {
    "sub": "repo:acme/app:ref:refs/heads/main",
    "repository": "acme/app",
    "repository_owner": "acme",
    "repository_id": "456",
    "repository_owner_id": "123",
    "ref": "refs/heads/main",
    "job_workflow_ref": "acme/app/.github/workflows/ci.yml@refs/heads/main",
    "event_name": "push",
}
GITLAB_CLAIMS: dict[str, Any] = {
    "sub": "project_path:acme/app:ref_type:branch:ref:main",
    "project_path": "acme/app",
    "namespace_path": "acme",
    "ref": "main",
}
BUILDKITE_CLAIMS: dict[str, Any] = {
    "sub": "organization:acme:pipeline:app:ref:refs/heads/main:commit:0123abc:step:build",
    "organization_slug": "acme",
    "pipeline_slug": "app",
}
GENERIC_CLAIMS: dict[str, Any] = {"sub": "system:serviceaccount:ci:builder"}

AGENT_SCRIPT = '''\
"""Stand-in for `buildkite-agent oidc request-token --audience AUD` (the real agent cannot run
here): ask the agent API (the emulator) for a token, as the agent does, and print it."""
import json, os, sys, urllib.error, urllib.request

args = sys.argv[1:]
if args[:2] != ["oidc", "request-token"] or "--audience" not in args:
    sys.exit("fatal: unsupported command " + " ".join(args))
log = os.environ.get("STANDIN_AGENT_ENV_LOG")
if log:
    with open(log, "w") as handle:
        handle.write("\\n".join(sorted(os.environ)))
url = "{}/jobs/{}/oidc/tokens".format(
    os.environ["BUILDKITE_AGENT_ENDPOINT"], os.environ["BUILDKITE_JOB_ID"]
)
body = json.dumps({"audience": args[args.index("--audience") + 1]}).encode()
request = urllib.request.Request(url, data=body, method="POST", headers={
    "Authorization": "Token " + os.environ["BUILDKITE_AGENT_ACCESS_TOKEN"],
    "Content-Type": "application/json",
})
try:
    with urllib.request.urlopen(request, timeout=30) as response:
        print(json.load(response)["token"])
except urllib.error.HTTPError as error:
    print("fatal: failed to get OIDC token: POST " + url + ": " + str(error.code) + " "
          + error.read().decode(errors="replace"), file=sys.stderr)
    sys.exit(1)
'''


def install_agent(bin_dir: Path) -> Path:
    """Write the stand-in ``buildkite-agent`` into ``bin_dir`` (made if missing)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    agent = bin_dir / "buildkite-agent"
    agent.write_text(f"#!{sys.executable}\n{AGENT_SCRIPT}")
    agent.chmod(0o755)
    return agent


def github_env(emulator: PyxEmulator, claims: dict[str, Any] = GITHUB_CLAIMS) -> dict[str, str]:
    """A GitHub Actions job with ``permissions: id-token: write``."""
    return {**emulator.github_oidc_env(claims), "GITHUB_REPOSITORY": claims["repository"]}


def gitlab_env(emulator: PyxEmulator, claims: dict[str, Any] = GITLAB_CLAIMS) -> dict[str, str]:
    """A GitLab job with ``id_tokens: {PYX_TRUSTED_ACCESS_ID_TOKEN: {aud: pyx:trusted-access}}``."""
    return {
        "GITLAB_CI": "true",
        "CI_PROJECT_PATH": claims["project_path"],
        "CI_JOB_ID": "1001",
        "PYX_TRUSTED_ACCESS_ID_TOKEN": emulator.issue_oidc_token(claims, lifetime=3600),
    }


def buildkite_env(
    emulator: PyxEmulator, bin_dir: Path, claims: dict[str, Any] = BUILDKITE_CLAIMS
) -> dict[str, str]:
    """A Buildkite job, with the stand-in agent first on PATH."""
    install_agent(bin_dir)
    return {
        "BUILDKITE": "true",
        "BUILDKITE_ORGANIZATION_SLUG": claims["organization_slug"],
        "BUILDKITE_PIPELINE_SLUG": claims["pipeline_slug"],
        "BUILDKITE_JOB_ID": "0190-job",
        "BUILDKITE_AGENT_ENDPOINT": f"{emulator.url}/_oidc/buildkite/v3",
        "BUILDKITE_AGENT_ACCESS_TOKEN": emulator.oidc_request_token(claims),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
