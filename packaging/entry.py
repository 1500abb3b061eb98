"""Entry script of the frozen pyx-auth (PyInstaller): the same entry point as the console script."""

from pyx_auth.cli import entrypoint

entrypoint()
