"""Which tests run which line, for ``scripts/mutation.py``: a pytest plugin and a test runner.

Run once on the unmutated tree (``pytest -p mutation_map`` under ``coverage run``), the plugin
names the coverage context after each test and claims the data files of the ``pyx-auth``
subprocesses that test started. ``python scripts/mutation_map.py MAP`` is then cosmic-ray's test
command: it finds the line the mutant changed and runs only the tests that ran that line,
fastest first, stopping at the first failure. A mutant on a line no test runs survives at once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

TIMEOUT_FLOOR = 6.0
TIMEOUT_FACTOR = 3.0
"""A mutant's tests get ``TIMEOUT_FLOOR`` plus this many times their unmutated run time."""
TIMED_OUT = "mutation: the tests timed out"
"""Printed when they do: the mutant made them hang, which counts as noticed."""

MAP_DIR = "MUTATION_MAP_DIR"
"""Where the plugin finds the coverage data files and writes ``tests-<pid>.json``."""


def _data_files(folder: Path) -> set[str]:
    return {name for name in os.listdir(folder) if name.startswith(".coverage")}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """Run one test in its own coverage context; record its subprocesses' data and its time."""
    import coverage

    folder = Path(os.environ[MAP_DIR])
    current = coverage.Coverage.current()
    if current is not None:
        current.switch_context(item.nodeid)
    before = _data_files(folder)
    started = time.monotonic()
    try:
        return (yield)
    finally:
        record = item.config.stash.setdefault(_RECORD, {})
        record[item.nodeid] = {
            "seconds": time.monotonic() - started,
            "files": sorted(_data_files(folder) - before),
        }


_RECORD = pytest.StashKey[dict[str, dict[str, object]]]()
_FAILED: set[str] = set()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Note a failure: some tests fail only under coverage (it imports ``tomllib``)."""
    if report.failed:
        _FAILED.add(report.nodeid)


def pytest_sessionfinish(session: pytest.Session) -> None:
    folder = Path(os.environ[MAP_DIR])
    record = session.config.stash.get(_RECORD, {})
    summary = {"pid": os.getpid(), "tests": record, "failed": sorted(_FAILED)}
    (folder / f"tests-{os.getpid()}.json").write_text(json.dumps(summary))


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
