"""`python -m pyx_auth`."""

from pyx_auth.cli import entrypoint

entrypoint()
