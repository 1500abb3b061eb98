"""Which credential wins, and what each source does, through `pyx-auth token` as users run it."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import jwt
import pytest

from conftest import EMULATOR_API_KEY, RunPyxAuth, write_uv_login
from pyx_auth.credential_helper import answer_offline
from pyx_auth.emulator import PyxEmulator
from pyx_auth.errors import CredentialError, TokenExpiredError
from pyx_auth.settings import Settings
from pyx_auth.sources.base import Token, is_single_word, minutes
from pyx_auth.sources.env_token import EnvToken
from pyx_auth.sources.oauth_store import read_tokens
from pyx_auth.store import TOKENS_FILE, Store, api_key_file, store_directory


def _store(env: dict[str, str]) -> Path:
    return Path(store_directory(Settings({**os.environ, **env})))


def _assert_one_line_error(result: object, *needles: str) -> None:
    stderr = result.stderr  # type: ignore[attr-defined]
    assert result.returncode == 2, stderr  # type: ignore[attr-defined]
    assert result.stdout == ""  # type: ignore[attr-defined]
    assert stderr.startswith("pyx-auth: ") and stderr.count("\n") == 1, stderr
    assert "Traceback" not in stderr
    for needle in needles:
        assert needle in stderr


def test_env_token_is_printed_as_given_without_network(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    token = emulator.mint_access_token()
    result = run_pyx_auth("token", env={**os.environ, "PYX_AUTH_TOKEN": f"  {token}\n"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == token + "\n"
    assert sum(emulator.counts().values()) == 0


def test_env_token_wins_over_api_key_and_login(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    token = emulator.mint_access_token(subject="from-env")
    env = {**os.environ, "PYX_AUTH_TOKEN": token, "PYX_API_KEY": EMULATOR_API_KEY}
    result = run_pyx_auth("token", env=env)
    assert result.stdout.strip() == token
    assert emulator.counts()["access-token"] == 0


@pytest.mark.parametrize(
    ("alias", "modern"), [("UV_AUTH_TOKEN", "PYX_AUTH_TOKEN"), ("UV_API_KEY", "PYX_API_KEY")]
)
def test_uv_alias_works_with_one_deprecation_warning(
    run_pyx_auth: RunPyxAuth,
    emulator: PyxEmulator,
    pyx_env: dict[str, str],
    alias: str,
    modern: str,
) -> None:
    value = emulator.mint_access_token() if alias == "UV_AUTH_TOKEN" else EMULATOR_API_KEY
    result = run_pyx_auth("token", env={**os.environ, alias: value})
    assert result.returncode == 0
    assert emulator.verify(result.stdout.strip()) is not None
    assert result.stderr == f"pyx-auth: warning: {alias} is deprecated; set {modern} instead\n"


def test_pyx_auth_token_shadows_uv_alias_without_warning(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    token = emulator.mint_access_token()
    env = {**os.environ, "PYX_AUTH_TOKEN": token, "UV_AUTH_TOKEN": "other"}
    result = run_pyx_auth("token", env=env)
    assert result.stdout.strip() == token and result.stderr == ""


@pytest.mark.parametrize(
    ("variables", "name"),
    [
        *(
            ({name: " "}, name)
            for name in ("PYX_AUTH_TOKEN", "UV_AUTH_TOKEN", "PYX_API_KEY", "UV_API_KEY")
        ),
        ({"PYX_API_KEY": "", "UV_API_KEY": "k"}, "PYX_API_KEY"),  # empty still hides the alias
        ({"PYX_WORKSPACE": ""}, "PYX_WORKSPACE"),  # even where nothing would have used it
    ],
)
def test_set_but_empty_variable_is_an_error_naming_it(
    run_pyx_auth: RunPyxAuth,
    emulator: PyxEmulator,
    pyx_env: dict[str, str],
    variables: dict[str, str],
    name: str,
) -> None:
    result = run_pyx_auth("token", env={**os.environ, **variables})
    _assert_one_line_error(result, f"{name} is set but empty")


def test_expired_env_token_fails_clearly(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    token = emulator.mint_access_token(lifetime=-120)
    result = run_pyx_auth("token", env={**os.environ, "PYX_AUTH_TOKEN": token})
    _assert_one_line_error(result, "the token in PYX_AUTH_TOKEN expired 2 min ago")
    assert token not in result.stderr


def test_env_token_cannot_meet_a_longer_min_ttl(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    token = emulator.mint_access_token(lifetime=600)
    env = {**os.environ, "PYX_AUTH_TOKEN": token}
    assert run_pyx_auth("token", "--min-ttl", "5m", env=env).returncode == 0
    result = run_pyx_auth("token", "--min-ttl", "30m", env=env)
    _assert_one_line_error(result, "less than the 30 min asked for", "cannot be refreshed")


def test_api_key_is_exchanged_and_cached_where_uv_caches_it(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    env = {**os.environ, "PYX_API_KEY": EMULATOR_API_KEY}
    first = run_pyx_auth("token", env=env)
    assert first.returncode == 0, first.stderr
    token = first.stdout.strip()
    assert emulator.verify(token) is not None
    cached = _store(env) / api_key_file(EMULATOR_API_KEY)
    assert cached.read_text() == token  # raw JWT, no JSON, no newline, as uv writes it
    assert stat.S_IMODE(cached.stat().st_mode) == 0o600
    second = run_pyx_auth("token", env=env)
    assert second.stdout.strip() == token
    assert emulator.counts()["access-token"] == 1


def test_api_key_token_is_renewed_when_min_ttl_exceeds_what_is_left(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    emulator.token_lifetime = 20 * 60
    env = {**os.environ, "PYX_API_KEY": EMULATOR_API_KEY}
    first = run_pyx_auth("token", env=env).stdout.strip()
    emulator.token_lifetime = 3600
    second = run_pyx_auth("token", "--min-ttl", "30m", env=env).stdout.strip()
    assert second != first
    assert emulator.counts()["access-token"] == 2
    assert (_store(env) / api_key_file(EMULATOR_API_KEY)).read_text() == second


def test_min_ttl_longer_than_pyx_issues_fails_and_keeps_the_cache(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    env = {**os.environ, "PYX_API_KEY": EMULATOR_API_KEY}
    token = run_pyx_auth("token", env=env).stdout.strip()
    result = run_pyx_auth("token", "--min-ttl", "2h", env=env)
    _assert_one_line_error(
        result, "the token from PYX_API_KEY is valid for 60 min, less than the 120 min asked for"
    )
    assert emulator.counts()["access-token"] == 2  # it did try to mint a longer-lived one
    cached = (_store(env) / api_key_file(EMULATOR_API_KEY)).read_text()
    assert emulator.verify(cached) is not None and cached != token


def test_api_key_hides_the_login_store(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    write_uv_login(*emulator.issue_tokens(subject="logged-in"))
    result = run_pyx_auth("token", env={**os.environ, "PYX_API_KEY": EMULATOR_API_KEY})
    claims = emulator.verify(result.stdout.strip())
    assert claims is not None and claims["sub"] != "logged-in"


def test_login_store_refresh_writes_rotated_pair_back(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    _, refresh = emulator.issue_tokens()
    stale = emulator.mint_access_token(lifetime=60)  # inside the 5-minute margin
    tokens = write_uv_login(stale, refresh)
    result = run_pyx_auth("token")
    assert result.returncode == 0, result.stderr
    saved = json.loads(tokens.read_text())
    assert saved["access_token"] == result.stdout.strip() != stale
    assert saved["refresh_token"] != refresh
    assert set(saved) == {"access_token", "refresh_token"}
    assert emulator.counts()["refresh"] == 1
    # The rotated refresh token is the live one: a forced refresh uses it successfully.
    emulator.token_lifetime = 3 * 3600  # so that the refreshed token meets --min-ttl
    again = run_pyx_auth("token", "--min-ttl", "2h")
    assert again.returncode == 0, again.stderr
    assert emulator.counts()["refresh"] == 2


def test_fresh_login_token_is_used_without_network(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    access, refresh = emulator.issue_tokens()
    write_uv_login(access, refresh)
    result = run_pyx_auth("token")
    assert result.stdout.strip() == access
    assert emulator.counts()["refresh"] == 0


def test_no_credentials_names_every_source_and_the_next_step(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    result = run_pyx_auth("token")
    _assert_one_line_error(
        result,
        "no pyx credentials: set PYX_API_KEY or run `pyx-auth login`",
        "PYX_AUTH_TOKEN not set",
        "PYX_API_KEY not set",
        "tokens.json",
    )


def test_token_never_starts_a_login(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    started = time.monotonic()
    result = run_pyx_auth("token", env={**os.environ, "BROWSER": "false"})
    assert result.returncode == 2
    assert time.monotonic() - started < 10
    assert emulator.counts()["login"] == 0 and emulator.counts()["status"] == 0


def test_env_token_with_line_breaks_is_refused_by_token_and_get(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    """A CR/LF inside the token could smuggle another header into Bazel's download."""
    env = {**os.environ, "PYX_AUTH_TOKEN": "abc\r\nX-Evil: 1"}
    _assert_one_line_error(run_pyx_auth("token", env=env), "PYX_AUTH_TOKEN contains spaces")
    request = json.dumps({"uri": f"{emulator.url}/simple/acme/main/"})
    result = run_pyx_auth("get", input=request, env=env)
    _assert_one_line_error(result, "PYX_AUTH_TOKEN contains spaces")


