"""pyx-auth's keyring backend gives pip, uv and twine pyx tokens, and nothing to anyone else.

Everything is real: the ``keyring`` command and library with the backend found through its
entry point, pip in pyx-auth's venv (``import`` provider) and in a separate venv
(``subprocess`` provider), uv 0.12.6 and the newest uv, twine, and the emulator as pyx,
whose index and wheel want a token on every request. Installers get a minimal environment:
an empty HOME, no config files, the emulator's URL and the one credential under test, and
pip/uv settings taken from ``pyx-auth config pip|uv``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from test_hosts import DEFAULT_API_ROWS

from conftest import EMULATOR_API_KEY, FROZEN_BIN, RunPyxAuth, write_uv_login
from demo_wheel import MODULE, PROJECT, VIEW, WORKSPACE, build_wheel, newest_uv
from keyring_backends import calls, stored
from pyx_auth.emulator import PyxEmulator
from pyx_auth.hosts import has_userinfo
from pyx_auth.keyring_backend import PyxKeyring

pytestmark = pytest.mark.skipif(
    FROZEN_BIN is not None, reason="the keyring backend is the Python package's, not the binary's"
)

BIN = Path(sys.executable).parent
KEYRING = str(BIN / "keyring")
NO_CREDENTIALS = "pyx-auth: no pyx credentials"
HEAVY_MODULES = ("httpx", "jwt")
"""Not cryptography: keyring's own Secret Service backend imports it in every keyring process."""


def _keyring(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KEYRING, *args], capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL,
        timeout=60, check=False,
    )  # fmt: skip


# --- which services get a token: the host table of `pyx-auth get`, as URLs and bare hosts


def _bare(url: str) -> str:
    return url.removeprefix("https://")


TABLE = [(url, pyx and not has_userinfo(url)) for url, pyx, _ in DEFAULT_API_ROWS]
"""Each row of the host table: a token only for a pyx URI without userinfo, as `get` does."""
BARE_TABLE = [(_bare(url), pyx) for url, pyx in TABLE if url.startswith("https://")]
"""The same rows as pip's bare ``host[:port]...``: a bare host means https."""
EXTRA_BARE = [
    ("api.pyx.dev", True),
    ("api.pyx.dev:443", True),
    ("files.astralhosted.com", True),
    ("api.pyx.dev:80", False),
    ("files.astralhosted.com:8443", False),
    ("api.pyx.dev.evil.example", False),
    ("evilastralhosted.com", False),
    ("api.pyx.dev@evil.example", False),
    ("__token__@api.pyx.dev", False),
    ("pypi.org", False),
    ("pyx-auth:https://api.pyx.dev/", False),  # where `login --api-key` keeps its key
]


@pytest.fixture
def fixed_token(monkeypatch: pytest.MonkeyPatch, emulator: PyxEmulator) -> str:
    """PYX_AUTH_TOKEN for the default API: every answer is this token or nothing, offline."""
    token = emulator.mint_access_token()
    monkeypatch.setenv("PYX_AUTH_TOKEN", token)
    return token


def _backend() -> PyxKeyring:
    return PyxKeyring()  # type: ignore[no-untyped-call]  # keyring's KeyringBackend.__init__


@pytest.mark.parametrize(("service", "pyx"), TABLE + BARE_TABLE + EXTRA_BARE)
def test_backend_answers_exactly_for_pyx_services(
    service: str, pyx: bool, fixed_token: str
) -> None:
    backend = _backend()
    credential = backend.get_credential(service, None)
    if pyx:
        assert credential is not None
        assert (credential.username, credential.password) == ("__token__", fixed_token)
        assert backend.get_password(service, "__token__") == fixed_token
    else:
        assert credential is None
        assert backend.get_password(service, "__token__") is None
    assert backend.get_password(service, "someone") is None


