"""``pyx-auth config dependabot|artifactory``: the settings for registries that hold a static key.

The texts are the product, so they are pinned exactly for pyx's defaults; other tests check
that every URL follows PYX_API_URL and PYX_CDN_DOMAIN, and that the index URL given to
Dependabot is one the emulator really serves with the ``__token__`` user name.
"""

from __future__ import annotations

import base64
import os
import re
import urllib.request

import pytest

from conftest import EMULATOR_API_KEY, RunPyxAuth
from pyx_auth.emulator import PyxEmulator

LONG_LIVED = (
    "# Needs a long-lived, read-only pyx API key: {tool} keeps the credentials as given and never\n"
    "# refreshes them, and a pyx access token expires within the hour. Create the key in the pyx\n"
    "# dashboard (valid up to 1 year) and replace it before it expires.\n"
)

DEPENDABOT = (
    "# .github/dependabot.yml: Dependabot resolves from the pyx index acme/main\n"
    "# (from `pyx-auth config dependabot` with PYX_API_URL=https://api.pyx.dev/\n"
    "# and PYX_CDN_DOMAIN=astralhosted.com)\n"
    + LONG_LIVED.format(tool="Dependabot")
    + "# Store it as the Dependabot secret PYX_API_KEY (Settings > Secrets and variables >\n"
    "# Dependabot); Dependabot's OIDC support does not cover pyx.\n"
    "# The CDN entry lets Dependabot's proxy send the key to https://files.astralhosted.com,"
    " where\n"
    "# the index's files are. Unconfirmed: that pyx takes the API key itself as the password\n"
    "# (it documents __token__ with an access token).\n"
    "version: 2\n"
    "registries:\n"
    "  pyx:\n"
    "    type: python-index\n"
    "    url: https://api.pyx.dev/simple/acme/main\n"
    "    username: __token__\n"
    "    password: ${{secrets.PYX_API_KEY}}\n"
    "    replaces-base: true  # drop this line if the view does not include PyPI\n"
    "  pyx-cdn:\n"
    "    type: python-index\n"
    "    url: https://files.astralhosted.com\n"
    "    username: __token__\n"
    "    password: ${{secrets.PYX_API_KEY}}\n"
    "updates:\n"
    "  - package-ecosystem: uv  # or pip\n"
    "    directory: /\n"
    "    schedule:\n"
    "      interval: weekly\n"
    "    registries:  # every updates entry must name the registries it may use\n"
    "      - pyx\n"
    "      - pyx-cdn\n"
)

ARTIFACTORY = (
    "# JFrog Artifactory: a remote PyPI repository for the pyx index acme/main\n"
    "# (from `pyx-auth config artifactory` with PYX_API_URL=https://api.pyx.dev/\n"
    "# and PYX_CDN_DOMAIN=astralhosted.com)\n"
    + LONG_LIVED.format(tool="Artifactory")
    + "# Unconfirmed, untested against pyx: the registry suffix, Bypass HEAD Requests, the\n"
    "# views and static-IP hosts, and that pyx takes the API key itself as the password.\n"
    "#\n"
    "# Administration > Repositories > Create a Repository > Remote > PyPI:\n"
    "Repository Key:               pyx-acme-main  (any name)\n"
    "URL:                          https://files.astralhosted.com\n"
    "Registry URL:                 https://api.pyx.dev\n"
    "Registry Suffix:              simple/acme/main\n"
    "User Name:                    __token__\n"
    "Password / Access Token:      <the pyx API key>\n"
    "# Advanced:\n"
    "Lenient Host Authentication:  on  (the index links to https://files.astralhosted.com,"
    " views to\n"
    "                                   https://views.astralhosted.com)\n"
    "Bypass HEAD Requests:         on\n"
    "# Terraform / Pulumi (jfrog/artifactory): url, pypi_registry_url, pypi_repository_suffix.\n"
    "#\n"
    "# Static IP addresses, for firewalls that allow-list by address:\n"
    "URL:                          https://files-static.astralhosted.com\n"
    "Registry URL:                 https://api-static.pyx.dev\n"
    "# (views then come from https://views-static.astralhosted.com)\n"
)

CUSTOM = {"PYX_API_URL": "https://pyx.internal.example:8443/api", "PYX_CDN_DOMAIN": "cdn.example"}


