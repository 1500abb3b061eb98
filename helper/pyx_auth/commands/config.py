"""``pyx-auth config <tool>``: print what another tool needs in its configuration to use pyx-auth.

Each tool is one function ``(settings, args) -> str`` that builds the text from the current
environment (``PYX_API_URL``, ``PYX_CDN_DOMAIN``) and its own options, plus one ``_add`` line
in ``register``. The text goes to stdout, so it can be redirected into the tool's file.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from pyx_auth.commands import load_settings
from pyx_auth.hosts import ascii_host
from pyx_auth.settings import CDN_FILE_HOSTS, CDN_VIEW_HOSTS, STATIC_API_HOST, Settings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    Snippet = Callable[[Settings, argparse.Namespace], str]

DEFAULT_BAZEL_HELPER = "%workspace%/bazel/pyx-credential-helper"
BAZEL_SCOPE = re.compile(r"(\*|[-a-zA-Z0-9]+)(\.[-a-zA-Z0-9]+)+")
"""What Bazel accepts as a ``--credential_helper`` scope: a dotted name, maybe ``*.``-prefixed."""
BAZELRC_NOTES = """\
# Bazel >= 7 recommended: helpers serve downloads since 6.3; "expires" is honoured since 7.1.
# Bazel 7.1-7.3 re-runs helpers that answer with "expires" (bazelbuild/bazel#23429), and
# Bazel < 7.1 caches every answer for --credential_helper_cache_duration (30m). With those,
# run bazel with PYX_AUTH_NO_EXPIRES=1 in its environment: pyx-auth then leaves "expires" out
# and hands out only tokens valid for at least 35 minutes.
# A refresh must finish within --credential_helper_timeout (default 10s); pyx-auth bounds its
# network calls by PYX_AUTH_TIMEOUT (default 8s). Raise both together if pyx is far away.
"""


def _bazel_helper_path(value: str) -> str:
    """A helper path Bazel accepts: ``%workspace%/...``, absolute, or a bare name on PATH."""
    if value.startswith(("%workspace%/", "%install_base%/", "/")) or (
        value and "/" not in value and "=" not in value
    ):
        return value
    raise argparse.ArgumentTypeError(
        "Bazel takes %workspace%/<path>, an absolute path, or a bare name found on PATH"
    )


def bazelrc(settings: Settings, args: argparse.Namespace) -> str:
    """The ``.bazelrc`` lines that send pyx hosts, and only those, to the credential helper.

    Host-scoped, because any answer (even an empty one) replaces ``.netrc`` for a URL: the
    API host, the static-IP API host for the default API, and the CDN domain with all its
    subdomains. A host Bazel cannot scope (``localhost``) gets a comment instead.
    """
    lines = [
        "# pyx credentials for Bazel, from `pyx-auth config bazelrc` for",
        f"# PYX_API_URL={settings.api_url} and PYX_CDN_DOMAIN={settings.cdn_domain}.",
        "# Host-scoped: Bazel asks the helper only about these hosts, and any answer replaces",
        "# .netrc for the URL. Paste into .bazelrc, or save as bazel/bazelrc and add",
        "# `import %workspace%/bazel/bazelrc` to .bazelrc.",
        BAZELRC_NOTES.rstrip("\n"),
        *helper_lines(settings, args.helper),
    ]
    return "\n".join(lines) + "\n"


def helper_scopes(settings: Settings) -> tuple[str, ...]:
    """The hosts Bazel must send to the helper: API, static-IP API (default API), ``*.<CDN>``."""
    cdn = ascii_host(settings.cdn_domain) or settings.cdn_domain
    return (settings.api.host, *settings.extra_pyx_hosts, f"*.{cdn}")


def helper_lines(settings: Settings, helper: str) -> list[str]:
    """One ``--credential_helper`` line per pyx scope; a comment for one Bazel cannot scope."""
    lines: list[str] = []
    for scope in helper_scopes(settings):
        if BAZEL_SCOPE.fullmatch(scope):
            lines.append(f"common --credential_helper={scope}={helper}")
        else:
            lines += [
                f"# {scope!r} cannot be a Bazel scope (a scope needs a dot). To cover it, add an",
                "# unscoped default helper, which Bazel then asks about every host:",
                f"# common --credential_helper={helper}",
            ]
    return lines


INDEX_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
DEPENDABOT_SECRET = re.compile(r"[A-Z_][A-Z0-9_]*")
"""Dependabot secret names: letters, digits and ``_``, not starting with a digit."""
LONG_LIVED_KEY_NOTE = """\
# Needs a long-lived, read-only pyx API key: {tool} keeps the credentials as given and never
# refreshes them, and a pyx access token expires within the hour. Create the key in the pyx
# dashboard (valid up to 1 year) and replace it before it expires.
"""


def _origin_comment(settings: Settings, tool: str) -> str:
    return (
        f"# (from `pyx-auth config {tool}` with PYX_API_URL={settings.api_url}\n"
        f"# and PYX_CDN_DOMAIN={settings.cdn_domain})\n"
    )


def _index(value: str) -> tuple[str, str]:
    """``--index WORKSPACE/VIEW``, e.g. ``acme/main``, as its two parts."""
    workspace, slash, view = value.partition("/")
    if slash and INDEX_PART.fullmatch(workspace) and INDEX_PART.fullmatch(view):
        return workspace, view
    raise argparse.ArgumentTypeError("must be WORKSPACE/VIEW, such as acme/main")


def _dependabot_secret(value: str) -> str:
    if DEPENDABOT_SECRET.fullmatch(value) and not value.startswith("GITHUB_"):
        return value
    raise argparse.ArgumentTypeError(
        "a Dependabot secret name is A-Z, 0-9 and _, not starting with a digit or GITHUB_"
    )


def _index_urls(settings: Settings, workspace: str, view: str) -> tuple[str, str, str]:
    """(API base, index URL, CDN files URL), all derived from PYX_API_URL and PYX_CDN_DOMAIN.

    Index URLs keep the path of PYX_API_URL, as uv builds them (``{PYX_API_URL}/simple/...``,
    uv-torch); only the auth endpoints drop it.
    """
    cdn = ascii_host(settings.cdn_domain) or settings.cdn_domain
    api = settings.api_url.rstrip("/")
    return api, f"{api}/simple/{workspace}/{view}", f"https://{CDN_FILE_HOSTS[0]}.{cdn}"


def dependabot(settings: Settings, args: argparse.Namespace) -> str:
    """The registries block of .github/dependabot.yml for a pyx index.

    Two ``python-index`` registries with the same secret: the index, and the CDN host its
    files come from, because Dependabot's proxy adds credentials only to requests for the
    registries' URLs.
    """
    workspace, view = args.index
    _, index_url, files_url = _index_urls(settings, workspace, view)
    secret = "${{secrets." + args.secret + "}}"
    return (
        f"# .github/dependabot.yml: Dependabot resolves from the pyx index {workspace}/{view}\n"
        + _origin_comment(settings, "dependabot")
        + LONG_LIVED_KEY_NOTE.format(tool="Dependabot")
        + f"# Store it as the Dependabot secret {args.secret} (Settings > Secrets and variables >\n"
        "# Dependabot); Dependabot's OIDC support does not cover pyx.\n"
        f"# The CDN entry lets Dependabot's proxy send the key to {files_url}, where\n"
        "# the index's files are. Unconfirmed: that pyx takes the API key itself as the password\n"
        "# (it documents __token__ with an access token).\n"
        "version: 2\n"
        "registries:\n"
        "  pyx:\n"
        "    type: python-index\n"
        f"    url: {index_url}\n"
        "    username: __token__\n"
        f"    password: {secret}\n"
        "    replaces-base: true  # drop this line if the view does not include PyPI\n"
        "  pyx-cdn:\n"
        "    type: python-index\n"
        f"    url: {files_url}\n"
        "    username: __token__\n"
        f"    password: {secret}\n"
        "updates:\n"
        "  - package-ecosystem: uv  # or pip\n"
        "    directory: /\n"
        "    schedule:\n"
        "      interval: weekly\n"
        "    registries:  # every updates entry must name the registries it may use\n"
        "      - pyx\n"
        "      - pyx-cdn\n"
    )


def artifactory(settings: Settings, args: argparse.Namespace) -> str:
    """The settings of a JFrog Artifactory remote PyPI repository in front of a pyx index.

    Artifactory's URL is the file host (pyx's CDN) and its Registry URL the index base; it
    appends the suffix itself. Lenient Host Authentication lets the credentials follow the
    index's links to the CDN hosts.
    """
    workspace, view = args.index
    api, _, files_url = _index_urls(settings, workspace, view)
    cdn = ascii_host(settings.cdn_domain) or settings.cdn_domain
    lines = [
        f"# JFrog Artifactory: a remote PyPI repository for the pyx index {workspace}/{view}",
        _origin_comment(settings, "artifactory").rstrip("\n"),
        LONG_LIVED_KEY_NOTE.format(tool="Artifactory").rstrip("\n"),
        "# Unconfirmed, untested against pyx: the registry suffix, Bypass HEAD Requests, the",
        "# views and static-IP hosts, and that pyx takes the API key itself as the password.",
        "#",
        "# Administration > Repositories > Create a Repository > Remote > PyPI:",
        f"Repository Key:               pyx-{workspace}-{view}  (any name)",
        f"URL:                          {files_url}",
        f"Registry URL:                 {api}",
        f"Registry Suffix:              simple/{workspace}/{view}",
        "User Name:                    __token__",
        "Password / Access Token:      <the pyx API key>",
        "# Advanced:",
        f"Lenient Host Authentication:  on  (the index links to {files_url}, views to",
        f"                                   https://{CDN_VIEW_HOSTS[0]}.{cdn})",
        "Bypass HEAD Requests:         on",
        "# Terraform / Pulumi (jfrog/artifactory): url, pypi_registry_url, pypi_repository_suffix.",
    ]
    if settings.is_default_api:
        lines += [
            "#",
            "# Static IP addresses, for firewalls that allow-list by address:",
            f"URL:                          https://{CDN_FILE_HOSTS[1]}.{cdn}",
            f"Registry URL:                 https://{STATIC_API_HOST}",
            f"# (views then come from https://{CDN_VIEW_HOSTS[1]}.{cdn})",
        ]
    return "\n".join(lines) + "\n"


KEYRING_TOOL_NOTE = """\
# pyx-auth's keyring backend answers with user __token__ and a fresh pyx token, minted and
# cached like `pyx-auth token` (PYX_API_KEY, Trusted Access in CI, `pyx-auth login`). Check
# that keyring sees it: `keyring --list-backends` lists pyx_auth.keyring_backend.PyxKeyring.
"""
SEPARATE_KEYRING_NOTE = """\
# {tool} runs the `keyring` command it finds on PATH{skip}. Install one that has
# pyx-auth: `uv tool install keyring --with pyx-auth` (or `pipx install keyring` and
# `pipx inject keyring pyx-auth`). The user name must be in the index URL, as below.
"""


def _with_user(url: str) -> str:
    """``https://__token__@host/...``: pip's and uv's keyring commands need the user name."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}__token__@{rest}"


