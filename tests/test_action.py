"""The composite GitHub Action (``action.yml``): its script run in a simulated runner.

The runner cannot run here, so each test gives ``scripts/action-mint.sh`` what the runner gives
a step: ``GITHUB_ACTIONS=true``, the ``GITHUB_ENV`` and ``GITHUB_OUTPUT`` files, the inputs as
``INPUT_*`` variables (as ``action.yml`` maps them), and, for Trusted Access, the OIDC request
variables, pointing at the emulator's GitHub-shaped token endpoint. pyx-auth is the executable
under test (``PYX_AUTH_BIN``). A later step is simulated by running pyx-auth with the
variables the script wrote to ``GITHUB_ENV``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from ci_identity import GITHUB_CLAIMS, WORKSPACE, github_env
from conftest import EMULATOR_API_KEY, pyx_auth_argv
from pyx_auth import claims
from pyx_auth.emulator import PyxEmulator

REPO = Path(__file__).resolve().parents[1]
ACTION = REPO / "action.yml"
SCRIPT = REPO / "scripts" / "action-mint.sh"


@dataclass
class Step:
    result: subprocess.CompletedProcess[str]
    github_env: dict[str, str]
    outputs: dict[str, str]


@pytest.fixture
def runner(tmp_path: Path, store_root: Path) -> dict[str, str]:
    """The environment the runner gives every step of a job, with pyx-auth installed."""
    wrapper = tmp_path / "bin" / "pyx-auth"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\nexec {shlex.join(pyx_auth_argv())} "$@"\n')
    wrapper.chmod(0o755)
    files = {name: tmp_path / name.lower() for name in ("GITHUB_ENV", "GITHUB_OUTPUT")}
    for path in files.values():
        path.touch()
    return {
        **os.environ,
        **{name: str(path) for name, path in files.items()},
        "GITHUB_ACTIONS": "true",
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_ACTION_PATH": str(REPO),
        "PYX_AUTH_BIN": str(wrapper),
        "PYX_CREDENTIALS_DIR": str(store_root),
    }


def _parse_lines(path: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in Path(path).read_text().splitlines() if line)
    return dict(pairs)


def run_step(env: dict[str, str], **inputs: str) -> Step:
    """Run the action's step with ``inputs`` (``min_ttl`` → ``INPUT_MIN_TTL``)."""
    step_env = {**env, **{f"INPUT_{name.upper()}": value for name, value in inputs.items()}}
    result = subprocess.run(
        ["bash", str(SCRIPT)], env=step_env, capture_output=True, text=True, timeout=60, check=False
    )
    return Step(result, _parse_lines(env["GITHUB_ENV"]), _parse_lines(env["GITHUB_OUTPUT"]))


def _subject(token: str) -> object:
    return (claims.decode_claims(token) or {}).get("sub")


def _masked_before_use(step: Step, secret: str) -> None:
    """Every occurrence of the secret in the step's log is inside an ::add-mask:: command."""
    log = step.result.stdout + step.result.stderr
    assert f"::add-mask::{secret}" in log
    assert log.count(secret) == log.count(f"::add-mask::{secret}")


def test_action_trusted_access_exports_a_masked_token_for_later_steps(
    runner: dict[str, str], emulator: PyxEmulator
) -> None:
    emulator.add_accessor(WORKSPACE, repository="acme/*")
    env = {**runner, **github_env(emulator)}
    step = run_step(env, workspace=WORKSPACE, min_ttl="30m", api_url=emulator.url)
    assert step.result.returncode == 0, step.result.stderr
    token = step.github_env["PYX_AUTH_TOKEN"]
    verified = emulator.verify(token)  # PyJWT with the emulator's key, not pyx-auth's claims
    assert verified is not None
    assert _subject(token) == f"trusted-access:acme:{GITHUB_CLAIMS['sub']}"
    assert step.github_env["PYX_API_URL"] == emulator.url
    assert step.outputs == {"expires-at": str(verified["exp"])}
    _masked_before_use(step, token)
    assert emulator.counts()["mint-token"] == 1

    # A later step (uv, docker/pyx-buildx, Bazel) just works from the exported variables,
    # even without the OIDC variables, and without another exchange.
    later = {**runner, **step.github_env}
    answer = subprocess.run(
        [*pyx_auth_argv(), "get"],
        input=json.dumps({"uri": f"{emulator.url}/simple/{WORKSPACE}/main/"}),
        env=later,
        capture_output=True,
        text=True,
        check=False,
    )
    assert json.loads(answer.stdout)["headers"]["Authorization"] == [f"Bearer {token}"]
    assert emulator.counts()["mint-token"] == 1


def test_action_api_key_input_needs_no_oidc(runner: dict[str, str], emulator: PyxEmulator) -> None:
    step = run_step(runner, api_key=EMULATOR_API_KEY, api_url=emulator.url)
    assert step.result.returncode == 0, step.result.stderr
    token = step.github_env["PYX_AUTH_TOKEN"]
    assert str(_subject(token)).startswith("api-key:")
    _masked_before_use(step, EMULATOR_API_KEY)
    _masked_before_use(step, token)
    assert "PYX_API_KEY" not in step.github_env, "the key stays in this step"
    assert emulator.counts()["oidc-token"] == 0


