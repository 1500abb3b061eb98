"""Which variables pyx-auth reads, in uv's precedence, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyx_auth.errors import ConfigError
from pyx_auth.settings import VARIABLES, Settings


def test_settings_defaults_to_pyx_dev() -> None:
    settings = Settings({})
    assert settings.api_url == "https://api.pyx.dev/"
    assert settings.cdn_domain == "astralhosted.com"
    assert settings.auth_token is None and settings.api_key is None
    assert settings.extra_pyx_hosts == ("api-static.pyx.dev",)
    assert settings.endpoint("auth/cli/refresh") == "https://api.pyx.dev/auth/cli/refresh"


def test_settings_endpoint_replaces_api_path_like_uv() -> None:
    settings = Settings({"PYX_API_URL": "https://Example.COM:8443/prefix/"})
    assert settings.endpoint("auth/cli/access-token") == "https://example.com:8443/auth/cli/access-token"
    assert settings.api_url == "https://example.com:8443/prefix"
    assert settings.extra_pyx_hosts == ()


def test_settings_pyx_auth_token_wins_over_uv_alias() -> None:
    settings = Settings({"PYX_AUTH_TOKEN": "a", "UV_AUTH_TOKEN": "b"})
    assert settings.auth_token == ("PYX_AUTH_TOKEN", "a")
    assert settings.warnings == ()


def test_settings_uv_aliases_are_used_with_a_deprecation_warning() -> None:
    settings = Settings({"UV_AUTH_TOKEN": "a", "UV_API_KEY": "k"})
    assert settings.auth_token == ("UV_AUTH_TOKEN", "a")
    assert settings.api_key == ("UV_API_KEY", "k")
    assert list(settings.warnings) == [
        "UV_AUTH_TOKEN is deprecated; set PYX_AUTH_TOKEN instead",
        "UV_API_KEY is deprecated; set PYX_API_KEY instead",
    ]


def test_settings_empty_variable_still_counts_as_set() -> None:
    settings = Settings({"PYX_API_KEY": "", "UV_API_KEY": "k"})
    assert settings.api_key == ("PYX_API_KEY", "")


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com", "not a url", "https://", "https://api.pyx.dev/\nNODE_OPTIONS=x",
     "https://api.pyx.dev/\r", "https://api.pyx.dev/ x", "https://api.\tpyx.dev"],
)
def test_settings_rejects_unusable_api_url(url: str) -> None:
    with pytest.raises(ConfigError, match="PYX_API_URL"):
        Settings({"PYX_API_URL": url})


@pytest.mark.parametrize("value", ["https://cdn.example", "localhost", "a/b"])
def test_settings_rejects_unusable_cdn_domain(value: str) -> None:
    with pytest.raises(ConfigError, match="PYX_CDN_DOMAIN"):
        Settings({"PYX_CDN_DOMAIN": value})


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("0", False), ("", False)])
def test_settings_no_expires_flag(value: str, expected: bool) -> None:
    assert Settings({"PYX_AUTH_NO_EXPIRES": value}).no_expires is expected


def test_settings_rejects_bad_timeouts() -> None:
    with pytest.raises(ConfigError, match="PYX_AUTH_TIMEOUT"):
        Settings({"PYX_AUTH_TIMEOUT": "soon"})
    with pytest.raises(ConfigError, match="UV_LOCK_TIMEOUT"):
        Settings({"UV_LOCK_TIMEOUT": "-1"})


@pytest.mark.parametrize("name", ["PYX_API_URL", "PYX_CDN_DOMAIN"])
def test_settings_empty_endpoint_variable_is_an_error_not_the_default(name: str) -> None:
    with pytest.raises(ConfigError, match=f"{name} is set but empty"):
        Settings({name: ""})


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "1e30"])
def test_settings_rejects_unbounded_timeouts(value: str) -> None:
    with pytest.raises(ConfigError, match="PYX_AUTH_TIMEOUT"):
        Settings({"PYX_AUTH_TIMEOUT": value})


def test_settings_are_read_only() -> None:
    settings = Settings({})
    with pytest.raises(AttributeError, match="read-only"):
        settings.workspace = "acme"


def test_every_variable_settings_reads_has_a_row_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = readme.split("## Environment variables", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1] for line in table.splitlines() if line.startswith("| `")]
    documented = {name for row in rows for name in row.replace("`", " ").replace(",", " ").split()}
    assert [name for name in VARIABLES if name not in documented] == []


def test_settings_parse_trusted_access_variables_once() -> None:
    settings = Settings(
        {
            "PYX_WORKSPACE": " acme ",
            "PYX_TRUSTED_ACCESS_AUDIENCE": "pyx:other",
            "PYX_TRUSTED_ACCESS_PATH": "v2/{workspace}/mint",
        }
    )
    assert settings.workspace == "acme"
    assert settings.trusted_access_audience == "pyx:other"
    assert settings.mint_path("acme") == "v2/acme/mint"
    defaults = Settings({})
    assert defaults.workspace is None
    assert defaults.mint_path("acme") == "v1/trusted-access/acme/mint-token"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PYX_WORKSPACE", " ", "PYX_WORKSPACE is set but empty"),
        ("PYX_WORKSPACE", "../x", "PYX_WORKSPACE must be a pyx workspace name"),
        ("PYX_TRUSTED_ACCESS_AUDIENCE", "", "PYX_TRUSTED_ACCESS_AUDIENCE is set but empty"),
        ("PYX_TRUSTED_ACCESS_PATH", "", "PYX_TRUSTED_ACCESS_PATH is set but empty"),
        ("PYX_TRUSTED_ACCESS_PATH", "v1/mint", "PYX_TRUSTED_ACCESS_PATH must contain {workspace}"),
    ],
)
def test_settings_refuse_unusable_trusted_access_variables(
    name: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings({name: value})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PYX_CDN_DOMAIN": "github.io"}, "PYX_CDN_DOMAIN must be a registrable domain"),
        ({"PYX_CDN_DOMAIN": "S3.AmazonAWS.com."}, "not a public suffix"),
        ({"PYX_CDN_DOMAIN": "192.168.0.1"}, "not an IP address"),
        ({"PYX_CDN_DOMAIN": ".astralhosted.com"}, "without a leading dot or wildcard"),
        ({"PYX_CDN_DOMAIN": "*.astralhosted.com"}, "without a leading dot or wildcard"),
        ({"PYX_API_URL": "https://evil.example\\@api.pyx.dev/"}, "contains a backslash"),
    ],
)
def test_settings_refuse_hosts_nobody_controls(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings(env)


def test_settings_defaults_need_no_public_suffix_list() -> None:
    """The default Bazel cache hit stays standard-library only: the PSL is not even loaded."""
    import sys

    sys.modules.pop("publicsuffixlist", None)
    Settings({})
    Settings({"PYX_API_URL": "http://127.0.0.1:8000"})
    assert "publicsuffixlist" not in sys.modules
