"""Trusted Access end to end: a CI job's OIDC identity becomes a pyx token, with no secrets.

Every test runs the executable under test (``run_pyx_auth``) against the emulator, which plays
both the CI's OIDC issuer (real RS256 tokens; GitHub- and Buildkite-shaped token endpoints over
HTTP) and pyx's mint-token endpoint (signature, expiry, audience, issuer and accessor patterns
checked). The only stand-in is the ``buildkite-agent`` binary (``ci_identity.py``).

Providers and the tests that prove each end to end (``token`` and ``get``: minted, cached,
reused without a new OIDC request, re-minted when stale), parametrized by ``job``:
github, gitlab, buildkite, generic (``PYX_OIDC_TOKEN``), generic-file (``PYX_OIDC_TOKEN_FILE``).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import pytest

from ci_identity import (
    BUILDKITE_CLAIMS,
    GENERIC_CLAIMS,
    GITHUB_CLAIMS,
    GITLAB_CLAIMS,
    WORKSPACE,
    buildkite_env,
    github_env,
    gitlab_env,
)
from conftest import EMULATOR_API_KEY, RunPyxAuth, pyx_auth_argv, run_concurrently, write_uv_login
from pyx_auth import claims
from pyx_auth.emulator import PyxEmulator
from pyx_auth.protocol import parse_request
from pyx_auth.settings import Settings
from pyx_auth.sources import trusted_access
from pyx_auth.sources.trusted_access import workspace_from_uri
from pyx_auth.store import Store, store_directory

PROVIDERS = ("github", "gitlab", "buildkite", "generic", "generic-file")
SUBJECTS = {
    "github": GITHUB_CLAIMS["sub"],
    "gitlab": GITLAB_CLAIMS["sub"],
    "buildkite": BUILDKITE_CLAIMS["sub"],
    "generic": GENERIC_CLAIMS["sub"],
    "generic-file": GENERIC_CLAIMS["sub"],
}


@dataclass
class Job:
    """A simulated CI job: its whole environment, and the OIDC requests one exchange costs."""

    provider: str
    env: dict[str, str]
    oidc_requests_per_mint: int

    @property
    def store(self) -> Path:
        return Path(store_directory(Settings(self.env)))


def add_accessors(emulator: PyxEmulator) -> None:
    """What a pyx admin would enroll for workspace acme: one accessor per kind of identity."""
    emulator.add_accessor(WORKSPACE, repository="acme/*")  # GitHub repository, GitLab project
    emulator.add_accessor(WORKSPACE, subject="organization:acme:pipeline:app:*")  # Buildkite
    emulator.add_accessor(WORKSPACE, subject="system:serviceaccount:ci:*")  # Kubernetes


def make_job(provider: str, emulator: PyxEmulator, tmp_path: Path) -> Job:
    if provider == "github":
        return Job(provider, {**os.environ, **github_env(emulator)}, 1)
    if provider == "gitlab":
        return Job(provider, {**os.environ, **gitlab_env(emulator)}, 0)
    if provider == "buildkite":
        return Job(provider, {**os.environ, **buildkite_env(emulator, tmp_path / "bin")}, 1)
    token = emulator.issue_oidc_token(GENERIC_CLAIMS, lifetime=3600)
    if provider == "generic":
        return Job(provider, {**os.environ, "PYX_OIDC_TOKEN": token}, 0)
    path = tmp_path / "oidc-token"
    path.write_text(token)
    return Job(provider, {**os.environ, "PYX_OIDC_TOKEN_FILE": str(path)}, 0)


@pytest.fixture(params=PROVIDERS)
def job(
    request: pytest.FixtureRequest, emulator: PyxEmulator, pyx_env: dict[str, str], tmp_path: Path
) -> Job:
    add_accessors(emulator)
    return make_job(request.param, emulator, tmp_path)


@pytest.fixture
def github_job(emulator: PyxEmulator, pyx_env: dict[str, str], tmp_path: Path) -> Job:
    add_accessors(emulator)
    return make_job("github", emulator, tmp_path)


def _token(run_pyx_auth: RunPyxAuth, env: dict[str, str], *args: str) -> str:
    result = run_pyx_auth("token", *args, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _get(run_pyx_auth: RunPyxAuth, env: dict[str, str], uri: str) -> str:
    result = run_pyx_auth("get", input=json.dumps({"uri": uri}), env=env)
    assert result.returncode == 0, result.stderr
    header: str = json.loads(result.stdout)["headers"]["Authorization"][0]
    return header.removeprefix("Bearer ")


def _subject(token: str) -> object:
    return (claims.decode_claims(token) or {}).get("sub")


def _counts(emulator: PyxEmulator) -> tuple[int, int]:
    counts = emulator.counts()
    return counts["oidc-token"], counts["mint-token"]


def _assert_failure(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Exit 2, nothing on stdout, one line on stderr with the needles and no JWT at all."""
    stderr = result.stderr
    assert result.returncode == 2, stderr
    assert result.stdout == ""
    assert stderr.startswith("pyx-auth: ") and stderr.count("\n") == 1, stderr
    assert "Traceback" not in stderr
    assert "eyJ" not in stderr, "a token (pyx or OIDC) reached stderr"
    for needle in needles:
        assert needle in stderr, stderr
    return stderr


