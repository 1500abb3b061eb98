"""`pyx-auth status`: what is in use and for how long, never the token itself."""

from __future__ import annotations

import json
import os

from conftest import EMULATOR_API_KEY, RunPyxAuth
from pyx_auth.emulator import PyxEmulator


def test_status_json_reports_source_store_expiry_and_org(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    env = {**os.environ, "PYX_API_KEY": EMULATOR_API_KEY}
    token = run_pyx_auth("token", env=env).stdout.strip()
    result = run_pyx_auth("status", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert token not in result.stdout and EMULATOR_API_KEY not in result.stdout
    report = json.loads(result.stdout)
    assert report["source"] == "PYX_API_KEY set"
    assert report["api_url"] == emulator.url + "/"
    assert report["store"].startswith(pyx_env["PYX_CREDENTIALS_DIR"])
    assert report["usable"] is True
    assert report["token"]["org"] == "acme"
    assert 3500 < report["token"]["expires_in"] <= 3600
    assert sum(emulator.counts().values()) - emulator.counts()["access-token"] == 0


def test_status_text_without_cached_token_says_it_will_be_minted(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    result = run_pyx_auth("status", env={**os.environ, "PYX_API_KEY": EMULATOR_API_KEY})
    assert result.returncode == 0
    assert "source:    PYX_API_KEY set" in result.stdout
    assert "none cached yet (minted on first use)" in result.stdout
    assert emulator.counts()["access-token"] == 0  # status does not contact pyx


def test_status_without_credentials_exits_2_with_next_step(
    run_pyx_auth: RunPyxAuth, pyx_env: dict[str, str]
) -> None:
    result = run_pyx_auth("status")
    assert result.returncode == 2
    assert "source:    none" in result.stdout
    assert result.stderr.startswith("pyx-auth: no pyx credentials: set PYX_API_KEY")


def test_status_expired_env_token_is_not_usable(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    token = emulator.mint_access_token(lifetime=-600)
    result = run_pyx_auth("status", "--json", env={**os.environ, "PYX_AUTH_TOKEN": token})
    assert result.returncode == 2
    report = json.loads(result.stdout)
    assert report["usable"] is False and report["token"]["expires_in"] < 0
    assert "expired" in result.stderr and token not in result.stderr + result.stdout
