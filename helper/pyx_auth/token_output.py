"""How a token leaves ``pyx-auth token`` for other tools: output formats and CI log masking.

Formats (``--format``):

- ``raw``: the token alone, for ``$(pyx-auth token)`` and BuildKit ``--secret ...,src=FILE``.
- ``env``: ``PYX_AUTH_TOKEN=<token>``, for ``--env-file`` and env files.
- ``json``: ``{"token": ..., "expires_at": <seconds since the epoch, or null>}``.
- ``netrc``: ``machine <host> login __token__ password <token>`` for every pyx host, so that
  tools that only speak netrc (pip, twine, uv after 0.12.6, which has no pyx support) send the
  token to the index *and* to the CDN hosts the files come from. Index credentials such as
  ``UV_INDEX_<NAME>_PASSWORD`` reach only the index host.

``render`` returns text without a trailing newline; the caller adds one for stdout.
"""

from __future__ import annotations

import json

from pyx_auth.errors import ConfigError
from pyx_auth.settings import (
    CDN_HOST_PREFIXES,
    GITHUB_ACTIONS,
    PYX_API_URL,
    PYX_AUTH_TOKEN,
    PYX_CDN_DOMAIN,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import TextIO

    from pyx_auth.settings import Settings
    from pyx_auth.sources import Token

FORMATS = ("raw", "env", "json", "netrc")
NETRC_LOGIN = "__token__"
"""The user name pyx expects from tools that send the token as a Basic password."""


def netrc_hosts(settings: Settings) -> tuple[str, ...]:
    """Every host a pyx token is for: the API host, ``api-static.pyx.dev`` (default API only),
    the CDN domain and its ``files.``, ``views.``, ``files-static.``, ``views-static.`` hosts.

    netrc ``machine`` names carry no port, so an emulator at ``http://127.0.0.1:8000`` gives
    ``127.0.0.1``.
    """
    cdn = settings.cdn_domain
    hosts = (
        settings.api.host,
        *settings.extra_pyx_hosts,
        cdn,
        *(f"{prefix}.{cdn}" for prefix in CDN_HOST_PREFIXES),
    )
    for host in hosts:
        if not host or any(char.isspace() or char == "#" for char in host):
            raise ConfigError(
                f"{PYX_API_URL} or {PYX_CDN_DOMAIN} gives the host {host!r}, which cannot"
                " be written to a netrc file"
            )
    return tuple(dict.fromkeys(hosts))


def render(token: Token, output_format: str, settings: Settings) -> str:
    """The token in ``output_format`` (one of ``FORMATS``), without a final newline."""
    value = token.value
    if output_format == "raw":
        return value
    if output_format == "env":
        return f"{PYX_AUTH_TOKEN}={value}"
    if output_format == "json":
        return json.dumps({"token": value, "expires_at": token.expires_at})
    if output_format == "netrc":
        return "\n".join(
            f"machine {host} login {NETRC_LOGIN} password {value}" for host in netrc_hosts(settings)
        )
    raise ValueError(f"unknown output format {output_format!r}")


def _escape_command_data(value: str) -> str:
    """Escape a workflow command's data as @actions/core ``escapeData`` does."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def mask_in_ci_log(secret: str, environ: Mapping[str, str], stream: TextIO) -> None:
    """Ask the GitHub Actions runner to mask ``secret`` in the job log; elsewhere do nothing.

    The command goes to stderr, so ``$(pyx-auth token)`` still captures only the token. The
    runner honours workflow commands on stderr as on stdout (actions/runner,
    ``src/Runner.Worker/Handlers/ScriptHandler.cs``: both ``StepHost.OutputDataReceived`` and
    ``ErrorDataReceived`` feed an ``OutputManager``, whose ``OnDataReceived`` runs
    ``ActionCommandManager.TryProcessCommand`` on every line). ``src/Runner.Sdk/ProcessInvoker.cs``
    (``ProcessOutput``) hands each batch of stderr lines to those handlers before the batch of
    stdout lines, and we flush the command before anything is written to stdout, so the mask is
    in place before an uncaptured token reaches the log.
    """
    if environ.get(GITHUB_ACTIONS) != "true":
        return
    stream.write(f"::add-mask::{_escape_command_data(secret)}\n")
    stream.flush()