@pytest.mark.parametrize(
    ("service", "pyx"),
    [
        ("https://api.pyx.dev/simple/acme/main/", True),
        ("files.astralhosted.com", True),
        ("https://api.pyx.dev.evil.example/simple/acme/main/", False),
        ("https://evilastralhosted.com/acme/x.whl", False),
        ("https://api.pyx.dev@evil.example/simple/", False),
        ("https://__token__@api.pyx.dev/simple/", False),
        ("https://api.pyx.dev:8443/simple/", False),
        ("api.pyx.dev:80", False),
    ],
)
def test_keyring_command_prints_the_token_only_for_pyx(
    service: str, pyx: bool, fixed_token: str
) -> None:
    result = _keyring("get", service, "__token__")
    assert result.stderr == ""
    assert (result.returncode, result.stdout) == ((0, fixed_token + "\n") if pyx else (1, ""))


def test_keyring_command_masks_the_token_in_a_github_actions_log(
    fixed_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    result = _keyring("get", "https://api.pyx.dev/simple/acme/main/", "__token__")
    assert result.stdout == fixed_token + "\n"
    assert result.stderr == f"::add-mask::{fixed_token}\n"


def test_keyring_get_mints_once_then_reuses_the_cached_token(
    emulator: PyxEmulator, pyx_env: dict[str, str], published: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYX_API_KEY", EMULATOR_API_KEY)
    first = _keyring("get", published, "__token__")
    assert first.returncode == 0, first.stderr
    token = first.stdout.strip()
    assert emulator.verify(token) is not None, "a token the emulator minted"
    second = _keyring("get", published, "__token__")
    assert second.stdout.strip() == token
    assert emulator.counts()["access-token"] == 1


def test_keyring_get_without_credentials_is_one_line_and_no_answer(
    pyx_env: dict[str, str], published: str
) -> None:
    result = _keyring("get", published, "__token__")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(NO_CREDENTIALS) and result.stderr.count("\n") == 1


def test_broken_environment_is_one_line_and_no_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYX_API_URL", "not a url")
    result = _keyring("get", "https://api.pyx.dev/simple/", "__token__")
    assert result.returncode == 1
    assert (
        result.stderr
        == "pyx-auth: PYX_API_URL must be an http(s) URL such as https://api.pyx.dev\n"
    )


def test_a_broken_environment_makes_no_service_ours_to_store_or_delete(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the settings unreadable, storing is left to the next backend (not refused as a
    pyx service), and the reason is said on one line, once (pip asks more than once)."""
    from pyx_auth import keyring_backend
    from pyx_auth.keyring_backend import NotPyxService

    monkeypatch.setattr(keyring_backend, "_said", set())
    monkeypatch.setenv("PYX_API_URL", "not a url")
    backend = _backend()
    with pytest.raises(NotPyxService):
        backend.set_password("https://api.pyx.dev/simple/", "__token__", "x")
    with pytest.raises(NotPyxService):
        backend.delete_password("https://api.pyx.dev/simple/", "__token__")
    line = "pyx-auth: PYX_API_URL must be an http(s) URL such as https://api.pyx.dev\n"
    assert capsys.readouterr().err == line


def test_storing_a_pyx_password_is_refused_with_keyrings_error(fixed_token: str) -> None:
    from keyring.errors import PasswordDeleteError, PasswordSetError

    backend = _backend()
    with pytest.raises(PasswordSetError, match="pyx-auth login"):
        backend.set_password("https://api.pyx.dev/simple/", "__token__", "x")
    with pytest.raises(PasswordDeleteError, match="pyx-auth login"):
        backend.delete_password("files.astralhosted.com", "__token__")


def test_other_services_pass_on_to_the_next_backend(fixed_token: str) -> None:
    """keyring's chainer moves on after NotImplementedError; alone, it is the fail backend's."""
    from keyring.errors import NoKeyringError

    backend = _backend()
    calls: list[Callable[[], None]] = [
        lambda: backend.set_password("https://pypi.org/", "me", "x"),
        lambda: backend.delete_password("https://pypi.org/", "me"),
    ]
    for call in calls:
        with pytest.raises(NotImplementedError):
            call()
        with pytest.raises(NoKeyringError):
            call()


def test_backend_is_ahead_of_the_fail_backend() -> None:
    result = _keyring("--list-backends")
    lines = result.stdout.splitlines()
    assert "pyx_auth.keyring_backend.PyxKeyring (priority: 9)" in lines
    assert "keyring.backends.fail.Keyring (priority: 0)" in lines


@pytest.fixture
def system_keyring(clean_environ: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``keyring_backends.FileKeyring`` installed like a system keyring: by an entry point.

    keyring then chains it after pyx-auth's backend, as it chains the Secret Service or the
    macOS Keychain on a desktop. Returns HOME, where FileKeyring keeps its file and its log.
    """
    dist_info = tmp_path / "site" / "test_file_keyring-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: test-file-keyring\nVersion: 1.0\n"
    )
    (dist_info / "entry_points.txt").write_text("[keyring.backends]\nfile = keyring_backends\n")
    tests = Path(__file__).parent
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path / "site"), str(tests)]))
    return clean_environ