# -- each provider end to end --------------------------------------------------------------------


def test_trusted_access_token_is_minted_cached_and_reused(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, job: Job
) -> None:
    token = _token(run_pyx_auth, job.env, "--workspace", WORKSPACE)
    assert emulator.verify(token) is not None
    assert _subject(token) == f"trusted-access:{WORKSPACE}:{SUBJECTS[job.provider]}"
    assert _counts(emulator) == (job.oidc_requests_per_mint, 1)

    cache = job.store / f"trusted-access-{WORKSPACE}.json"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert stat.S_IMODE(job.store.stat().st_mode) == 0o700
    record = json.loads(cache.read_text())
    assert set(record) == {"token", "expires", "identity"}, "never the OIDC token"
    assert record["token"] == token and record["expires"] == claims.expiry(token)

    assert _token(run_pyx_auth, job.env, "--workspace", WORKSPACE) == token
    assert _counts(emulator) == (job.oidc_requests_per_mint, 1), "reused: no OIDC request, no mint"


def test_trusted_access_get_mints_for_the_uri_workspace_and_reuses_it(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, job: Job
) -> None:
    """Bazel's `get` with no --workspace and no PYX_WORKSPACE: the index URL names it."""
    index = f"{emulator.url}/simple/{WORKSPACE}/main/"
    token = _get(run_pyx_auth, job.env, index)
    assert _subject(token) == f"trusted-access:{WORKSPACE}:{SUBJECTS[job.provider]}"
    assert httpx.get(index, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert _get(run_pyx_auth, job.env, index + "requests/") == token
    assert _token(run_pyx_auth, job.env, "--workspace", WORKSPACE) == token
    assert _counts(emulator) == (job.oidc_requests_per_mint, 1)


def test_trusted_access_stale_token_is_reminted_with_a_fresh_oidc_token(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, job: Job
) -> None:
    emulator.token_lifetime = 200  # below the 300 s refresh margin: stale as soon as minted
    first = _token(run_pyx_auth, job.env, "--workspace", WORKSPACE)
    second = _get(run_pyx_auth, job.env, f"{emulator.url}/simple/{WORKSPACE}/main/")
    assert second != first and emulator.verify(second) is not None
    assert _counts(emulator) == (2 * job.oidc_requests_per_mint, 2)
    emulator.token_lifetime = 3600
    third = _token(run_pyx_auth, job.env, "--workspace", WORKSPACE)
    assert third not in (first, second)
    assert _token(run_pyx_auth, job.env, "--workspace", WORKSPACE) == third
    assert _counts(emulator) == (3 * job.oidc_requests_per_mint, 3)


# -- which workspace -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "https://files.cdn.test/acme/ab/cd/app-1.0-py3-none-any.whl",
        "https://views.cdn.test/v1/7/acme/main/app/",
    ],
)
def test_trusted_access_get_takes_the_workspace_from_cdn_uris(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, github_job: Job, uri: str
) -> None:
    env = {**github_job.env, "PYX_CDN_DOMAIN": "cdn.test"}
    assert str(_subject(_get(run_pyx_auth, env, uri))).startswith("trusted-access:acme:")