def test_config_dependabot_prints_the_registries_block(run_pyx_auth: RunPyxAuth) -> None:
    result = run_pyx_auth("config", "dependabot", "--index", "acme/main")

    assert result.returncode == 0, result.stderr
    assert result.stdout == DEPENDABOT
    assert result.stderr == ""


def test_config_artifactory_prints_the_remote_repository_settings(
    run_pyx_auth: RunPyxAuth,
) -> None:
    result = run_pyx_auth("config", "artifactory", "--index", "acme/main")

    assert result.returncode == 0, result.stderr
    assert result.stdout == ARTIFACTORY


@pytest.mark.parametrize("tool", ["dependabot", "artifactory"])
def test_config_registries_follow_pyx_api_url_and_cdn_domain(
    run_pyx_auth: RunPyxAuth, tool: str
) -> None:
    result = run_pyx_auth(
        "config", tool, "--index", "team-a/prod.v2", env={**os.environ, **CUSTOM}
    )

    assert result.returncode == 0, result.stderr
    urls = set(re.findall(r"https?://[^\s,)]+", result.stdout))
    assert urls <= {
        "https://pyx.internal.example:8443/api",  # index URLs keep its path, as uv's do
        "https://pyx.internal.example:8443/api/simple/team-a/prod.v2",
        "https://files.cdn.example",
        "https://views.cdn.example",
    }, urls
    assert "pyx.dev" not in result.stdout
    assert "astralhosted" not in result.stdout
    assert "static" not in result.stdout.replace("static-IP hosts", "")  # pyx's own hosts only


def test_config_dependabot_secret_name_is_used_and_checked(run_pyx_auth: RunPyxAuth) -> None:
    named = run_pyx_auth("config", "dependabot", "--index", "acme/main", "--secret", "PYX_KEY_2")
    assert named.stdout.count("password: ${{secrets.PYX_KEY_2}}") == 2

    refused = run_pyx_auth("config", "dependabot", "--index", "acme/main", "--secret", "GITHUB_X")
    assert refused.returncode == 2
    assert refused.stdout == ""
    assert refused.stderr.splitlines()[-1] == (
        "pyx-auth config dependabot: error: argument --secret: a Dependabot secret name is A-Z,"
        " 0-9 and _, not starting with a digit or GITHUB_"
    )


@pytest.mark.parametrize("index", ["acme", "acme/", "/main", "acme/main/extra", "acme main/x", ""])
@pytest.mark.parametrize("tool", ["dependabot", "artifactory"])
def test_config_registries_bad_index_is_a_usage_error(
    run_pyx_auth: RunPyxAuth, tool: str, index: str
) -> None:
    result = run_pyx_auth("config", tool, "--index", index)

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == (
        f"pyx-auth config {tool}: error: argument --index: must be WORKSPACE/VIEW, such as"
        " acme/main"
    )
    assert "Traceback" not in result.stderr


def test_config_registries_never_print_a_configured_key(run_pyx_auth: RunPyxAuth) -> None:
    env = {**os.environ, "PYX_API_KEY": EMULATOR_API_KEY}
    for tool in ("dependabot", "artifactory"):
        result = run_pyx_auth("config", tool, "--index", "acme/main", env=env)
        assert result.returncode == 0
        assert EMULATOR_API_KEY not in result.stdout + result.stderr


def test_config_dependabot_index_url_is_served_with_token_user(
    run_pyx_auth: RunPyxAuth, emulator: PyxEmulator, pyx_env: dict[str, str]
) -> None:
    """The URL and user name Dependabot gets work against the emulator's index (which, like
    pyx, takes a token as the Basic password of ``__token__``)."""
    emulator.add_file("acme", "main", "demo", "demo-1.0-py3-none-any.whl", b"wheel")
    text = run_pyx_auth("config", "dependabot", "--index", "acme/main").stdout
    url = re.search(r"^    url: (\S+)$", text, re.MULTILINE)
    user = re.search(r"^    username: (\S+)$", text, re.MULTILINE)
    assert url is not None and user is not None
    assert url.group(1) == f"{emulator.url}/simple/acme/main"

    credentials = base64.b64encode(f"{user.group(1)}:{emulator.mint_access_token()}".encode())
    request = urllib.request.Request(
        url.group(1) + "/", headers={"Authorization": f"Basic {credentials.decode()}"}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request) as response:
        assert response.status == 200
        assert b"demo" in response.read()
