"""Cold and warm `pyx-auth token` next to `uv auth token` (uv 0.12.6), on one emulator.

    .venv/bin/python bench/bench_token.py [--rounds 30] [--pyx-auth PATH] [--uv PATH]

Rounds are interleaved so that machine noise hits every contender alike; medians and ratios
are printed. "cold" deletes the cached token first (an API-key exchange over HTTP); "warm"
finds it cached. uv's `auth token` mints on every call, so it has only one row.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_get import find_executable, print_medians

from pyx_auth.emulator import PyxEmulator
from pyx_auth.settings import Settings
from pyx_auth.store import api_key_file, store_directory

API_KEY = "sk-pyx-bench"


def _time(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(argv, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"bench_token: {argv[0]} failed: {result.stderr.decode().strip()}")
    return elapsed * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--pyx-auth", default=None, help="pyx-auth executable")
    parser.add_argument("--uv", default=None, help="uv 0.12.6 executable")
    args = parser.parse_args()
    pyx_auth = args.pyx_auth or find_executable("pyx-auth")
    uv = args.uv or find_executable("uv")

    with PyxEmulator(api_keys=(API_KEY,)) as emulator, tempfile.TemporaryDirectory() as tmp:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": tmp,
            "PYX_API_URL": emulator.url,
            "PYX_API_KEY": API_KEY,
            "PYX_CREDENTIALS_DIR": str(Path(tmp) / "credentials"),
        }
        cached = Path(store_directory(Settings(env))) / api_key_file(API_KEY)
        contenders = {
            "pyx-auth token (cold)": [pyx_auth, "token"],
            "pyx-auth token (warm)": [pyx_auth, "token"],
            "uv auth token (mints)": [uv, "auth", "token", "pyx.dev"],
        }
        samples: dict[str, list[float]] = {name: [] for name in contenders}
        _time(contenders["uv auth token (mints)"], env)  # warm the OS caches once
        for round_number in range(args.rounds):
            for name, argv in contenders.items():
                if name.endswith("(cold)"):
                    cached.unlink(missing_ok=True)
                samples[name].append(_time(argv, env))
            print(f"\rround {round_number + 1}/{args.rounds}", end="", file=sys.stderr)
        print(file=sys.stderr)
        counts = emulator.counts()

    print_medians(samples, reference="uv auth token (mints)")
    print(f"exchanges served by the emulator: {counts['access-token']} "
          f"({args.rounds} cold pyx-auth + {args.rounds + 1} uv)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
