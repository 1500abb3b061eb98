"""``pyx-auth logout``: end the login on the server and remove this API's credentials here.

As uv 0.12.6 does (``pyx-and-uv.md`` §4d): ``GET {api}/auth/cli/logout`` with the stored
access token, which revokes the login's refresh tokens (a 401 is tolerated: the token is no
longer valid anyway), then delete the whole store folder ``<root>/<digest(api_url)>/`` and
nothing outside it. pyx-auth also removes the API key that ``login --api-key`` put in the
system keyring; the keyring is asked only when the store's marker says a key is there, so a
broken keyring never slows down an ordinary logout. Every removal is reported.
"""

from __future__ import annotations

import argparse
import os
import time

from pyx_auth.commands import load_settings, say
from pyx_auth.errors import KeyringError, PyxAuthError, StoreError
from pyx_auth.settings import Settings
from pyx_auth.store import Store


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "logout",
        help="revoke the login and remove the stored credentials for this API",
        description="Revoke the browser login on the server, then remove this API's token"
        " store folder (shared with uv, as `uv auth logout pyx.dev` does) and the API key"
        " stored with `pyx-auth login --api-key`. Says what it removed; with nothing to"
        " remove, says so and exits 0.",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pyx_auth import keyring_store, snapshot
    from pyx_auth.sources.keyring_key import MARKER_FILE

    settings = load_settings(os.environ)
    store = Store.for_settings(settings)
    _revoke(settings, store)
    keyring_problem: KeyringError | None = None
    removed_key = False
    if store.read(MARKER_FILE) is not None:
        try:
            removed_key = keyring_store.delete_key(settings, settings.timeout)
        except KeyringError as exc:
            keyring_problem = exc
        service = keyring_store.service_name(settings)
        if removed_key:
            say(f"Removed the API key from the system keyring (service {service!r})")
        elif keyring_problem is None:
            say(f"The system keyring held no API key for service {service!r}")
    removed_store = _remove_store(store)
    snapshot.forget(settings.environ)  # the Bazel stub's copy of an answer, if any
    if keyring_problem is not None:
        raise KeyringError(
            f"{keyring_problem} (the API key may still be in keyring service"
            f" {keyring_store.service_name(settings)!r}, user {keyring_store.USERNAME!r})"
        )
    if not (removed_key or removed_store):
        say(
            f"Nothing to remove: not logged in to {settings.api_url}"
            f" ({store.directory} does not exist)"
        )
    return 0


def _revoke(settings: Settings, store: Store) -> None:
    """Ask pyx to revoke the browser login's refresh tokens; a failure only warns."""
    from pyx_auth.api import PyxClient
    from pyx_auth.sources.oauth_store import read_tokens

    pair = read_tokens(store)
    if pair is None:
        return
    try:
        with PyxClient(settings, time.monotonic() + settings.timeout) as client:
            revoked = client.logout(pair[0])
    except PyxAuthError as exc:
        say(
            f"warning: could not revoke the login on the server ({exc}); its refresh token"
            " is deleted here anyway"
        )
        return
    if revoked:
        say(f"Revoked the login's refresh tokens at {settings.api}")
    else:
        say("pyx no longer accepted the stored login (HTTP 401); nothing to revoke there")


def _remove_store(store: Store) -> bool:
    """Delete the store folder itself (a symlink: only the link); False if there is none."""
    import shutil

    directory = store.directory
    try:
        if os.path.islink(directory):
            os.unlink(directory)
            say(f"Removed the link {directory} (its target was left alone)")
            return True
        if not os.path.isdir(directory):
            return False
        names = sorted(os.listdir(directory))
        shutil.rmtree(directory)
    except OSError as exc:
        raise StoreError(f"cannot remove {directory}: {exc.strerror or exc}") from exc
    listing = ", ".join(names) if names else "empty"
    say(f"Removed the token store {directory} ({listing})")
    return True
