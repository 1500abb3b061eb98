"""``pyx-auth logout``: revoke on the server, then remove exactly this API's credentials.

Real emulator and processes; the keyring is the file-backed stand-in from
``tests/keyring_backends.py`` (no Secret Service exists on a test machine).
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

from conftest import EMULATOR_API_KEY, RunPyxAuth
from keyring_backends import stored, use_backend
from pyx_auth.emulator import PyxEmulator
from pyx_auth.settings import Settings
from pyx_auth.store import api_key_file, store_directory


def _store() -> Path:
    return Path(store_directory(Settings(dict(os.environ))))


def _seed_login(emulator: PyxEmulator, *, access: str | None = None) -> tuple[str, str]:
    """A store as `uv auth login` / `pyx-auth login` leave it (tokens.json and its lock)."""
    issued, refresh = emulator.issue_tokens()
    access = access or issued
    store = _store()
    store.mkdir(parents=True, exist_ok=True)
    pair = {"access_token": access, "refresh_token": refresh}
    (store / "tokens.json").write_text(json.dumps(pair))
    (store / "tokens.lock").write_text("")
    return access, refresh


def _refresh_status(emulator: PyxEmulator, refresh: str) -> int:
    request = urllib.request.Request(
        f"{emulator.url}/auth/cli/refresh",
        data=json.dumps({"refresh_token": refresh}).encode(),
        method="POST",
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_logout_revokes_the_login_and_removes_only_its_store(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str], store_root: Path
) -> None:
    access, refresh = _seed_login(emulator)
    store = _store()
    (store / api_key_file(EMULATOR_API_KEY)).write_text(emulator.mint_access_token())
    other_api = store_root / "0123456789abcdef"  # another API's store, same root
    other_api.mkdir()
    (other_api / "tokens.json").write_text("{}")
    (store_root / "unrelated.txt").write_text("keep me")
    _, spare_refresh = emulator.issue_tokens("someone-else")

    result = run_pyx_auth("logout")

    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"Revoked the login's refresh tokens at {emulator.url}",
        f"Removed the token store {store} ({api_key_file(EMULATOR_API_KEY)}, tokens.json,"
        " tokens.lock)",
    ]
    assert result.stdout == ""
    assert not store.exists()
    assert sorted(p.name for p in store_root.iterdir()) == ["0123456789abcdef", "unrelated.txt"]
    assert (other_api / "tokens.json").read_text() == "{}"
    assert access not in result.stderr and refresh not in result.stderr
    assert emulator.counts()["logout"] == 1
    assert _refresh_status(emulator, refresh) == 401  # revoked on the server
    assert _refresh_status(emulator, spare_refresh) == 200  # other users' logins untouched


def test_logout_tolerates_an_expired_login(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    _seed_login(emulator, access=emulator.mint_access_token(lifetime=-60))

    result = run_pyx_auth("logout")

    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == (
        "pyx no longer accepted the stored login (HTTP 401); nothing to revoke there"
    )
    assert not _store().exists()


def test_logout_with_pyx_down_still_removes_local_credentials(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    emulator.fail_next("logout", status=503, times=3)
    _seed_login(emulator)

    result = run_pyx_auth("logout")

    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0].startswith("warning: could not revoke the login on the")
    assert not _store().exists()


def test_logout_with_nothing_to_remove_says_so(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    result = run_pyx_auth("logout")

    assert result.returncode == 0
    assert result.stderr == (
        f"Nothing to remove: not logged in to {emulator.url}/ ({_store()} does not exist)\n"
    )
    assert emulator.counts()["logout"] == 0


def test_logout_store_symlink_removes_only_the_link(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str], tmp_path: Path
) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "precious.txt").write_text("not a token")
    store = _store()
    store.parent.mkdir(parents=True)
    store.symlink_to(target)

    result = run_pyx_auth("logout")

    assert result.returncode == 0, result.stderr
    assert not store.is_symlink()
    assert (target / "precious.txt").read_text() == "not a token"


def test_logout_removes_the_keyring_key(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str], clean_environ: Path
) -> None:
    use_backend(clean_environ, "FileKeyring")
    login = run_pyx_auth("login", "--api-key", input=EMULATOR_API_KEY)
    assert login.returncode == 0, login.stderr
    service = f"pyx-auth:{emulator.url}/"

    result = run_pyx_auth("logout")

    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"Removed the API key from the system keyring (service {service!r})",
        f"Removed the token store {_store()} ({api_key_file(EMULATOR_API_KEY)},"
        " pyx-auth-keyring.json)",
    ]
    assert stored(clean_environ) == {}
    assert emulator.counts()["logout"] == 0  # an API key has no login to revoke
    assert EMULATOR_API_KEY not in result.stderr
    status = run_pyx_auth("status")
    assert status.returncode == 2  # no credentials left


def test_logout_hanging_keyring_removes_the_store_and_names_the_key_left(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str], clean_environ: Path
) -> None:
    use_backend(clean_environ, "FileKeyring")
    assert run_pyx_auth("login", "--api-key", input=EMULATOR_API_KEY).returncode == 0
    use_backend(clean_environ, "HangingKeyring")

    started = time.monotonic()
    result = run_pyx_auth("logout", env={**os.environ, "PYX_AUTH_TIMEOUT": "1"})

    assert time.monotonic() - started < 10
    assert result.returncode == 2
    assert not _store().exists()
    assert result.stderr.splitlines()[-1] == (
        "pyx-auth: the system keyring did not answer within 1 s (locked, or a Secret Service"
        " that never starts?); set PYX_API_KEY instead, or PYX_AUTH_TIMEOUT to wait longer"
        f" (the API key may still be in keyring service 'pyx-auth:{emulator.url}/', user"
        " 'api-key')"
    )