def test_login_access_token_that_cannot_be_a_header_is_refreshed(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    _, refresh = emulator.issue_tokens()
    write_uv_login(emulator.mint_access_token() + "\nX-Evil: 1", refresh)
    result = run_pyx_auth("token")
    assert result.returncode == 0, result.stderr
    assert emulator.verify(result.stdout.strip()) is not None
    assert emulator.counts()["refresh"] == 1


def test_a_login_token_without_exp_is_refreshed_not_trusted_forever(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    """A token whose lifetime cannot be read is stale, as in uv: it is refreshed."""
    _, refresh = emulator.issue_tokens()
    write_uv_login("opaque-token-without-exp", refresh)
    result = run_pyx_auth("token")
    assert result.returncode == 0, result.stderr
    assert emulator.verify(result.stdout.strip()) is not None
    assert emulator.counts()["refresh"] == 1


def test_a_login_with_an_empty_refresh_token_asks_to_log_in_without_a_request(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    write_uv_login(emulator.mint_access_token(lifetime=-10), "")
    result = run_pyx_auth("token")
    _assert_one_line_error(result, "pyx-auth login")
    assert emulator.counts()["refresh"] == 0


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(-30, "0 min"), (-3600, "0 min"), (0, "0 min"), (90, "2 min"), (3599, "60 min")],
)
def test_a_lifetime_is_shown_in_whole_minutes_and_never_below_zero(
    seconds: float, shown: str
) -> None:
    """An expired token is "0 min" left in messages, not a negative time."""
    assert minutes(seconds) == shown


@pytest.mark.parametrize(
    ("value", "single"),
    [
        ("pyx_abc.DEF-123", True),
        ("two words", False),
        ("", False),
        ("tab\there", False),
        ("line\r\nX-Evil: 1", False),
        ("caf\u00e9", False),
        (7, False),
        (None, False),
    ],
)
def test_a_token_or_key_is_one_word_of_printable_ascii(value: object, single: bool) -> None:
    """What goes into an Authorization header as is: anything else could add a header."""
    assert is_single_word(value) is single


def _jwt(exp: int) -> str:
    """A token with a known ``exp``, as pyx mints them (the sources only read the claim)."""
    return jwt.encode({"exp": exp}, "k" * 32, algorithm="HS256")


def test_status_of_an_expired_env_token_reports_the_error_instead_of_raising() -> None:
    """``pyx-auth status`` shows what is wrong with each source; it never stops at one."""
    expired = _jwt(int(time.time()) - 600)
    details, error = EnvToken("PYX_AUTH_TOKEN", expired).status(time.monotonic() + 5)
    assert details == {} and isinstance(error, TokenExpiredError)
    assert "expired 10 min ago" in str(error)


def _fixed_token(exp: int) -> EnvToken:
    return EnvToken("PYX_AUTH_TOKEN", _jwt(exp))


def test_a_fixed_token_is_expired_from_its_exp_second_on(monkeypatch: pytest.MonkeyPatch) -> None:
    now = 1_900_000_000
    monkeypatch.setattr(time, "time", lambda: float(now))
    deadline = time.monotonic() + 5
    with pytest.raises(TokenExpiredError):
        _fixed_token(now).renew(300, deadline, None)
    one_second_left = _fixed_token(now + 1)
    assert one_second_left.renew(300, deadline, None) is one_second_left.token


def test_a_fixed_token_meets_a_longer_minimum_up_to_its_last_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``--min-ttl 10m`` takes a fixed token with exactly 10 minutes left, not one second less."""
    now = 1_900_000_000
    monkeypatch.setattr(time, "time", lambda: float(now))
    deadline = time.monotonic() + 5
    exact = _fixed_token(now + 600)
    assert exact.renew(600, deadline, None) is exact.token
    with pytest.raises(CredentialError, match="less than the 10 min asked for"):
        _fixed_token(now + 599).renew(600, deadline, None)


def test_a_fixed_token_close_to_expiry_is_used_as_given_like_uv(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    """Within the usual refresh margin a fixed token cannot be renewed: it is used as is, by
    ``token`` and by Bazel's cache hit (which answers it without the network path)."""
    token = emulator.mint_access_token(lifetime=120)
    env = {**os.environ, "PYX_AUTH_TOKEN": token}
    result = run_pyx_auth("token", env=env)
    assert (result.returncode, result.stdout) == (0, token + "\n"), result.stderr
    request = json.dumps({"uri": pyx_env["PYX_API_URL"] + "/simple/"}).encode()
    answer = answer_offline(request, env)
    assert answer is not None and f"Bearer {token}" in answer


@pytest.mark.parametrize(
    "login",
    [
        {"access_token": 7, "refresh_token": "r-1"},
        {"access_token": "a", "refresh_token": 7},
        {"access_token": "a", "refresh_token": ""},
        {"refresh_token": "r-1"},
    ],
)
def test_a_tokens_json_without_a_pair_of_strings_is_no_login(
    tmp_path: Path, login: dict[str, object]
) -> None:
    store = Store(str(tmp_path))
    store.write(TOKENS_FILE, json.dumps({"access_token": "a", "refresh_token": "r-1"}))
    assert read_tokens(store) == ("a", "r-1")
    store.write(TOKENS_FILE, json.dumps(login))
    assert read_tokens(store) is None


def test_a_token_is_fresh_with_exactly_the_margin_left() -> None:
    token = Token(_jwt(1300), "test")
    assert token.fresh(1000.0, 300)
    assert not token.fresh(1000.5, 300)
