"""``pyx-auth emulator``: serve in the foreground until SIGINT or SIGTERM."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import Any

from pyx_auth.emulator.core import PyxEmulator


class _Interrupted(BaseException):
    """Raised from `run_cli`'s SIGINT/SIGTERM handler to unwind out of the accept loop.

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` on the way (the
    signal can land anywhere in the main thread) swallows it.
    """


def run_cli(
    port: int, *, host: str = "127.0.0.1", api_key: str = "sk-pyx-demo", token_lifetime: int = 3600
) -> int:
    """Serve in the foreground for ``pyx-auth emulator``; print the settings scripts need.

    Prints ``PYX_API_URL=...`` and ``PYX_API_KEY=...`` (one per line) once the port is bound, serves
    until SIGINT or SIGTERM, then returns 0. A port in use raises OSError for the caller to report.
    """
    emulator = PyxEmulator(host=host, port=port, token_lifetime=token_lifetime, api_keys=(api_key,))
    emulator._bind()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        raise _Interrupted

    # Both signals explicitly: a shell starting us with `&` sets SIGINT to "ignore", and
    # `kill -INT` must still stop the emulator. Restored afterwards for in-process callers.
    previous: dict[int, Any] = {}
    try:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                previous[signum] = signal.signal(signum, on_signal)
        try:
            sys.stdout.write(f"PYX_API_URL={emulator.url}\nPYX_API_KEY={api_key}\n")
            sys.stdout.flush()
        except OSError:
            pass  # nobody reads stdout; keep serving
        emulator.serve_forever()
    except (KeyboardInterrupt, _Interrupted):
        pass
    finally:
        emulator.stop()
        for restored, handler in previous.items():
            if handler is not None:
                signal.signal(restored, handler)
    return 0