def test_keyring_source_reads_the_api_key_from_the_system_backend_in_the_chain(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str], system_keyring: Path
) -> None:
    """`login --api-key` stores in, and the backend's lookup reads from, the next backend."""
    backends = set(_keyring("--list-backends").stdout.splitlines())
    assert {
        "keyring.backends.chainer.ChainerBackend (priority: 10)",  # keyring's choice
        "pyx_auth.keyring_backend.PyxKeyring (priority: 9)",  # asked first in the chain
        "keyring_backends.FileKeyring (priority: 1)",
    } <= backends, backends
    emulator.token_lifetime = 120  # inside the refresh margin: each lookup mints again
    login = run_pyx_auth("login", "--api-key", input=EMULATOR_API_KEY + "\n")
    assert login.returncode == 0, login.stderr
    service = f"pyx-auth:{emulator.url}/"
    assert stored(system_keyring) == {f"{service}\0api-key": EMULATOR_API_KEY}
    (system_keyring / "keyring-calls.log").unlink()

    result = _keyring("get", f"{emulator.url}/simple/acme/main/", "__token__")

    assert result.returncode == 0, result.stderr
    assert emulator.verify(result.stdout.strip()) is not None
    assert emulator.counts()["access-token"] == 2
    assert calls(system_keyring) == [f"get {service} api-key"]


# --- import cost: keyring imports every backend in every program that uses it


def _modules(code: str) -> list[str]:
    """What ``code`` prints, one module name a line, run in a fresh interpreter."""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout.split()


def test_loading_keyring_imports_only_the_small_backend_module() -> None:
    """``-X importtime`` cannot show this: keyring loads plugins with ``importlib.import_module``,
    which it does not log. So the modules are read from ``sys.modules`` instead."""
    loaded = _modules("import sys, keyring; keyring.get_keyring(); print(*sys.modules)")
    assert [name for name in loaded if name.split(".")[0] == "pyx_auth"] == [
        "pyx_auth",
        "pyx_auth.keyring_backend",
    ]
    assert not set(HEAVY_MODULES) & set(loaded)
    # keyring's Secret Service backend imports cryptography itself; the backend adds nothing.
    added = _modules(
        "import sys, keyring.backend; before = set(sys.modules);"
        " import pyx_auth.keyring_backend; print(*sorted(set(sys.modules) - before))"
    )
    assert added == ["pyx_auth", "pyx_auth.keyring_backend"]


def _imported(argv: list[str]) -> list[str]:
    """Module names that ``python -X importtime argv`` logs."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *argv], capture_output=True, text=True, check=True
    )
    return [
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "imported package" not in line
    ]


def test_a_cached_pyx_lookup_imports_no_http_or_jwt_library(
    pyx_env: dict[str, str], emulator: PyxEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYX_API_KEY", EMULATOR_API_KEY)
    url = f"{emulator.url}/simple/acme/main/"
    assert _keyring("get", url, "__token__").returncode == 0  # mints and caches
    modules = _imported([KEYRING, "get", url, "__token__"])
    assert "pyx_auth.sources" in modules
    assert [name for name in modules if name.split(".")[0] in HEAVY_MODULES] == []
    assert emulator.counts()["access-token"] == 1


# --- real installers


def _settings(run_pyx_auth: RunPyxAuth, tool: str, *options: str) -> dict[str, str]:
    """The ``# NAME=value`` variables that ``pyx-auth config <tool>`` prints."""
    result = run_pyx_auth("config", tool, "--index", f"{WORKSPACE}/{VIEW}", *options)
    assert result.returncode == 0, result.stderr
    pairs = [line[2:].partition("=") for line in result.stdout.splitlines()]
    return {name: value for name, sep, value in pairs if sep and name.isupper()}


