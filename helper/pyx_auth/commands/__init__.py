"""The subcommands. Each module has ``register(subparsers)``, which sets ``run`` on its parser."""

from __future__ import annotations

import sys

from pyx_auth.settings import Settings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping


def load_settings(environ: Mapping[str, str]) -> Settings:
    """The settings a command runs with; deprecation warnings go to stderr first."""
    settings = Settings(environ)
    for warning in settings.warnings:
        sys.stderr.write(f"pyx-auth: warning: {warning}\n")
    return settings
