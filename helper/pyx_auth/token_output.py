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
import os
import stat

from pyx_auth.errors import ConfigError, UsageError
from pyx_auth.settings import (
    CDN_HOST_PREFIXES,
    PYX_API_URL,
    PYX_AUTH_TOKEN,
    PYX_CDN_DOMAIN,
)
from pyx_auth.store import atomic_write

TYPE_CHECKING = False
if TYPE_CHECKING:
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


def mask_in_ci_log(secret: str, settings: Settings, stream: TextIO) -> None:
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
    if not settings.github_actions:
        return
    stream.write(f"::add-mask::{_escape_command_data(secret)}\n")
    stream.flush()


def write_output(path: str, data: bytes) -> None:
    """Write ``--output``: never replace what is not a regular file, nor follow a planted link.

    A regular file (or a new one) is replaced atomically, 0600. A device or FIFO
    (``/dev/stdout``, ``/dev/null``, a pipe) is written to directly: replacing it would put a
    token file where the device was. A symbolic link stays a link: its target is written by
    these rules, unless the link is one the kernel would not follow either (see
    ``_followable``). Only a temporary file next to the written file is created, and removed.
    """
    try:
        info: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        info = None  # missing, or a dangling link: its target is created
    except OSError as exc:
        raise UsageError(f"cannot write the token to {path}: {exc.strerror}") from None
    if os.path.islink(path) and not _followable(path):
        raise UsageError(
            f"--output {path} is a symbolic link owned by another user in a shared folder;"
            " pyx-auth does not follow it"
        )
    if info is None or stat.S_ISREG(info.st_mode):
        atomic_write(os.path.realpath(path), data)
    elif stat.S_ISDIR(info.st_mode):
        raise UsageError(f"--output {path} is a folder; name a file in it")
    else:
        _write_in_place(path, data)


def _followable(link: str) -> bool:
    """Whether the kernel's ``fs.protected_symlinks`` rule lets us follow ``link``.

    In a sticky, world-writable folder (``/tmp``) a link is followed only if it is ours or
    the folder owner's: otherwise anyone could point ``/tmp/token`` at a file we can write.
    """
    folder = os.stat(os.path.dirname(os.path.abspath(link)))
    shared = folder.st_mode & stat.S_ISVTX and folder.st_mode & stat.S_IWOTH
    owner = os.lstat(link).st_uid
    return not shared or owner in (os.geteuid(), folder.st_uid)


def _write_in_place(path: str, data: bytes) -> None:
    """Write to a device or FIFO as ``>`` does: no create, no truncate, no rename."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOCTTY)  # not inherited either (PEP 446)
    except OSError as exc:
        raise UsageError(f"cannot write the token to {path}: {exc.strerror}") from None
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):  # replaced by a file meanwhile: not ours to edit
            raise UsageError(f"--output {path} changed while pyx-auth wrote it; try again")
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError as exc:
        raise UsageError(f"cannot write the token to {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