def test_trusted_access_uri_workspace_wins_over_pyx_workspace(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, github_job: Job
) -> None:
    env = {**github_job.env, "PYX_WORKSPACE": "other"}
    token = _get(run_pyx_auth, env, f"{emulator.url}/simple/acme/main/")
    assert str(_subject(token)).startswith("trusted-access:acme:")


def test_trusted_access_pyx_workspace_serves_token_and_workspaceless_uris(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, github_job: Job
) -> None:
    env = {**github_job.env, "PYX_WORKSPACE": WORKSPACE}
    token = _token(run_pyx_auth, env)
    assert _get(run_pyx_auth, env, f"{emulator.url}/v1/anything") == token
    assert _counts(emulator)[1] == 1


def test_trusted_access_without_workspace_says_how_to_name_it(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, github_job: Job
) -> None:
    _assert_failure(
        run_pyx_auth("token", env=github_job.env),
        "Trusted Access (GitHub Actions) needs the pyx workspace",
        "--workspace NAME",
        "PYX_WORKSPACE",
    )
    result = run_pyx_auth(
        "get", input=json.dumps({"uri": f"{emulator.url}/v1/x"}), env=github_job.env
    )
    _assert_failure(result, f"{emulator.url}/simple/WORKSPACE/VIEW")
    assert _counts(emulator) == (0, 0)


@pytest.mark.parametrize("name", ["../etc", ".hidden", "a/b", "x" * 101, "ümlaut"])
def test_trusted_access_bad_workspace_names_are_refused(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, github_job: Job, name: str
) -> None:
    result = run_pyx_auth("token", "--workspace", name, env=github_job.env)
    assert result.returncode == 2 and result.stdout == ""
    assert "is not a pyx workspace name" in result.stderr
    _assert_failure(
        run_pyx_auth("token", env={**github_job.env, "PYX_WORKSPACE": name}),
        "PYX_WORKSPACE must be a pyx workspace name",
    )
    assert _counts(emulator) == (0, 0)
    assert not any(
        path.name.startswith("trusted-access") for path in github_job.store.parent.rglob("*")
    )


# -- the cache and the fast path -----------------------------------------------------------------


def test_trusted_access_token_of_another_job_is_not_reused(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, github_job: Job
) -> None:
    """A self-hosted runner keeps its home folder; the next job must not get this job's token."""
    first = _token(run_pyx_auth, github_job.env, "--workspace", WORKSPACE)
    next_job = {**os.environ, **github_env(emulator)}  # same repository, another job
    second = _token(run_pyx_auth, next_job, "--workspace", WORKSPACE)
    assert second != first
    assert _counts(emulator) == (2, 2)


def test_trusted_access_steps_aside_from_a_lower_source(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, github_job: Job
) -> None:
    """With a uv login in the store, the cache hit must not answer with the login's token."""
    login_token, refresh = emulator.issue_tokens()
    write_uv_login(login_token, refresh)
    token = _get(run_pyx_auth, github_job.env, f"{emulator.url}/simple/{WORKSPACE}/main/")
    assert token != login_token
    assert str(_subject(token)).startswith("trusted-access:")
    assert emulator.counts()["refresh"] == 0


