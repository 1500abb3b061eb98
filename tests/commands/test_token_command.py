"""`pyx-auth token` as scripts and Docker builds use it: stdout, --output files, --format, masking.

Everything runs the real executable against the real emulator. GitHub Actions is simulated by
setting GITHUB_ACTIONS=true, as the runner does in every step; the runner itself cannot run here.
"""

from __future__ import annotations

import json
import netrc
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

from conftest import RunPyxAuth, pyx_auth_argv
from pyx_auth.emulator import PyxEmulator

DEFAULT_CDN_HOSTS = [
    "astralhosted.com",
    "files.astralhosted.com",
    "views.astralhosted.com",
    "files-static.astralhosted.com",
    "views-static.astralhosted.com",
]


def _token(run_pyx_auth: RunPyxAuth, *args: str, env: dict[str, str] | None = None) -> str:
    result = run_pyx_auth("token", *args, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _machines(text: str, path: Path) -> list[str]:
    """The machine names of a netrc text, after checking Python's own parser accepts it."""
    path.write_text(text)
    parsed = netrc.netrc(str(path))
    return list(parsed.hosts)


# -- stdout and --output ------------------------------------------------------------------------


def test_token_prints_only_the_token_and_a_newline(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, api_key_env: dict[str, str]
) -> None:
    result = run_pyx_auth("token")
    assert result.returncode == 0, result.stderr
    token = result.stdout.removesuffix("\n")
    assert result.stdout == token + "\n" and "\n" not in token
    assert emulator.verify(token) is not None
    assert result.stderr == ""


def test_token_output_writes_0600_file_without_trailing_newline(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, api_key_env: dict[str, str], tmp_path: Path
) -> None:
    target = tmp_path / "pyx-token"
    result = run_pyx_auth("token", "--output", str(target))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""
    data = target.read_bytes()
    assert not data.endswith(b"\n") and data == data.strip()
    assert emulator.verify(data.decode()) is not None
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_token_output_replaces_an_existing_file_atomically(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, api_key_env: dict[str, str], tmp_path: Path
) -> None:
    """A reader holding the old file keeps reading it whole; the path gets a new 0600 file."""
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / "pyx-token"
    target.write_text("old token")
    target.chmod(0o644)
    old_inode = target.stat().st_ino
    with target.open() as reader:
        result = run_pyx_auth("token", "--output", str(target))
        assert result.returncode == 0, result.stderr
        assert reader.read() == "old token"
    assert target.stat().st_ino != old_inode, "replaced by rename, not rewritten in place"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert emulator.verify(target.read_text()) is not None
    assert [p.name for p in folder.iterdir()] == ["pyx-token"], "no temporary file left behind"


def test_token_output_into_missing_folder_is_a_one_line_error(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, api_key_env: dict[str, str], tmp_path: Path
) -> None:
    result = run_pyx_auth("token", "--output", str(tmp_path / "missing" / "pyx-token"))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("pyx-auth: cannot write in ")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_token_output_below_a_file_is_a_one_line_error_naming_the_path(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, api_key_env: dict[str, str], tmp_path: Path
) -> None:
    """A path that cannot even be looked at (a file where a folder should be) says why."""
    (tmp_path / "a-file").write_text("keep")
    target = tmp_path / "a-file" / "pyx-token"
    result = run_pyx_auth("token", "--output", str(target))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == f"pyx-auth: cannot write the token to {target}: Not a directory\n"
    assert (tmp_path / "a-file").read_text() == "keep"


def _device(path: Path, minor: int) -> Path:
    """A private character device: 3 is like /dev/null, 7 like /dev/full (needs root)."""
    if os.geteuid() != 0:
        pytest.skip("creating a device node needs root")
    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
    return path


def test_token_output_to_a_device_writes_to_it_and_leaves_it_a_device(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, api_key_env: dict[str, str], tmp_path: Path
) -> None:
    """Root's ``--output /dev/null`` once replaced the device with a 0600 token file."""
    (tmp_path / "dev").mkdir()
    null = _device(tmp_path / "dev" / "null", 3)
    result = run_pyx_auth("token", "--output", str(null))
    assert result.returncode == 0, result.stderr
    assert stat.S_ISCHR(null.lstat().st_mode) and null.stat().st_rdev == os.makedev(1, 3)
    assert [p.name for p in null.parent.iterdir()] == ["null"]  # nothing else made


def test_token_output_to_a_full_device_is_a_one_line_error_and_keeps_it(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, api_key_env: dict[str, str], tmp_path: Path
) -> None:
    full = _device(tmp_path / "full", 7)
    result = run_pyx_auth("token", "--output", str(full))
    assert result.returncode == 2
    assert result.stderr == f"pyx-auth: cannot write the token to {full}: No space left on device\n"
    assert stat.S_ISCHR(full.lstat().st_mode)


def test_token_output_to_a_device_without_a_driver_is_a_one_line_error(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, api_key_env: dict[str, str], tmp_path: Path
) -> None:
    """A device node whose driver is absent (major 240, reserved for local use) cannot be
    opened: one line naming it, and the node is left as it was."""
    if os.geteuid() != 0:
        pytest.skip("creating a device node needs root")
    nowhere = tmp_path / "nowhere"
    os.mknod(nowhere, 0o666 | stat.S_IFCHR, os.makedev(240, 0))
    result = run_pyx_auth("token", "--output", str(nowhere))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (
        f"pyx-auth: cannot write the token to {nowhere}: No such device or address\n"
    )
    assert stat.S_ISCHR(nowhere.lstat().st_mode)


def test_token_output_to_dev_stdout_reaches_stdout(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, api_key_env: dict[str, str]
) -> None:
    result = run_pyx_auth("token", "--output", "/dev/stdout")
    assert result.returncode == 0, result.stderr
    assert emulator.verify(result.stdout) is not None  # raw: no newline
    assert os.path.islink("/dev/stdout")


def test_token_output_to_a_fifo_writes_into_the_pipe(
    emulator: PyxEmulator, api_key_env: dict[str, str], tmp_path: Path
) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with subprocess.Popen(
        [*pyx_auth_argv(), "token", "--output", str(fifo)], stderr=subprocess.PIPE, text=True
    ) as writer:
        with fifo.open() as reader:  # the writer's open waits for this reader, as with `>`
            token = reader.read()
        _, errors = writer.communicate(timeout=30)
    assert writer.returncode == 0, errors
    assert emulator.verify(token) is not None
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_token_output_through_a_symlink_keeps_the_link_and_replaces_its_target(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, api_key_env: dict[str, str], tmp_path: Path
) -> None:
    real = tmp_path / "secrets" / "pyx-token"
    real.parent.mkdir()
    real.write_text("old")
    (tmp_path / "secrets" / "neighbour").write_text("untouched")
    link = tmp_path / "link"
    link.symlink_to(real)
    old_inode = real.stat().st_ino
    result = run_pyx_auth("token", "--output", str(link))
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.stat().st_ino != old_inode and stat.S_IMODE(real.stat().st_mode) == 0o600
    assert emulator.verify(real.read_text()) is not None
    assert sorted(p.name for p in real.parent.iterdir()) == ["neighbour", "pyx-token"]
    assert (tmp_path / "secrets" / "neighbour").read_text() == "untouched"


def test_token_output_refuses_another_users_link_in_a_shared_folder(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, api_key_env: dict[str, str], tmp_path: Path
) -> None:
    """``/tmp/token`` planted by someone else, pointing at a file we may write: not followed."""
    if os.geteuid() != 0:
        pytest.skip("giving a link to another user needs root")
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    victim = tmp_path / "victim"
    victim.write_text("precious")
    link = shared / "token"
    link.symlink_to(victim)
    os.lchown(link, 54321, 54321)
    result = run_pyx_auth("token", "--output", str(link))
    assert result.returncode == 2
    assert result.stderr.startswith(f"pyx-auth: --output {link} is a symbolic link owned by")
    assert victim.read_text() == "precious" and link.is_symlink()


@pytest.mark.parametrize("mode", [0o1755, 0o777], ids=["sticky-only-we-write", "not-sticky"])
def test_token_output_follows_another_users_link_unless_the_folder_is_sticky_and_shared(
    run_pyx_auth: RunPyxAuth,
    emulator: PyxEmulator,
    api_key_env: dict[str, str],
    tmp_path: Path,
    mode: int,
) -> None:
    """The kernel's rule is for sticky *and* world-writable folders: nobody else could have
    planted a link in a sticky folder only its owner writes, and a link in a folder that is
    not sticky the kernel follows too, so pyx-auth does."""
    if os.geteuid() != 0:
        pytest.skip("giving a link to another user needs root")
    private = tmp_path / "private"
    private.mkdir()
    private.chmod(mode)
    target = tmp_path / "target"
    target.write_text("old")
    link = private / "token"
    link.symlink_to(target)
    os.lchown(link, 54321, 54321)
    result = run_pyx_auth("token", "--output", str(link))
    assert result.returncode == 0, result.stderr
    assert emulator.verify(target.read_text()) is not None and link.is_symlink()


def test_token_output_to_a_folder_is_a_one_line_error(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, api_key_env: dict[str, str], tmp_path: Path
) -> None:
    result = run_pyx_auth("token", "--output", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr == f"pyx-auth: --output {tmp_path} is a folder; name a file in it\n"


# -- --format -----------------------------------------------------------------------------------


def test_token_format_raw_is_the_default(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, api_key_env: dict[str, str]
) -> None:
    assert _token(run_pyx_auth, "--format", "raw") == _token(run_pyx_auth)


def test_token_format_env_is_an_env_file_line(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, api_key_env: dict[str, str]
) -> None:
    out = _token(run_pyx_auth, "--format", "env")
    assert out.startswith("PYX_AUTH_TOKEN=") and out.count("\n") == 1 and out.endswith("\n")
    assert emulator.verify(out.strip().removeprefix("PYX_AUTH_TOKEN=")) is not None


def test_token_format_json_has_token_and_expiry(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, api_key_env: dict[str, str]
) -> None:
    payload = json.loads(_token(run_pyx_auth, "--format", "json"))
    assert set(payload) == {"token", "expires_at"}
    claims = emulator.verify(payload["token"])
    assert claims is not None
    assert payload["expires_at"] == claims["exp"]
    assert payload["expires_at"] > time.time() + 3000


def test_token_format_json_expiry_is_null_when_unknown(
    run_pyx_auth: RunPyxAuth, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYX_AUTH_TOKEN", "opaque-token-without-claims")
    payload = json.loads(_token(run_pyx_auth, "--format", "json"))
    assert payload == {"token": "opaque-token-without-claims", "expires_at": None}


def test_token_format_netrc_for_emulator_names_loopback_host_without_port(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, api_key_env: dict[str, str], tmp_path: Path
) -> None:
    out = _token(run_pyx_auth, "--format", "netrc")
    token = out.split()[-1]
    assert emulator.verify(token) is not None
    hosts = _machines(out, tmp_path / "netrc")
    assert hosts == ["127.0.0.1", *DEFAULT_CDN_HOSTS]
    assert out == "".join(f"machine {h} login __token__ password {token}\n" for h in hosts)


def test_token_format_netrc_for_default_api_adds_static_api_host(
    run_pyx_auth: RunPyxAuth,
    emulator: PyxEmulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    token = emulator.mint_access_token()
    monkeypatch.setenv("PYX_AUTH_TOKEN", token)
    out = _token(run_pyx_auth, "--format", "netrc")
    parsed_hosts = _machines(out, tmp_path / "netrc")
    assert parsed_hosts == ["api.pyx.dev", "api-static.pyx.dev", *DEFAULT_CDN_HOSTS]
    parsed = netrc.netrc(str(tmp_path / "netrc"))
    assert all(parsed.authenticators(h) == ("__token__", "", token) for h in parsed_hosts)


def test_token_format_netrc_follows_custom_api_and_cdn(
    run_pyx_auth: RunPyxAuth,
    emulator: PyxEmulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("PYX_AUTH_TOKEN", emulator.mint_access_token())
    monkeypatch.setenv("PYX_API_URL", "https://pyx.internal.example:8443/api")
    monkeypatch.setenv("PYX_CDN_DOMAIN", "CDN.Example.NET.")
    out = _token(run_pyx_auth, "--format", "netrc")
    assert _machines(out, tmp_path / "netrc") == [
        "pyx.internal.example",
        "cdn.example.net",
        "files.cdn.example.net",
        "views.cdn.example.net",
        "files-static.cdn.example.net",
        "views-static.cdn.example.net",
    ]


def test_token_format_netrc_output_file_is_0600(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, api_key_env: dict[str, str], tmp_path: Path
) -> None:
    target = tmp_path / "pyx.netrc"
    result = run_pyx_auth("token", "--format", "netrc", "--output", str(target))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert netrc.netrc(str(target)).authenticators("127.0.0.1") is not None


def test_token_unknown_format_is_a_usage_error(run_pyx_auth: RunPyxAuth) -> None:
    result = run_pyx_auth("token", "--format", "yaml")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "invalid choice: 'yaml'" in result.stderr


def test_token_with_inner_whitespace_is_refused_without_echoing_it(
    run_pyx_auth: RunPyxAuth, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYX_AUTH_TOKEN", "secret-part\nmachine evil.example")
    result = run_pyx_auth("token", "--format", "netrc")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "PYX_AUTH_TOKEN contains spaces, control or non-ASCII characters" in result.stderr
    assert "secret-part" not in result.stderr and "evil" not in result.stderr


# -- GitHub Actions masking ---------------------------------------------------------------------


def test_token_outside_github_actions_never_writes_the_token_to_stderr(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, api_key_env: dict[str, str]
) -> None:
    for value in (None, "false"):
        env = dict(os.environ)
        if value is not None:
            env["GITHUB_ACTIONS"] = value
        result = run_pyx_auth("token", env=env)
        assert result.returncode == 0
        assert result.stderr == ""


@pytest.mark.parametrize("output_format", ["raw", "env", "json", "netrc"])
def test_token_in_github_actions_masks_the_bare_token_on_stderr(
    run_pyx_auth: RunPyxAuth,
    emulator: PyxEmulator,
    api_key_env: dict[str, str],
    output_format: str,
) -> None:
    """The mask is the bare token, so it hides every occurrence in any format's output."""
    result = run_pyx_auth(
        "token", "--format", output_format, env={**api_key_env, "GITHUB_ACTIONS": "true"}
    )
    assert result.returncode == 0
    (mask_line,) = result.stderr.splitlines()
    token = mask_line.removeprefix("::add-mask::")
    assert mask_line.startswith("::add-mask::") and emulator.verify(token) is not None
    assert token in result.stdout


def test_token_in_github_actions_capture_gets_only_the_token(
    emulator: PyxEmulator, api_key_env: dict[str, str], tmp_path: Path
) -> None:
    """``token="$(pyx-auth token)"`` as a workflow step writes it; stderr stays the runner's."""
    captured = tmp_path / "captured"
    script = 'token="$("$@" token)" && printf %s "$token" > "$CAPTURED"'
    result = subprocess.run(
        ["bash", "-c", script, "bash", *pyx_auth_argv()],
        env={**api_key_env, "GITHUB_ACTIONS": "true", "CAPTURED": str(captured)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    token = captured.read_text()
    assert emulator.verify(token) is not None
    assert result.stdout == ""
    assert result.stderr == f"::add-mask::{token}\n"


def test_token_in_github_actions_mask_comes_before_the_token(
    emulator: PyxEmulator, api_key_env: dict[str, str]
) -> None:
    """With both streams on one pipe, the mask command arrives first (it is flushed first)."""
    result = subprocess.run(
        [*pyx_auth_argv(), "token"],
        env={**api_key_env, "GITHUB_ACTIONS": "true"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=30,
        check=False,
    )
    mask_line, token_line = result.stdout.splitlines()
    assert mask_line == f"::add-mask::{token_line}"


def test_token_in_github_actions_masks_when_writing_a_file(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, api_key_env: dict[str, str], tmp_path: Path
) -> None:
    target = tmp_path / "pyx-token"
    env = {**api_key_env, "GITHUB_ACTIONS": "true"}
    result = run_pyx_auth("token", "--output", str(target), env=env)
    assert result.returncode == 0
    assert result.stdout == ""
    assert result.stderr == f"::add-mask::{target.read_text()}\n"


def test_token_in_github_actions_mask_escapes_percent_like_actions_core(
    run_pyx_auth: RunPyxAuth, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runner unescapes %25 to %, so an unescaped '%25' in a token would mask something else."""
    monkeypatch.setenv("PYX_AUTH_TOKEN", "tok%25en")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    result = run_pyx_auth("token")
    assert result.stdout == "tok%25en\n"
    assert result.stderr == "::add-mask::tok%2525en\n"


# -- --min-ttl --------------------------------------------------------------------------------


def test_token_min_ttl_replaces_a_cached_token_that_would_expire_sooner(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, api_key_env: dict[str, str]
) -> None:
    emulator.token_lifetime = 20 * 60
    short = _token(run_pyx_auth).strip()
    assert _token(run_pyx_auth, "--min-ttl", "10m").strip() == short
    emulator.token_lifetime = 3600
    long = json.loads(_token(run_pyx_auth, "--min-ttl", "30m", "--format", "json"))
    assert long["token"] != short
    assert long["expires_at"] - time.time() > 30 * 60
    assert emulator.counts()["access-token"] == 2


def test_token_format_netrc_refuses_a_host_with_a_comment_sign(
    run_pyx_auth: RunPyxAuth, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``#`` starts a comment in netrc: the line would lose its password, or worse, its host."""
    monkeypatch.setenv("PYX_AUTH_TOKEN", "tok")
    monkeypatch.setenv("PYX_CDN_DOMAIN", "a#b.example")
    result = run_pyx_auth("token", "--format", "netrc")
    assert result.returncode == 2 and result.stdout == ""
    assert "'a#b.example', which cannot be written to a netrc file" in result.stderr
    assert result.stderr.count("\n") == 1