def pip(settings: Settings, args: argparse.Namespace) -> str:
    """pip's settings for a pyx index, with tokens from pyx-auth's keyring backend.

    ``import`` loads keyring (and so pyx-auth) inside pip; ``subprocess`` runs a ``keyring``
    command, which pip looks for on PATH outside its own environment, and needs the user
    name in the URL.
    """
    workspace, view = args.index
    _, index_url, files_url = _index_urls(settings, workspace, view)
    index_url += "/"
    if args.provider == "import":
        setup = "# pyx-auth must be installed in pip's own environment: `pip install pyx-auth`.\n"
    else:
        index_url = _with_user(index_url)
        skip = " but skips the scripts folder of its own environment"
        setup = SEPARATE_KEYRING_NOTE.format(tool="pip", skip=skip)
    return (
        f"# pip: install from the pyx index {workspace}/{view} (keyring-provider {args.provider})\n"
        + _origin_comment(settings, "pip")
        + KEYRING_TOOL_NOTE
        + setup
        + f"# Files come from {files_url}; the backend answers for that host too.\n"
        "# pip.conf (`pip config debug` shows where pip looks for it):\n"
        "[global]\n"
        f"index-url = {index_url}\n"
        f"keyring-provider = {args.provider}\n"
        "# or the same as environment variables:\n"
        f"# PIP_INDEX_URL={index_url}\n"
        f"# PIP_KEYRING_PROVIDER={args.provider}\n"
    )


