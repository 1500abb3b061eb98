"""The pyx emulator as a package; see `core` (split by concern in the next commit)."""

from pyx_auth.emulator.core import ENDPOINTS, TRUSTED_ACCESS_AUDIENCE, PyxEmulator, run_cli

__all__ = ["ENDPOINTS", "TRUSTED_ACCESS_AUDIENCE", "PyxEmulator", "run_cli"]
