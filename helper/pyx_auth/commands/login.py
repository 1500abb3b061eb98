"""``pyx-auth login``: log in in a browser, as uv does, or keep an API key in the system keyring.

The browser flow is uv 0.12.6's (``pyx-and-uv.md`` §4c): open ``{api}/auth/cli/login/{id}``
for a random UUID, then poll ``{api}/auth/cli/status/{id}`` once a second (404 = pending)
until the tokens come or the time runs out. The pair goes to ``<store>/tokens.json``, so uv
uses this login too. The URL is always printed, because over SSH or in a container no browser
can open; a browser is started only where one can show up (``BROWSER`` set, a display, or
macOS/Windows). This is the only interactive command.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from pyx_auth import claims
from pyx_auth.commands import load_settings, say
from pyx_auth.errors import LoginTimeoutError, PyxAuthError, UsageError
from pyx_auth.settings import Settings
from pyx_auth.sources import Lookup, active
from pyx_auth.sources.base import is_single_word
from pyx_auth.store import TOKENS_LOCK, Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from pyx_auth.sources.base import Source

DEFAULT_TIMEOUT = 60.0
"""How long to wait for the browser login, as uv does."""
POLL_INTERVAL = 1.0
MAX_KEY_LENGTH = 4096

DESCRIPTION = """\
Log in to pyx and store the credential where pyx-auth (and uv 0.12.6) find it.

Without options: the browser login uv uses. The login URL is printed on stderr (open it on
any machine), and a browser is started when one can open here ($BROWSER, a display, or
macOS/Windows). The tokens go to <store>/tokens.json, shared with `uv auth login pyx.dev`.

With --api-key: read a pyx API key from stdin or a hidden prompt (never from the command
line), check it with one exchange, and store it in the system keyring under the service
"pyx-auth:<API URL>" (e.g. pyx-auth:https://api.pyx.dev/), user "api-key". pyx-auth then
uses it after PYX_AUTH_TOKEN and PYX_API_KEY; uv does not read the keyring.
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "login",
        help="log in in a browser, or store an API key in the system keyring",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--api-key",
        nargs="?",
        const=True,
        default=False,
        metavar="",  # takes no value: `--api-key=sk-...` is refused below, never echoed
        help="store an API key, read from stdin or a hidden prompt, in the system keyring",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"how long to wait for the browser login (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--no-browser", action="store_true", help="only print the login URL; start no browser"
    )
    # Catches `login --api-key sk-...` so that argparse does not echo the key in its error.
    parser.add_argument("stray", nargs="*", help=argparse.SUPPRESS)
    parser.set_defaults(run=run)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


def run(args: argparse.Namespace) -> int:
    if args.stray or args.api_key not in (True, False):
        raise UsageError(
            "login takes no arguments; an API key is read from stdin or a hidden prompt"
            " (pyx-auth login --api-key), never from the command line"
        )
    settings = load_settings(os.environ)
    if args.api_key:
        _api_key_login(settings)
    else:
        _browser_login(settings, timeout=args.timeout, open_browser=not args.no_browser)
    return 0


def _org(access_token: str, settings: Settings) -> str:
    org = (claims.decode_claims(access_token) or {}).get(claims.ORG_CLAIM)
    return org if isinstance(org, str) and org else settings.api_url


def _note_precedence(settings: Settings, stored: Source) -> None:
    """Say so when a source earlier in the order hides what was just stored."""
    try:
        lookup = Lookup(settings)
        credential = active(lookup)
        mine = stored.bind(lookup)
    except PyxAuthError:
        return
    if credential is not None and (mine is None or credential.describe() != mine.describe()):
        say(
            "note: pyx-auth does not use this login while an earlier source is configured"
            f" ({credential.describe()})"
        )


# -- the browser login ---------------------------------------------------------------------


def _can_open_browser(environ: Mapping[str, str]) -> bool:
    """Whether a browser can show up here: not over SSH or in a container without a display."""
    if environ.get("BROWSER"):
        return True
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))


def _open_browser(url: str) -> None:
    """Start the browser without waiting for it: a console browser or slow launcher must not
    hold up the polling, which is what finishes the login."""
    import threading
    import webbrowser

    threading.Thread(
        target=webbrowser.open, args=(url,), name="pyx-auth browser", daemon=True
    ).start()


def _browser_login(settings: Settings, *, timeout: float, open_browser: bool) -> None:
    import uuid

    from pyx_auth.api import PyxClient
    from pyx_auth.sources.oauth_store import SOURCE, write_tokens

    session = str(uuid.uuid4())
    url = settings.endpoint(f"auth/cli/login/{session}")
    say(f"Open this URL in your browser: {url}")
    if open_browser and _can_open_browser(os.environ):
        _open_browser(url)
    say(f"Waiting up to {timeout:g} s for the login to finish in the browser...")
    give_up = time.monotonic() + timeout
    with PyxClient(settings, give_up) as client:
        while True:
            # Each poll gets the usual network budget, but never beyond the login's own limit.
            client.deadline = min(time.monotonic() + settings.timeout, give_up)
            pair = client.login_status(session)
            if pair is not None:
                break
            if time.monotonic() + POLL_INTERVAL > give_up:
                raise LoginTimeoutError(
                    f"the login timed out after {timeout:g} s without being finished in the"
                    " browser; run `pyx-auth login` again (--timeout to wait longer)"
                )
            time.sleep(POLL_INTERVAL)
    access, refresh = pair
    store = Store.for_settings(settings)
    # Under uv's lock, so a refresh running right now cannot write its older pair over ours.
    with store.lock(TOKENS_LOCK, min(settings.lock_timeout, settings.timeout)):
        write_tokens(store, access, refresh)
    say(f"Logged in to {_org(access, settings)}")
    _note_precedence(settings, SOURCE)


# -- the API key in the keyring ------------------------------------------------------------


def _read_api_key() -> str:
    """The key from a hidden prompt on a terminal, else from stdin; never echoed."""
    if sys.stdin is None:
        raise UsageError("no stdin to read the API key from; pipe it in or run in a terminal")
    if sys.stdin.isatty():
        import getpass

        try:
            text = getpass.getpass("pyx API key (input hidden): ")
        except EOFError:
            text = ""
    else:
        text = sys.stdin.read(MAX_KEY_LENGTH + 1)
    key = text.strip()
    if not key:
        raise UsageError("no API key given; pipe it in or type it at the prompt")
    if len(key) > MAX_KEY_LENGTH or not is_single_word(key):
        raise UsageError("that is not an API key: it must be one word without spaces or newlines")
    return key


def _api_key_login(settings: Settings) -> None:
    from pyx_auth import keyring_store
    from pyx_auth.api import PyxClient
    from pyx_auth.sources.keyring_key import SOURCE, write_marker
    from pyx_auth.store import api_key_file

    key = _read_api_key()
    # Fail before the network when there is no keyring to keep the key in.
    keyring_store.backend_name(settings, settings.timeout)
    with PyxClient(settings, time.monotonic() + settings.timeout) as client:
        access = client.exchange_api_key(key, "the API key")
    backend = keyring_store.set_key(settings, key, settings.timeout)
    store = Store.for_settings(settings)
    store.write(api_key_file(key), access)
    write_marker(store, key)
    service = keyring_store.service_name(settings)
    say(f"Logged in to {_org(access, settings)} with an API key")
    say(
        f"Stored the API key in the system keyring ({backend}): service {service!r},"
        f" user {keyring_store.USERNAME!r}"
    )
    _note_precedence(settings, SOURCE)
