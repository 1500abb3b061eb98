"""Entry script of the frozen pyx-auth (PyInstaller): the console script's ``entrypoint()``.

A frozen program has no interpreter to ask what it contains, and PyInstaller's bootloader
ignores ``PYTHON*`` variables such as ``PYTHONVERBOSE``. So, for ``tests/test_frozen.py``,
setting ``PYX_AUTH_FROZEN_REPORT=<file>`` makes a run write a JSON report to that file after
the command has finished: the modules the command imported, what keyring finds through its
entry points, and the CA bundle httpx loads (the run then ends with ``sys.exit``, never with
``entrypoint()``'s early ``os._exit``). The variable is not part of the user interface,
and the report holds no credential. ``python packaging/entry.py ...`` writes the same report
from a normal install, for comparison.
"""

from __future__ import annotations

import os
import sys

from pyx_auth.cli import entrypoint, main

REPORT_VARIABLE = "PYX_AUTH_FROZEN_REPORT"


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _class_name(obj: object) -> str:
    return f"{type(obj).__module__}.{type(obj).__name__}"


def _keyring_report() -> dict[str, object]:
    """keyring's entry points, the viable backends, SecretService's verdict, the default."""
    from importlib.metadata import entry_points

    import keyring
    import keyring.backend
    from keyring.backends import SecretService

    loaded: dict[str, str] = {}
    for point in entry_points(group="keyring.backends"):
        try:
            point.load()
            loaded[point.name] = "ok"
        except Exception as exc:  # a report says what failed rather than failing
            loaded[point.name] = _error(exc)
    try:
        secret_service: object = SecretService.Keyring.priority
    except Exception as exc:  # the reason it is not viable: no D-Bus, or a missing module
        secret_service = _error(exc)
    return {
        "entry_points": loaded,
        "viable": sorted(_class_name(backend) for backend in keyring.backend.get_all_keyring()),
        "secret_service": secret_service,
        "default": _class_name(keyring.get_keyring()),
    }


def _tls_report() -> dict[str, object]:
    """certifi's CA file, and how many CA certificates httpx loads when no SSL_CERT_* is set."""
    import certifi
    import httpx

    path = certifi.where()
    return {
        "ca_file": path,
        "ca_file_exists": os.path.isfile(path),
        "ca_certs": len(httpx.create_ssl_context(trust_env=False).get_ca_certs()),
    }


def write_report(path: str) -> None:
    """Write the report; ``modules`` is taken first, so it is what the command imported."""
    report: dict[str, object] = {"modules": sorted(sys.modules)}
    import json

    report["frozen"] = bool(getattr(sys, "frozen", False))
    report["bundle_dir"] = getattr(sys, "_MEIPASS", None)
    for name, probe in (("keyring", _keyring_report), ("tls", _tls_report)):
        try:
            report[name] = probe()
        except Exception as exc:
            report[name] = _error(exc)
    with open(path, "w", encoding="utf-8") as file:
        json.dump(report, file, indent=1)


if __name__ == "__main__":
    report_path = os.environ.get(REPORT_VARIABLE)
    if report_path:  # not entrypoint(): after `get` it leaves with os._exit, skipping the report
        try:
            exit_code = main()  # or SystemExit, from argparse (--version, --help, usage errors)
        finally:
            write_report(report_path)
        sys.exit(exit_code)
    entrypoint()