@pytest.fixture(scope="session")
def separate_pip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with pip and without pyx-auth or keyring: pip's ``subprocess`` provider's home."""
    venv = tmp_path_factory.mktemp("separate-pip") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    found = subprocess.run([python, "-c", "import keyring"], capture_output=True, check=False)
    assert found.returncode != 0, "the separate venv must not have keyring"
    return python


def _install(
    argv: list[str], tmp_path: Path, variables: Mapping[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run an installer with an empty HOME, no config files and only ``variables`` added.

    PATH starts with pyx-auth's venv, which holds the ``keyring`` command the subprocess
    providers run (pip skips its own venv's scripts, so that is what it finds).
    """
    home = tmp_path / "installer-home"
    home.mkdir(exist_ok=True)
    env = {
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(home),
        "TMPDIR": str(tmp_path),
        "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
        "PIP_CONFIG_FILE": os.devnull,
        **variables,
    }
    return subprocess.run(
        argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=180, check=False,
    )  # fmt: skip


def _pip(python: str | Path, target: Path) -> list[str]:
    return [
        str(python), "-m", "pip", "install", "--no-input", "--no-cache-dir",
        "--disable-pip-version-check", "--no-deps", "-vv", "--target", str(target), PROJECT,
    ]  # fmt: skip


def _uv_pip(uv: str, target: Path) -> list[str]:
    return [
        uv, "pip", "install", "--no-config", "--python", sys.executable, "--no-deps",
        "--target", str(target), PROJECT,
    ]  # fmt: skip


Install = Callable[[str, Mapping[str, str]], subprocess.CompletedProcess[str]]