def uv(settings: Settings, args: argparse.Namespace) -> str:
    """uv's settings for a pyx index, for any uv version, through ``keyring`` as a command.

    uv (0.12.7 and later have no pyx support of their own) asks keyring only through its
    ``subprocess`` provider, which needs the user name in the index URL.
    """
    workspace, view = args.index
    _, index_url, files_url = _index_urls(settings, workspace, view)
    index_url = _with_user(index_url + "/")
    return (
        f"# uv: install from the pyx index {workspace}/{view} through pyx-auth's keyring backend\n"
        + _origin_comment(settings, "uv")
        + KEYRING_TOOL_NOTE
        + SEPARATE_KEYRING_NOTE.format(tool="uv", skip="")
        + f"# Files come from {files_url}; the backend answers for that host too.\n"
        "# pyproject.toml (in uv.toml, drop the `tool.uv` prefix: [[index]], no [tool.uv]):\n"
        "[tool.uv]\n"
        'keyring-provider = "subprocess"\n'
        "\n"
        "[[tool.uv.index]]\n"
        'name = "pyx"\n'
        f'url = "{index_url}"\n'
        "default = true\n"
        "# or the same as environment variables (UV_DEFAULT_INDEX in newer uv):\n"
        f"# UV_INDEX_URL={index_url}\n"
        "# UV_KEYRING_PROVIDER=subprocess\n"
    )


