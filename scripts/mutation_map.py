"""cosmic-ray's test command for ``scripts/mutation.py``: run the tests that ran the mutant's line.

``python scripts/mutation_map.py PLAN`` finds the line the mutant changed and runs only the tests
that ran that line on the unmutated tree (``mutation_plugin.py`` mapped them), fastest first,
stopping at the first failure. A mutant on a line no test runs survives at once. It does not
import pytest itself: it runs once per mutant.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

TIMEOUT_FLOOR = 4.0
TIMEOUT_FACTOR = 3.0
"""A mutant's tests get ``TIMEOUT_FLOOR`` plus this many times their unmutated run time."""
TIMED_OUT = "mutation: the tests timed out"
"""Printed when they do: the mutant made them hang, which counts as noticed."""


def changed_line(original: list[str], mutated: list[str]) -> int:
    """The first line (1-based) where the mutant differs from the original."""
    for number, (before, after) in enumerate(zip(original, mutated, strict=False), start=1):
        if before != after:
            return number
    return min(len(original), len(mutated)) + 1


def main(map_path: str) -> int:
    """Run the tests that ran the mutated line; exit as pytest does (0: the mutant survived)."""
    plan = json.loads(Path(map_path).read_text())
    original = Path(plan["original"]).read_text().splitlines()
    mutated = Path(plan["mutated"]).read_text().splitlines()
    line = changed_line(original, mutated)
    statement = str(plan["statement_of"].get(str(line), line))
    if statement in plan["lines"]:
        tests = plan["lines"][statement]
    elif statement in plan["executable"]:
        return 0  # no test runs this line: nothing can notice the mutant
    else:
        tests = plan["all"]
    expected = sum(plan["seconds"].get(test, 0.0) for test in tests)
    budget = min(plan["longest"], TIMEOUT_FLOOR + TIMEOUT_FACTOR * expected)
    with subprocess.Popen([sys.executable, *plan["pytest"], *tests], start_new_session=True) as run:
        try:
            return run.wait(timeout=budget)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)  # the tests' own subprocesses too
            print(f"{TIMED_OUT} after {budget:.0f} s")
            return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