def test_action_without_id_token_permission_fails_and_exports_nothing(
    runner: dict[str, str], emulator: PyxEmulator
) -> None:
    step = run_step(runner, workspace=WORKSPACE, api_url=emulator.url)
    assert step.result.returncode == 2
    assert "permissions: id-token: write" in step.result.stderr
    assert "::error title=pyx-auth::no pyx token" in step.result.stderr
    assert step.github_env == {} and step.outputs == {}


def test_action_without_workspace_says_how_to_name_it(
    runner: dict[str, str], emulator: PyxEmulator
) -> None:
    step = run_step({**runner, **github_env(emulator)}, api_url=emulator.url)
    assert step.result.returncode == 2
    assert "needs the pyx workspace" in step.result.stderr and "eyJ" not in step.result.stderr
    assert step.github_env == {}


def test_action_min_ttl_beyond_the_token_life_fails(
    runner: dict[str, str], emulator: PyxEmulator
) -> None:
    emulator.add_accessor(WORKSPACE, repository="acme/*")
    emulator.token_lifetime = 1800
    step = run_step(
        {**runner, **github_env(emulator)}, workspace=WORKSPACE, min_ttl="45m", api_url=emulator.url
    )
    assert step.result.returncode == 2
    assert "is valid for 30 min, less than the 45 min asked for" in step.result.stderr
    assert step.github_env == {}


def test_action_outside_a_runner_refuses_to_run(runner: dict[str, str]) -> None:
    env = {name: value for name, value in runner.items() if name != "GITHUB_ENV"}
    result = subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 2 and "GITHUB_ENV is not set" in result.stderr


def test_action_yml_passes_every_input_the_script_reads() -> None:
    text = ACTION.read_text()
    inputs = re.findall(r"^  ([a-z-]+):\n    description:", text.split("\noutputs:")[0], re.M)
    assert inputs == ["workspace", "api-key", "min-ttl", "api-url"]
    for name in inputs:
        variable = "INPUT_" + name.upper().replace("-", "_")
        assert f"{variable}: ${{{{ inputs.{name} }}}}" in text
        assert variable in SCRIPT.read_text()
    assert 'run: bash "$GITHUB_ACTION_PATH/scripts/action-mint.sh"' in text
    assert "using: composite" in text


def test_action_refuses_a_multiline_api_url(runner: dict[str, str], emulator: PyxEmulator) -> None:
    """A newline in a value written to GITHUB_ENV would set other variables for later steps."""
    url = f"{emulator.url}/\nNODE_OPTIONS=--require=/tmp/evil.js"
    step = run_step(runner, api_key=EMULATOR_API_KEY, api_url=url)
    assert step.result.returncode == 2
    assert "api-url input must be one line" in step.result.stderr
    assert step.github_env == {}


def test_action_second_run_mints_from_the_source_not_the_exported_token(
    runner: dict[str, str], emulator: PyxEmulator
) -> None:
    emulator.token_lifetime = 20 * 60
    first = run_step(runner, api_key=EMULATOR_API_KEY, api_url=emulator.url, min_ttl="15m")
    assert first.result.returncode == 0, first.result.stderr
    emulator.token_lifetime = 3600
    later_job_env = {**runner, **first.github_env}  # PYX_AUTH_TOKEN from the first run
    second = run_step(later_job_env, api_key=EMULATOR_API_KEY, api_url=emulator.url, min_ttl="45m")
    assert second.result.returncode == 0, second.result.stderr
    assert second.github_env["PYX_AUTH_TOKEN"] != first.github_env["PYX_AUTH_TOKEN"]
    assert emulator.counts()["access-token"] == 2


def test_action_puts_pyx_buildx_on_path(runner: dict[str, str], emulator: PyxEmulator) -> None:
    github_path = Path(runner["RUNNER_TEMP"]) / "github_path"
    github_path.touch()
    step = run_step({**runner, "GITHUB_PATH": str(github_path)}, api_key=EMULATOR_API_KEY,
                    api_url=emulator.url)
    assert step.result.returncode == 0, step.result.stderr
    assert github_path.read_text().splitlines() == [str(REPO / "docker")]
    assert (REPO / "docker" / "pyx-buildx").exists()


def _runner_masks(log: str) -> list[str]:
    """The secrets a runner registers from the log's ::add-mask:: commands (escapeData undone)."""
    found = []
    for line in log.splitlines():
        if line.startswith("::add-mask::"):
            data = line.removeprefix("::add-mask::")
            found.append(data.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%"))
    return found


def test_action_masks_every_line_of_a_multi_line_input(runner: dict[str, str]) -> None:
    """The runner masks line by line: each line of a pasted multi-line secret must be masked,
    and %, CR and LF in the command's data escaped, or the mask is wrong or ends early."""
    secret = "first%0Aline\nsecond line\r\nthird"
    step = run_step(runner, api_key=secret)
    assert step.result.returncode == 2  # such a key cannot be a header: pyx-auth refuses it
    log = step.result.stdout + step.result.stderr
    masks = _runner_masks(log)
    assert "first%0Aline" in masks  # a literal %0A stays literal: % was escaped
    assert {"second line", "third", secret} <= set(masks)
    for line in log.splitlines():
        if not line.startswith("::add-mask::"):
            for mask in sorted(masks, key=len, reverse=True):
                line = line.replace(mask, "***")
            assert not any(part in line for part in secret.splitlines()), line