def _add(
    tools: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    snippet: Snippet,
    summary: str,
) -> argparse.ArgumentParser:
    """Register ``pyx-auth config <name>``, which prints ``snippet``'s text."""
    parser = tools.add_parser(
        name,
        help=summary,
        description=(snippet.__doc__ or summary).split("\n\n", 1)[0],
    )

    def run(args: argparse.Namespace) -> int:
        text = snippet(load_settings(os.environ), args)
        sys.stdout.write(text)
        return 0

    parser.set_defaults(run=run)
    return parser


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "config",
        help="print configuration for a tool that uses pyx-auth",
        description="Print the configuration a tool needs to use pyx-auth, for the current"
        " PYX_API_URL and PYX_CDN_DOMAIN, on stdout.",
    )
    tools = parser.add_subparsers(dest="tool", metavar="TOOL", required=True)
    bazel = _add(tools, "bazelrc", bazelrc, "the .bazelrc lines for the Bazel credential helper")
    bazel.add_argument(
        "--helper",
        type=_bazel_helper_path,
        default=DEFAULT_BAZEL_HELPER,
        metavar="PATH",
        help=f"the helper Bazel runs (default {DEFAULT_BAZEL_HELPER}, the committed stub;"
        " `pyx-auth` itself works too, found on PATH)",
    )
    registry_tools = (
        _add(tools, "dependabot", dependabot, "the .github/dependabot.yml registries for pyx"),
        _add(tools, "artifactory", artifactory, "Artifactory remote-repository settings for pyx"),
        _add(tools, "pip", pip, "pip.conf / PIP_* settings for a pyx index via keyring"),
        _add(tools, "uv", uv, "uv settings for a pyx index via keyring (any uv version)"),
    )
    for tool in registry_tools:
        tool.add_argument(
            "--index",
            type=_index,
            required=True,
            metavar="WORKSPACE/VIEW",
            help="the pyx index, e.g. acme/main for {PYX_API_URL}/simple/acme/main",
        )
    registry_tools[0].add_argument(
        "--secret",
        type=_dependabot_secret,
        default="PYX_API_KEY",
        metavar="NAME",
        help="the Dependabot secret holding the pyx API key (default PYX_API_KEY)",
    )
    registry_tools[2].add_argument(
        "--provider",
        choices=("import", "subprocess"),
        default="import",
        help="pip's keyring provider: import (pyx-auth in pip's environment, the default) or"
        " subprocess (a `keyring` command from another environment on PATH)",
    )
