"""Each CI identity provider, branch by branch (di/id's ``test_ambient.py``, on our providers).

A provider's ``detect(audience, environ, deadline)`` returns None outside its CI, the OIDC token
inside it, and raises ``OIDCError`` (with the fix) when its CI will not give one. Tokens come
from the emulator's fake issuer over real HTTP; the only stand-in is the ``buildkite-agent``
binary (see ``ci_identity.py``), which cannot exist here.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ci_identity import (
    BUILDKITE_CLAIMS,
    GENERIC_CLAIMS,
    GITHUB_CLAIMS,
    GITLAB_CLAIMS,
    buildkite_env,
    github_env,
    gitlab_env,
)
from pyx_auth import claims, oidc
from pyx_auth.emulator import PyxEmulator
from pyx_auth.errors import (
    ConfigError,
    GitHubOIDCPermissionError,
    NetworkError,
    OIDCError,
    UnreachableError,
)
from pyx_auth.oidc import buildkite, generic, github, gitlab

if TYPE_CHECKING:
    from pyx_auth.oidc import Provider

AUDIENCE = "pyx:trusted-access"


def _deadline(seconds: float = 5.0) -> float:
    return time.monotonic() + seconds


def _aud(token: str) -> object:
    payload = claims.decode_claims(token)
    assert payload is not None
    return payload["aud"]


# -- generic: PYX_OIDC_TOKEN / PYX_OIDC_TOKEN_FILE ------------------------------------------------


def test_generic_outside_configuration_is_none() -> None:
    assert generic.detect(AUDIENCE, {}, _deadline()) is None
    assert not generic.present({"GITHUB_ACTIONS": "true"})


def test_generic_token_from_variable_is_stripped(emulator: PyxEmulator) -> None:
    token = emulator.issue_oidc_token(GENERIC_CLAIMS)
    assert generic.detect(AUDIENCE, {"PYX_OIDC_TOKEN": f" {token}\n"}, _deadline()) == token


def test_generic_empty_variable_is_an_error() -> None:
    with pytest.raises(OIDCError, match="PYX_OIDC_TOKEN is set but empty"):
        generic.detect(AUDIENCE, {"PYX_OIDC_TOKEN": " "}, _deadline())


def test_generic_variable_wins_over_file(emulator: PyxEmulator, tmp_path: Path) -> None:
    token = emulator.issue_oidc_token(GENERIC_CLAIMS)
    environ = {"PYX_OIDC_TOKEN": token, "PYX_OIDC_TOKEN_FILE": str(tmp_path / "missing")}
    assert generic.detect(AUDIENCE, environ, _deadline()) == token


def test_generic_file_is_read_again_for_every_exchange(
    emulator: PyxEmulator, tmp_path: Path
) -> None:
    """A rotated token (a Kubernetes projected token) is picked up without a restart."""
    path = tmp_path / "token"
    environ = {"PYX_OIDC_TOKEN_FILE": str(path)}
    first, second = (emulator.issue_oidc_token(GENERIC_CLAIMS) for _ in range(2))
    path.write_text(first + "\n")
    assert generic.detect(AUDIENCE, environ, _deadline()) == first
    path.write_text(second)
    assert generic.detect(AUDIENCE, environ, _deadline()) == second


def test_generic_missing_file_is_named_in_the_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "token"
    with pytest.raises(OIDCError, match=r"cannot read .*PYX_OIDC_TOKEN_FILE.*No such file"):
        generic.detect(AUDIENCE, {"PYX_OIDC_TOKEN_FILE": str(path)}, _deadline())


@pytest.mark.parametrize("content", [b"", b" \n", b"\xff\xfe"])
def test_generic_file_without_token_is_an_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "token"
    path.write_bytes(content)
    with pytest.raises(OIDCError, match="holds no token"):
        generic.detect(AUDIENCE, {"PYX_OIDC_TOKEN_FILE": str(path)}, _deadline())


def test_generic_empty_file_variable_is_an_error() -> None:
    with pytest.raises(OIDCError, match="PYX_OIDC_TOKEN_FILE is set but empty"):
        generic.detect(AUDIENCE, {"PYX_OIDC_TOKEN_FILE": ""}, _deadline())


def test_generic_identity_survives_rotation_but_not_another_subject(
    emulator: PyxEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "token"
    environ = {"PYX_OIDC_TOKEN_FILE": str(path)}
    path.write_text(emulator.issue_oidc_token(GENERIC_CLAIMS))
    before = generic.identity(environ)
    path.write_text(emulator.issue_oidc_token(GENERIC_CLAIMS))
    assert generic.identity(environ) == before
    path.write_text(emulator.issue_oidc_token({"sub": "system:serviceaccount:ci:other"}))
    assert generic.identity(environ) != before


# -- GitHub Actions -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "", "false"])
def test_github_outside_github_actions_is_none(value: str | None) -> None:
    environ = {} if value is None else {"GITHUB_ACTIONS": value}
    assert github.detect(AUDIENCE, environ, _deadline()) is None


@pytest.mark.parametrize(
    "unset", [("ACTIONS_ID_TOKEN_REQUEST_URL",), ("ACTIONS_ID_TOKEN_REQUEST_TOKEN",), ()]
)
def test_github_without_request_variables_asks_for_id_token_permission(
    emulator: PyxEmulator, unset: tuple[str, ...]
) -> None:
    environ = github_env(emulator)
    for name in unset or ("ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"):
        del environ[name]
    with pytest.raises(GitHubOIDCPermissionError) as caught:
        github.detect(AUDIENCE, environ, _deadline())
    message = str(caught.value)
    assert message.startswith("GitHub Actions: no OIDC token available")
    assert "permissions: id-token: write" in message and "forks" in message
    assert "not set" in message and all(name in message for name in unset)


def test_github_requests_token_for_audience_keeping_the_url_query(emulator: PyxEmulator) -> None:
    """The emulator refuses a request that lost ``api-version=2.0`` (the di/id#441 bug)."""
    token = github.detect(AUDIENCE, github_env(emulator), _deadline())
    assert token is not None
    assert _aud(token) == AUDIENCE
    assert (claims.decode_claims(token) or {})["sub"] == GITHUB_CLAIMS["sub"]
    assert emulator.counts()["oidc-token"] == 1


def test_github_each_call_gets_a_fresh_token(emulator: PyxEmulator) -> None:
    environ = github_env(emulator)
    first = github.detect(AUDIENCE, environ, _deadline())
    second = github.detect(AUDIENCE, environ, _deadline())
    assert first != second and emulator.counts()["oidc-token"] == 2


def test_github_bad_request_token_reports_status_not_secrets(emulator: PyxEmulator) -> None:
    environ = {**github_env(emulator), "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "rt-not-known"}
    with pytest.raises(OIDCError, match="request failed with HTTP 401") as caught:
        github.detect(AUDIENCE, environ, _deadline())
    assert "rt-not-known" not in str(caught.value)


def test_github_server_error_is_an_oidc_error(emulator: PyxEmulator) -> None:
    emulator.fail_next("oidc-token", status=503)
    with pytest.raises(OIDCError, match="HTTP 503"):
        github.detect(AUDIENCE, github_env(emulator), _deadline())


def test_github_request_timeout(emulator: PyxEmulator) -> None:
    emulator.fail_next("oidc-token", hang=3)
    started = time.monotonic()
    with pytest.raises(NetworkError, match=r"^GitHub Actions: http://\S+/idtoken did not answer"):
        github.detect(AUDIENCE, github_env(emulator), _deadline(0.5))
    assert time.monotonic() - started < 2


def test_github_no_time_left_makes_no_request(emulator: PyxEmulator) -> None:
    with pytest.raises(NetworkError, match=r"^GitHub Actions: .* did not answer in time"):
        github.detect(AUDIENCE, github_env(emulator), time.monotonic() - 1)
    assert emulator.counts()["oidc-token"] == 0


def test_github_unreachable_token_service(emulator: PyxEmulator) -> None:
    environ = github_env(emulator)
    emulator.stop()
    with pytest.raises(UnreachableError, match=r"^GitHub Actions: cannot reach http://"):
        github.detect(AUDIENCE, environ, _deadline())


@pytest.mark.parametrize(
    "body", [b"not json", b"[]", b"{}", b'{"value": 1}', b'{"value": ""}', b'{"count": 1}']
)
def test_github_bad_payload(emulator: PyxEmulator, body: bytes) -> None:
    emulator.fail_next("oidc-token", body=body)
    with pytest.raises(OIDCError, match='answered without a token \\("value"\\)'):
        github.detect(AUDIENCE, github_env(emulator), _deadline())


def test_github_identity_differs_per_job(emulator: PyxEmulator) -> None:
    assert github.identity(github_env(emulator)) != github.identity(github_env(emulator))


# -- GitLab CI ------------------------------------------------------------------------------------


def test_gitlab_outside_gitlab_is_none(emulator: PyxEmulator) -> None:
    environ = {"PYX_TRUSTED_ACCESS_ID_TOKEN": emulator.issue_oidc_token(GITLAB_CLAIMS)}
    assert gitlab.detect(AUDIENCE, environ, _deadline()) is None


@pytest.mark.parametrize(
    ("audience", "variable"),
    [
        ("pyx:trusted-access", "PYX_TRUSTED_ACCESS_ID_TOKEN"),
        ("sigstore", "SIGSTORE_ID_TOKEN"),
        ("http://test.audience", "HTTP___TEST_AUDIENCE_ID_TOKEN"),
        ("9lives", "_LIVES_ID_TOKEN"),
    ],
)
def test_gitlab_variable_follows_the_audience_convention(audience: str, variable: str) -> None:
    assert gitlab.variable_for(audience) == variable


def test_gitlab_token_from_the_conventional_variable(emulator: PyxEmulator) -> None:
    environ = gitlab_env(emulator)
    assert gitlab.detect(AUDIENCE, environ, _deadline()) == environ["PYX_TRUSTED_ACCESS_ID_TOKEN"]


def test_gitlab_missing_variable_shows_the_id_tokens_fix() -> None:
    with pytest.raises(OIDCError) as caught:
        gitlab.detect(AUDIENCE, {"GITLAB_CI": "true"}, _deadline())
    assert str(caught.value) == (
        "GitLab CI: no OIDC token in $PYX_TRUSTED_ACCESS_ID_TOKEN; declare it in the job:"
        " `id_tokens: {PYX_TRUSTED_ACCESS_ID_TOKEN: {aud: pyx:trusted-access}}`"
        " (or name yours in PYX_OIDC_TOKEN_VAR)"
    )


def test_gitlab_oidc_token_var_names_another_variable(emulator: PyxEmulator) -> None:
    token = emulator.issue_oidc_token(GITLAB_CLAIMS)
    environ = {"GITLAB_CI": "true", "PYX_OIDC_TOKEN_VAR": "MY_PYX_JWT", "MY_PYX_JWT": token}
    assert gitlab.detect(AUDIENCE, environ, _deadline()) == token
    with pytest.raises(OIDCError, match=r"no OIDC token in \$MY_PYX_JWT"):
        gitlab.detect(AUDIENCE, {"GITLAB_CI": "true", "PYX_OIDC_TOKEN_VAR": "MY_PYX_JWT"}, 0.0)


@pytest.mark.parametrize("name", ["", "1TOKEN", "MY-TOKEN", "A B"])
def test_gitlab_bad_oidc_token_var_is_a_config_error(name: str) -> None:
    with pytest.raises(ConfigError, match="PYX_OIDC_TOKEN_VAR must name an environment variable"):
        gitlab.detect(AUDIENCE, {"GITLAB_CI": "true", "PYX_OIDC_TOKEN_VAR": name}, _deadline())


# -- Buildkite ------------------------------------------------------------------------------------


def test_buildkite_outside_buildkite_is_none() -> None:
    assert buildkite.detect(AUDIENCE, {"PATH": os.environ["PATH"]}, _deadline()) is None


def test_buildkite_without_agent_says_how_to_mount_it(tmp_path: Path) -> None:
    with pytest.raises(OIDCError, match=r"buildkite-agent is not on PATH.*mount-buildkite-agent"):
        buildkite.detect(AUDIENCE, {"BUILDKITE": "true", "PATH": str(tmp_path)}, _deadline())


def test_buildkite_agent_gives_token_for_audience(emulator: PyxEmulator, tmp_path: Path) -> None:
    token = buildkite.detect(AUDIENCE, buildkite_env(emulator, tmp_path / "bin"), _deadline())
    assert token is not None and _aud(token) == AUDIENCE
    assert (claims.decode_claims(token) or {})["sub"] == BUILDKITE_CLAIMS["sub"]
    assert emulator.counts()["oidc-token"] == 1


def test_buildkite_agent_gets_no_pyx_credentials(emulator: PyxEmulator, tmp_path: Path) -> None:
    log = tmp_path / "agent-env"
    environ = {
        **buildkite_env(emulator, tmp_path / "bin"),
        "PYX_API_KEY": "sk-pyx-secret",
        "PYX_AUTH_TOKEN": "x",
        "STANDIN_AGENT_ENV_LOG": str(log),
    }
    assert buildkite.detect(AUDIENCE, environ, _deadline()) is not None
    seen = set(log.read_text().split())
    assert "BUILDKITE_AGENT_ACCESS_TOKEN" in seen
    assert not {"PYX_API_KEY", "PYX_AUTH_TOKEN"} & seen


def test_buildkite_agent_failure_shows_its_error_without_tokens(
    emulator: PyxEmulator, tmp_path: Path
) -> None:
    leaked = emulator.issue_oidc_token(BUILDKITE_CLAIMS)
    emulator.fail_next("oidc-token", status=500, body=f'{{"message":"oops {leaked}"}}'.encode())
    with pytest.raises(OIDCError) as caught:
        buildkite.detect(AUDIENCE, buildkite_env(emulator, tmp_path / "bin"), _deadline())
    message = str(caught.value)
    assert message.startswith("Buildkite: `buildkite-agent oidc request-token` failed: fatal:")
    assert "500" in message and "[redacted]" in message and leaked not in message


def test_buildkite_agent_refused_by_its_api(emulator: PyxEmulator, tmp_path: Path) -> None:
    environ = {**buildkite_env(emulator, tmp_path / "bin"), "BUILDKITE_AGENT_ACCESS_TOKEN": "nope"}
    with pytest.raises(OIDCError, match=r"failed: fatal: failed to get OIDC token.*401"):
        buildkite.detect(AUDIENCE, environ, _deadline())


def test_buildkite_agent_timeout(emulator: PyxEmulator, tmp_path: Path) -> None:
    emulator.fail_next("oidc-token", hang=5)
    started = time.monotonic()
    with pytest.raises(OIDCError, match="did not finish in time"):
        buildkite.detect(AUDIENCE, buildkite_env(emulator, tmp_path / "bin"), _deadline(1))
    assert time.monotonic() - started < 4


def test_buildkite_agent_printing_nothing_is_an_error(tmp_path: Path) -> None:
    agent = tmp_path / "buildkite-agent"
    agent.write_text("#!/bin/sh\nexit 0\n")
    agent.chmod(0o755)
    with pytest.raises(OIDCError, match="printed no token"):
        buildkite.detect(AUDIENCE, {"BUILDKITE": "true", "PATH": str(tmp_path)}, _deadline())


# -- the chain: order and checks ------------------------------------------------------------------


def test_detect_outside_ci_is_none() -> None:
    assert oidc.present({}) is None
    assert oidc.detect(AUDIENCE, {"CI": "true"}, _deadline()) is None


@pytest.mark.parametrize("provider", [generic, github, buildkite, gitlab])
def test_present_needs_one_of_the_ci_markers(provider: Provider) -> None:
    """``oidc.present`` skips the providers unless a marker is set: none may need another."""
    assert set(provider.MARKERS) <= set(oidc.CI_MARKERS)
    assert provider in oidc.providers()
    assert provider.present(dict.fromkeys(provider.MARKERS, "true"))
    everything_else = {name: "true" for name in ("CI", "GITHUB_RUN_ID", "CI_JOB_ID")}
    assert not provider.present(everything_else)


def test_detect_explicit_token_wins_over_the_ambient_ci(emulator: PyxEmulator) -> None:
    """A job without id-token permission can still hand over a token from another IdP."""
    token = emulator.issue_oidc_token(GENERIC_CLAIMS)
    environ = {"GITHUB_ACTIONS": "true", "PYX_OIDC_TOKEN": token}
    assert oidc.present(environ) is generic
    assert oidc.detect(AUDIENCE, environ, _deadline()) == token


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (("GITHUB_ACTIONS", "BUILDKITE", "GITLAB_CI"), github),
        (("BUILDKITE", "GITLAB_CI"), buildkite),
        (("GITLAB_CI",), gitlab),
    ],
)
def test_present_follows_di_id_order(names: tuple[str, ...], expected: object) -> None:
    assert oidc.present(dict.fromkeys(names, "true")) is expected


