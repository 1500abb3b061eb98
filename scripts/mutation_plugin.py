"""The pytest plugin of ``scripts/mutation.py``'s map: which tests run which line.

Run once on the unmutated tree (``pytest -p mutation_plugin`` under ``coverage run``), it names
the coverage context after each test and claims the data files of the ``pyx-auth`` subprocesses
that test started; ``tests-<pid>.json`` records them with each test's time and the failures.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

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
