"""What pyx-auth's keyring backend costs a program that uses keyring for something else.

    python bench/bench_keyring.py [--runs 21]

keyring imports every backend when a program first calls it, so every pip, twine or Poetry
run that asks keyring anything pays for importing ``pyx_auth.keyring_backend``; a lookup for
a service that is not pyx's then pays for deciding that. Each run is a fresh interpreter
(this one, so the installed pyx-auth) that times, with ``perf_counter``: keyring's start-up
(``import keyring; keyring.get_keyring()``, for scale), the backend's import as keyring does
it (after ``keyring.backend``), and one unrelated lookup through the backend. Prints median
and p90 per row, and the backend's share of keyring's start-up.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

PROBE = """\
import time
t0 = time.perf_counter()
import keyring.backend
t1 = time.perf_counter()
import pyx_auth.keyring_backend as backend
t2 = time.perf_counter()
backend.PyxKeyring().get_credential("https://pypi.org/simple/", None)
t3 = time.perf_counter()
keyring.get_keyring()
t4 = time.perf_counter()
print((t4 - t3) + (t1 - t0) + (t2 - t1), t2 - t1, t3 - t2)
"""
ROWS = ("keyring start-up (all backends)", "pyx-auth backend import", "unrelated lookup")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=21)
    runs = parser.parse_args().runs
    samples: list[list[float]] = [[], [], []]
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
        ).stdout
        for row, value in zip(samples, out.split(), strict=True):
            row.append(float(value) * 1000)
    print(f"{'what':<34} {'median ms':>10} {'p90 ms':>8}")
    for name, values in zip(ROWS, samples, strict=True):
        p90 = statistics.quantiles(values, n=10)[-1]
        print(f"{name:<34} {statistics.median(values):>10.2f} {p90:>8.2f}")
    share = statistics.median(samples[1]) / statistics.median(samples[0])
    print(f"backend import / keyring start-up: {share:.1%} ({runs} runs)")


if __name__ == "__main__":
    main()