@pytest.fixture
def install(
    run_pyx_auth: RunPyxAuth,
    separate_pip: Path,
    require_tool: Callable[[str], str],
    uv: str,
    pyx_env: dict[str, str],
    published: str,
    tmp_path: Path,
) -> Install:
    """``install(name, variables)``: one installer, set up by ``pyx-auth config``, installs the
    published demo wheel into ``tmp_path / "site"`` with ``pyx_env`` and ``variables``."""

    def run(name: str, variables: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
        target = tmp_path / "site"
        if name == "pip-import":
            argv, settings = _pip(sys.executable, target), _settings(run_pyx_auth, "pip")
        elif name == "pip-subprocess":
            settings = _settings(run_pyx_auth, "pip", "--provider", "subprocess")
            argv = _pip(separate_pip, target)
        else:
            executable = uv if name == "uv-0.12.6" else newest_uv(require_tool)
            argv, settings = _uv_pip(executable, target), _settings(run_pyx_auth, "uv")
        return _install(argv, tmp_path, {**pyx_env, **settings, **variables})

    return run


INSTALLERS = ("pip-import", "pip-subprocess", "uv-0.12.6", "uv-newest")


def _installed(target: Path) -> bool:
    init = target / MODULE / "__init__.py"
    return init.exists() and init.read_text() == "ANSWER = 42\n"


@pytest.mark.parametrize("name", INSTALLERS)
def test_installer_gets_the_token_from_an_api_key(
    name: str,
    install: Install,
    emulator: PyxEmulator,
    tmp_path: Path,
) -> None:
    result = install(name, {"PYX_API_KEY": EMULATOR_API_KEY})
    assert result.returncode == 0, result.stdout + result.stderr
    assert _installed(tmp_path / "site")
    counts = emulator.counts()
    assert counts["simple"] >= 1 and counts["files"] >= 1, "index and file both came from pyx"
    assert counts["access-token"] == 1, "one exchange, however often keyring was asked"


@pytest.mark.parametrize("name", ("pip-import", "pip-subprocess"))
def test_pip_gets_the_token_from_a_uv_login(
    name: str,
    install: Install,
    emulator: PyxEmulator,
    tmp_path: Path,
) -> None:
    """A uv 0.12.6 login in the store and no credential variable at all."""
    write_uv_login(*emulator.issue_tokens())
    result = install(name, {})
    assert result.returncode == 0, result.stdout + result.stderr
    assert _installed(tmp_path / "site")
    assert emulator.counts()["access-token"] == emulator.counts()["refresh"] == 0


@pytest.mark.parametrize("name", INSTALLERS)
def test_installer_without_credentials_fails_with_401_and_one_line(
    name: str,
    install: Install,
    emulator: PyxEmulator,
    tmp_path: Path,
) -> None:
    result = install(name, {})
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "401" in output, output
    ours = [line for line in output.splitlines() if "pyx-auth:" in line]
    assert ours and all(line.startswith(NO_CREDENTIALS) for line in ours), output
    assert "pyx_auth" not in output, "no traceback through pyx-auth's code (pip -vv shows its own)"
    assert not (tmp_path / "site" / MODULE).exists()
    assert emulator.counts()["files"] == 0


# --- twine


def test_twine_uploads_with_the_token_from_an_api_key(
    pyx_env: dict[str, str], emulator: PyxEmulator, tmp_path: Path
) -> None:
    filename, data = build_wheel("2.0")
    (tmp_path / filename).write_bytes(data)
    result = _install(
        [
            str(BIN / "twine"), "upload", "--non-interactive", "--disable-progress-bar",
            "--repository-url", f"{emulator.url}/v1/upload/{WORKSPACE}/{VIEW}/",
            str(tmp_path / filename),
        ],
        tmp_path,
        {**pyx_env, "PYX_API_KEY": EMULATOR_API_KEY, "TWINE_USERNAME": "__token__"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    index = urllib.request.Request(
        f"{emulator.url}/simple/{WORKSPACE}/{VIEW}/{PROJECT}/",
        headers={"Authorization": f"Bearer {emulator.mint_access_token()}"},
    )
    with urllib.request.urlopen(index, timeout=10) as page:
        assert filename in page.read().decode()
    assert emulator.counts()["access-token"] == 1


# --- pyx-auth config pip|uv: the files, not only the variables, are ready to use


def test_config_uv_pyproject_installs_with_the_newest_uv(
    run_pyx_auth: RunPyxAuth,
    require_tool: Callable[[str], str],
    pyx_env: dict[str, str],
    published: str,
    emulator: PyxEmulator,
    tmp_path: Path,
) -> None:
    snippet = run_pyx_auth("config", "uv", "--index", f"{WORKSPACE}/{VIEW}").stdout
    project = tmp_path / "project"
    project.mkdir()
    header = '[project]\nname = "consumer"\nversion = "0"\n\n'
    (project / "pyproject.toml").write_text(header + snippet)
    argv = [
        newest_uv(require_tool), "pip", "install", "--python", sys.executable, "--no-deps",
        "--target", str(tmp_path / "site"), PROJECT,
    ]  # fmt: skip
    result = _install(argv, tmp_path, {**pyx_env, "PYX_API_KEY": EMULATOR_API_KEY}, cwd=project)
    assert result.returncode == 0, result.stderr
    assert _installed(tmp_path / "site")


def test_config_pip_conf_installs_with_pip(
    run_pyx_auth: RunPyxAuth, pyx_env: dict[str, str], published: str, tmp_path: Path
) -> None:
    config = tmp_path / "pip.conf"
    config.write_text(run_pyx_auth("config", "pip", "--index", f"{WORKSPACE}/{VIEW}").stdout)
    argv = _pip(sys.executable, tmp_path / "site")
    variables = {**pyx_env, "PIP_CONFIG_FILE": str(config), "PYX_API_KEY": EMULATOR_API_KEY}
    result = _install(argv, tmp_path, variables)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _installed(tmp_path / "site")