def test_trusted_access_cache_hit_imports_only_the_standard_library(
    emulator: PyxEmulator, github_job: Job
) -> None:
    """Detection and the cached answer are env lookups and one file read: no httpx, no jwt."""
    request = json.dumps({"uri": f"{emulator.url}/simple/{WORKSPACE}/main/"})
    subprocess.run(
        [*pyx_auth_argv(), "get"],
        input=request,
        env=github_job.env,
        text=True,
        check=True,
        capture_output=True,
    )
    probe = (
        "import sys\n"
        "from pyx_auth.cli import main\n"
        "code = main(['get'], sys.stdin.buffer.read())\n"
        "heavy = {'httpx', 'jwt', 'cryptography', 'keyring', 'subprocess', 'argparse'}\n"
        "print(sorted(heavy & {name.split('.')[0] for name in sys.modules}), file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        input=request,
        env=github_job.env,
        text=True,
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "[]\n"
    assert _counts(emulator) == (1, 1)


def test_trusted_access_answer_without_expires_uses_the_token_exp(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, github_job: Job
) -> None:
    emulator.mint_returns_expires = False
    token = _token(run_pyx_auth, github_job.env, "--workspace", WORKSPACE)
    assert _token(run_pyx_auth, github_job.env, "--workspace", WORKSPACE) == token
    record = json.loads((github_job.store / "trusted-access-acme.json").read_text())
    assert record["expires"] is None
    assert _counts(emulator) == (1, 1)


def test_trusted_access_concurrent_processes_mint_once(
    emulator: PyxEmulator, github_job: Job
) -> None:
    emulator.fail_next("mint-token", hang=1.0)  # a slow exchange: the others queue on the lock
    env = {**github_job.env, "PYX_AUTH_TIMEOUT": "30"}
    results = run_concurrently(8, env, "token", "--workspace", WORKSPACE)
    assert all(r.returncode == 0 for r in results), [(r.stdout, r.stderr) for r in results]
    assert len({r.stdout for r in results}) == 1
    assert _counts(emulator) == (1, 1)


# -- precedence ----------------------------------------------------------------------------------


def test_api_key_wins_over_the_ci_identity(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, github_job: Job
) -> None:
    env = {**github_job.env, "PYX_API_KEY": EMULATOR_API_KEY}
    token = _token(run_pyx_auth, env, "--workspace", WORKSPACE)
    assert str(_subject(token)).startswith("api-key:")
    assert _counts(emulator) == (0, 0) and emulator.counts()["access-token"] == 1


def test_auth_token_wins_over_the_ci_identity(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, github_job: Job
) -> None:
    given = emulator.mint_access_token("from-env")
    env = {**github_job.env, "PYX_AUTH_TOKEN": given}
    assert _token(run_pyx_auth, env, "--workspace", WORKSPACE) == given
    assert _get(run_pyx_auth, env, f"{emulator.url}/simple/{WORKSPACE}/main/") == given
    assert _counts(emulator) == (0, 0)


# -- could not get an OIDC token -------------------------------------------------------------------


def test_github_without_id_token_permission_fails_with_the_fix(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    env = {**os.environ, "GITHUB_ACTIONS": "true"}
    _assert_failure(
        run_pyx_auth("token", "--workspace", WORKSPACE, env=env),
        "pyx-auth: GitHub Actions: no OIDC token available",
        "permissions: id-token: write",
        "forks",
    )


def test_github_token_service_failure_is_an_oidc_error(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, github_job: Job
) -> None:
    emulator.fail_next("oidc-token", status=500)
    _assert_failure(
        run_pyx_auth("token", "--workspace", WORKSPACE, env=github_job.env),
        "GitHub Actions: the OIDC token request failed with HTTP 500",
    )
    assert emulator.counts()["mint-token"] == 0


def test_gitlab_without_id_tokens_variable_fails_with_the_fix(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    _assert_failure(
        run_pyx_auth("token", "--workspace", WORKSPACE, env={**os.environ, "GITLAB_CI": "true"}),
        "GitLab CI: no OIDC token in $PYX_TRUSTED_ACCESS_ID_TOKEN",
        "id_tokens: {PYX_TRUSTED_ACCESS_ID_TOKEN: {aud: pyx:trusted-access}}",
    )


def test_buildkite_without_agent_fails_with_the_fix(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**os.environ, "BUILDKITE": "true", "PATH": str(tmp_path)}
    _assert_failure(
        run_pyx_auth("token", "--workspace", WORKSPACE, env=env),
        "Buildkite: buildkite-agent is not on PATH",
        "mount-buildkite-agent: true",
    )


def test_generic_missing_token_file_fails_naming_it(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**os.environ, "PYX_OIDC_TOKEN_FILE": str(tmp_path / "gone")}
    _assert_failure(
        run_pyx_auth("token", "--workspace", WORKSPACE, env=env),
        f"OIDC token: cannot read {tmp_path / 'gone'} (PYX_OIDC_TOKEN_FILE)",
    )


def test_expired_oidc_token_fails_before_asking_pyx(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    env = {**os.environ, "PYX_OIDC_TOKEN": emulator.issue_oidc_token(GENERIC_CLAIMS, lifetime=-120)}
    _assert_failure(
        run_pyx_auth("token", "--workspace", WORKSPACE, env=env),
        "OIDC token: the OIDC token expired 2 min ago",
    )
    assert emulator.counts()["mint-token"] == 0


# -- pyx refused the token -------------------------------------------------------------------------


def test_no_matching_accessor_shows_problem_detail_and_claims(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    emulator.add_accessor(WORKSPACE, repository="acme/*", subject="repo:acme/*:environment:prod")
    env = {**os.environ, **github_env(emulator)}
    for args in (("token", "--workspace", WORKSPACE), ("get",)):
        request = json.dumps({"uri": f"{emulator.url}/simple/{WORKSPACE}/main/"})
        stderr = _assert_failure(
            run_pyx_auth(*args, input=request, env=env),
            "pyx-auth: pyx refused the OIDC token for workspace acme (HTTP 403: Forbidden:"
            " invalid-accessor: valid token, but no Trusted Access accessor of workspace 'acme'",
            "sub='repo:acme/app:ref:refs/heads/main'",
            "aud='pyx:trusted-access'",
            "repository='acme/app'",
            "repository_owner='acme'",
            "ref='refs/heads/main'",
            "job_workflow_ref='acme/app/.github/workflows/ci.yml@refs/heads/main'",
            "Repository or Subject pattern",
        )
        assert "event_name" not in stderr
    assert _counts(emulator) == (2, 2)


def test_wrong_audience_is_refused_by_pyx_with_the_audience_shown(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, github_job: Job
) -> None:
    env = {**github_job.env, "PYX_TRUSTED_ACCESS_AUDIENCE": "pyx:something-else"}
    _assert_failure(
        run_pyx_auth("token", "--workspace", WORKSPACE, env=env),
        "pyx refused the OIDC token for workspace acme (HTTP 401",
        "audience is not 'pyx:trusted-access'",
        "aud='pyx:something-else'",
    )


def test_token_from_an_unknown_issuer_key_is_refused(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    add_accessors(emulator)
    with PyxEmulator() as other_issuer:
        forged = other_issuer.issue_oidc_token(GENERIC_CLAIMS, issuer=emulator.oidc_issuer)
    _assert_failure(
        run_pyx_auth(
            "token", "--workspace", WORKSPACE, env={**os.environ, "PYX_OIDC_TOKEN": forged}
        ),
        "(HTTP 401: Unauthorized: invalid-token: the OIDC token's signature does not verify)",
    )


# -- pyx failed, or is configured elsewhere -----------------------------------------------------


def test_server_errors_are_retried_then_say_try_later(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, github_job: Job
) -> None:
    emulator.fail_next("mint-token", status=503, times=3)
    _assert_failure(
        run_pyx_auth("token", "--workspace", WORKSPACE, env=github_job.env),
        "failed with HTTP 503",
        "try again later",
    )
    assert emulator.counts()["mint-token"] == 3


def test_server_error_then_success_mints(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, github_job: Job
) -> None:
    emulator.fail_next("mint-token", status=502)
    assert emulator.verify(_token(run_pyx_auth, github_job.env, "--workspace", WORKSPACE))
    assert emulator.counts()["mint-token"] == 2


def test_mint_path_is_configurable_and_404_names_the_setting(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, github_job: Job
) -> None:
    env = {**github_job.env, "PYX_TRUSTED_ACCESS_PATH": "v2/access/{workspace}/mint"}
    _assert_failure(
        run_pyx_auth("token", "--workspace", WORKSPACE, env=env),
        f"{emulator.url}/v2/access/acme/mint was not found (HTTP 404",
        "PYX_TRUSTED_ACCESS_PATH",
    )
    bad = {**github_job.env, "PYX_TRUSTED_ACCESS_PATH": "v1/mint-token"}
    _assert_failure(
        run_pyx_auth("token", "--workspace", WORKSPACE, env=bad),
        "PYX_TRUSTED_ACCESS_PATH must contain {workspace}",
    )


# -- status ----------------------------------------------------------------------------------------


def test_status_shows_provider_and_claims_but_no_token(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, github_job: Job
) -> None:
    result = run_pyx_auth("status", "--workspace", WORKSPACE, env=github_job.env)
    assert result.returncode == 0, result.stderr
    assert "source:    Trusted Access via GitHub Actions (workspace acme)" in result.stdout
    assert "provider:  GitHub Actions\nworkspace: acme\n" in result.stdout
    assert "claims:    iss=" in result.stdout
    assert "sub='repo:acme/app:ref:refs/heads/main'" in result.stdout
    assert "token:     none cached yet (minted on first use)" in result.stdout
    assert "eyJ" not in result.stdout + result.stderr
    assert _counts(emulator) == (1, 0), "asks the CI for a token, never pyx"

    _token(run_pyx_auth, github_job.env, "--workspace", WORKSPACE)
    report = json.loads(
        run_pyx_auth("status", "--json", "--workspace", WORKSPACE, env=github_job.env).stdout
    )
    assert report["usable"] is True and report["token"]["fresh"] is True
    assert report["trusted_access"]["provider"] == "GitHub Actions"
    assert report["trusted_access"]["claims"]["repository"] == "acme/app"


def test_status_without_workspace_shows_claims_and_fails(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, github_job: Job
) -> None:
    result = run_pyx_auth("status", env=github_job.env)
    assert result.returncode == 2
    assert "workspace: none (pass --workspace NAME)" in result.stdout
    assert "repository='acme/app'" in result.stdout
    assert "needs the pyx workspace" in result.stderr


def test_status_reports_the_oidc_failure(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    env = {**os.environ, "GITHUB_ACTIONS": "true"}
    result = run_pyx_auth("status", "--workspace", WORKSPACE, env=env)
    assert result.returncode == 2
    assert "provider:  GitHub Actions" in result.stdout
    assert "permissions: id-token: write" in result.stderr


# -- the emulator's mint-token endpoint (what the tests above rely on) -----------------------------


def _mint(emulator: PyxEmulator, token: str, workspace: str = WORKSPACE) -> httpx.Response:
    return httpx.post(
        f"{emulator.url}/v1/trusted-access/{workspace}/mint-token", json={"token": token}
    )


@pytest.mark.parametrize(
    ("accessor", "claims_", "minted"),
    [
        (
            {"repository": "acme/*"},
            {"repository": "acme/app", "sub": "repo:acme/app:pull_request"},
            True,
        ),
        (
            {"repository": "acme/*"},
            {"repository": "acme-evil/app", "sub": "repo:acme-evil/app:x"},
            False,
        ),
        (
            {"repository": "acme/app", "subject": "repo:acme/app:ref:refs/heads/main"},
            {"repository": "acme/app", "sub": "repo:acme/app:ref:refs/heads/dev"},
            False,
        ),
        # GitHub's immutable subject form matches a pattern written either way ...
        (
            {"repository": "acme/app", "subject": "repo:acme/app:ref:refs/heads/main"},
            {"repository": "acme/app", "sub": "repo:acme@123/app@456:ref:refs/heads/main"},
            True,
        ),
        (
            {"subject": "repo:acme@123/app@456:*"},
            {"repository": "acme/app", "sub": "repo:acme@123/app@456:ref:refs/heads/main"},
            True,
        ),
        # ... but the owner's ID still counts when the pattern names it (a resurrected name).
        (
            {"subject": "repo:acme@123/app@456:*"},
            {"repository": "acme/app", "sub": "repo:acme@999/app@456:ref:refs/heads/main"},
            False,
        ),
        (
            {"repository": "acme/*"},
            {"project_path": "acme/app", "sub": "project_path:acme/app:x"},
            True,
        ),
    ],
)
def test_emulator_mint_matches_accessor_patterns(
    emulator: PyxEmulator, accessor: dict[str, str], claims_: dict[str, str], minted: bool
) -> None:
    emulator.add_accessor(WORKSPACE, **accessor)
    response = _mint(emulator, emulator.issue_oidc_token(claims_))
    assert response.status_code == (200 if minted else 403), response.text
    if minted:
        assert emulator.verify(response.json()["token"]) is not None
        assert response.json()["expires"] == claims.expiry(response.json()["token"])


@pytest.mark.parametrize(
    ("make_token", "detail"),
    [
        (lambda e: e.issue_oidc_token(GENERIC_CLAIMS, lifetime=-5), "has expired"),
        (lambda e: e.issue_oidc_token(GENERIC_CLAIMS, audience="other"), "audience is not"),
        (lambda e: e.issue_oidc_token({"sub": None}), "has no 'sub' claim"),
        (lambda e: e.issue_oidc_token({}).replace(".", ".x", 1), "malformed"),
        (lambda e: e.mint_access_token("hs256-not-rs256"), "malformed"),
    ],
)
def test_emulator_mint_refuses_invalid_tokens(
    emulator: PyxEmulator, make_token: Callable[[PyxEmulator], str], detail: str
) -> None:
    add_accessors(emulator)
    response = _mint(emulator, make_token(emulator))
    assert response.status_code == 401 and detail in response.json()["detail"]


def test_emulator_mint_refuses_another_issuer_and_workspace(emulator: PyxEmulator) -> None:
    add_accessors(emulator)
    foreign = emulator.issue_oidc_token(GENERIC_CLAIMS, issuer="https://idp.example")
    assert _mint(emulator, foreign).status_code == 403
    assert _mint(emulator, emulator.issue_oidc_token(GENERIC_CLAIMS), "other").status_code == 403
    assert _mint(emulator, emulator.issue_oidc_token(GENERIC_CLAIMS)).status_code == 200


def test_emulator_mint_wants_json(emulator: PyxEmulator) -> None:
    url = f"{emulator.url}/v1/trusted-access/{WORKSPACE}/mint-token"
    token = emulator.issue_oidc_token(GENERIC_CLAIMS)
    assert httpx.post(url, content=json.dumps({"token": token})).status_code == 415
    assert httpx.post(url, json={"jwt": token}).status_code == 400


@pytest.mark.parametrize(
    ("uri", "workspace"),
    [
        ("https://api.pyx.dev/simple/acme/main/", "acme"),
        ("https://api.pyx.dev/simple/acme/x", "acme"),
        ("https://api.pyx.dev/simple/acme", None),  # no path after it: not a workspace
        ("https://api.pyx.dev/simple/", None),
        ("https://files.astralhosted.com/acme/f.whl", "acme"),
        ("https://files.astralhosted.com/acme", None),
        ("https://views.astralhosted.com/v1/s0/acme/main/", "acme"),
        ("https://views.astralhosted.com/v1/s0/acme", None),
        ("http://files.astralhosted.com/acme/f.whl", None),  # the CDN only over https
        ("http://views.astralhosted.com/v1/s0/acme/main/", None),
    ],
)
def test_the_workspace_is_the_segment_a_pyx_uri_puts_before_more_path(
    uri: str, workspace: str | None
) -> None:
    """Trusted Access mints for the workspace of the URI Bazel asks about, so each URI shape
    must name it exactly, and a bare workspace segment with nothing after it names none."""
    request = parse_request(json.dumps({"uri": uri}).encode())
    assert workspace_from_uri(request, Settings({})) == workspace


EXP = 4_102_444_800  # 2100-01-01


@pytest.mark.parametrize(
    ("expires", "expected"), [(EXP - 600, EXP - 600), (EXP + 600, EXP), (True, EXP), (None, EXP)]
)
def test_a_minted_token_expires_at_pyxs_expires_when_that_is_earlier_than_its_exp(
    expires: object, expected: int
) -> None:
    """pyx's ``expires`` may cut a token's life short; a boolean is no time and is ignored."""
    value = jwt.encode({"exp": EXP}, "k" * 32, algorithm="HS256")
    assert trusted_access._token(value, expires).expires_at == expected


@pytest.mark.parametrize("token", ["two words", "tok\r\nX-Evil: 1", 7, ""])
def test_a_cached_token_that_cannot_be_a_header_is_not_used(tmp_path: Path, token: object) -> None:
    """A corrupt or planted cache entry for this very job is a miss, never a header."""
    store = Store(str(tmp_path / "store"))
    store.write("trusted-access-acme.json", json.dumps({"identity": "job-1", "token": token}))
    assert trusted_access.read_cached(store, "trusted-access-acme.json", "job-1") is None
    good = jwt.encode({"exp": EXP}, "k" * 32, algorithm="HS256")
    store.write("trusted-access-acme.json", json.dumps({"identity": "job-1", "token": good}))
    cached = trusted_access.read_cached(store, "trusted-access-acme.json", "job-1")
    assert cached is not None and cached.value == good
