"""Keyring backends for the tests, loaded by pyx-auth processes through keyring's own config.

There is no Secret Service in a headless test machine, so these stand in for one. They are
real ``keyring`` backends: keyring loads them by dotted name from ``keyringrc.cfg`` in the
test's HOME (``use_backend``), exactly as it loads any third-party backend, and that works
for the frozen binary too (``PYTHONPATH`` would not).

- ``FileKeyring``: keeps passwords in ``~/test-keyring.json`` (0600) so tests can look inside.
- ``HangingKeyring``: every call blocks for an hour, like a Secret Service that never starts.

Every call is logged to ``~/keyring-calls.log``, so a test can prove the keyring was not asked.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

STORE_NAME = "test-keyring.json"
LOG_NAME = "keyring-calls.log"


def _log(call: str) -> None:
    with (Path.home() / LOG_NAME).open("a") as log:
        log.write(call + "\n")


class FileKeyring(KeyringBackend):
    priority = 1

    def _load(self) -> dict[str, str]:
        path = Path.home() / STORE_NAME
        return json.loads(path.read_text()) if path.exists() else {}

    def _save(self, data: dict[str, str]) -> None:
        path = Path.home() / STORE_NAME
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle)

    def get_password(self, service: str, username: str) -> str | None:
        _log(f"get {service} {username}")
        return self._load().get(f"{service}\0{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        _log(f"set {service} {username}")
        data = self._load()
        data[f"{service}\0{username}"] = password
        self._save(data)

    def delete_password(self, service: str, username: str) -> None:
        _log(f"delete {service} {username}")
        data = self._load()
        if data.pop(f"{service}\0{username}", None) is None:
            raise PasswordDeleteError("not found")
        self._save(data)


class HangingKeyring(FileKeyring):
    priority = 0.5  # type: ignore[assignment]  # below FileKeyring's 1, so a chain asks it first

    def get_password(self, service: str, username: str) -> str | None:
        _log(f"get {service} {username} (hangs)")
        time.sleep(3600)
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        _log(f"set {service} {username} (hangs)")
        time.sleep(3600)

    def delete_password(self, service: str, username: str) -> None:
        _log(f"delete {service} {username} (hangs)")
        time.sleep(3600)


def use_backend(home: Path, name: str) -> None:
    """Make keyring in processes with this HOME load ``keyring_backends.<name>``."""
    config = home / ".config" / "python_keyring"
    config.mkdir(parents=True, exist_ok=True)
    (config / "keyringrc.cfg").write_text(
        "[backend]\n"
        f"default-keyring = keyring_backends.{name}\n"
        f"keyring-path = {Path(__file__).parent}\n"
    )


def stored(home: Path) -> dict[str, str]:
    """What FileKeyring holds, keyed ``service\\0username``."""
    path = home / STORE_NAME
    return json.loads(path.read_text()) if path.exists() else {}


def calls(home: Path) -> list[str]:
    path = home / LOG_NAME
    return path.read_text().splitlines() if path.exists() else []
