"""The file ``bazel/pyx-credential-helper`` runs: ``<venv python> -I -S .../bazel_entry.py get``.

Bazel starts its helper once per URL, and Python's ``site`` (``.pth`` files, site-packages)
is about 1-2 ms of a ~10 ms cache hit that needs only the standard library. So the stub
starts the console script's own interpreter isolated (``-I``: neither this file's folder
nor the cwd goes on the path) and without ``site`` (``-S``) on this file, which puts the
folder holding this very ``pyx_auth`` on the path and runs the CLI. ``cli`` enables ``site``
before anything leaves the cache-hit path.
"""

import os
import sys

if __name__ == "__main__":
    sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from pyx_auth.cli import entrypoint

    entrypoint()
