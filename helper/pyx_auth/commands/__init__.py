"""The subcommands. Each module has ``register(subparsers)``, which sets ``run`` on its parser;
this module holds what several of them share."""

from __future__ import annotations

import sys

from pyx_auth.settings import WORKSPACE_RULE, Settings, is_workspace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping


def load_settings(environ: Mapping[str, str]) -> Settings:
    """The settings a command runs with; deprecation warnings go to stderr first."""
    settings = Settings(environ)
    for warning in settings.warnings:
        sys.stderr.write(f"pyx-auth: warning: {warning}\n")
    return settings


def say(message: str) -> None:
    """A progress line for a person (stderr, so stdout stays the answer)."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def workspace_argument(text: str) -> str:
    """A pyx workspace name; argparse ``type=``."""
    import argparse

    if not is_workspace(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a pyx workspace name ({WORKSPACE_RULE})")
    return text