def test_detect_rejects_another_audience(emulator: PyxEmulator) -> None:
    token = emulator.issue_oidc_token(GENERIC_CLAIMS, audience="https://github.com/acme")
    with pytest.raises(OIDCError, match=r"audience 'https://github\.com/acme', not 'pyx:trusted"):
        oidc.detect(AUDIENCE, {"PYX_OIDC_TOKEN": token}, _deadline())


def test_detect_accepts_an_audience_list(emulator: PyxEmulator) -> None:
    token = emulator.issue_oidc_token(GENERIC_CLAIMS, audience=["other", AUDIENCE])
    assert oidc.detect(AUDIENCE, {"PYX_OIDC_TOKEN": token}, _deadline()) == token


def test_detect_rejects_a_non_jwt() -> None:
    with pytest.raises(OIDCError, match="OIDC token: the OIDC token is not a JWT"):
        oidc.detect(AUDIENCE, {"PYX_OIDC_TOKEN": "opaque-token"}, _deadline())


def test_detect_rejects_an_expired_token(emulator: PyxEmulator) -> None:
    token = emulator.issue_oidc_token(GENERIC_CLAIMS, lifetime=-600)
    with pytest.raises(OIDCError, match="expired 10 min ago"):
        oidc.detect(AUDIENCE, {"PYX_OIDC_TOKEN": token}, _deadline())


def test_shown_claims_are_the_listed_ones_printable_and_short(emulator: PyxEmulator) -> None:
    token = emulator.issue_oidc_token(
        {"sub": "repo:acme/app\n:ref", "ref": "x" * 500, "secret_thing": "hidden"}
    )
    shown = oidc.shown_claims(token)
    assert set(shown) == {"iss", "sub", "aud", "ref"}
    assert shown["sub"] == "repo:acme/app :ref" and len(shown["ref"]) == 200
    assert oidc.format_claims({}) == "no readable claims"
