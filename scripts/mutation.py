"""Mutation testing of the security and storage core with cosmic-ray (``scripts/mutation.sh``).

Each module is mutated in its own copy of the tree, never in the working tree, so an
interrupted run leaves no mutant behind and two modules can run side by side. Each copy has a
virtual environment of its own (``tree_python``) whose Python imports the copy's ``pyx_auth``
first, so the ``pyx-auth`` subprocesses the tests start run the mutant too, even those started
with an environment built from scratch. Each mutant runs against the tests that ran its line.
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from mutation_map import TIMED_OUT

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "helper/pyx_auth"
ALLOW_LIST = ROOT / "scripts" / "mutation-allow.txt"
PYTEST = "-m pytest -x -q -p no:cacheprovider -o addopts= --timeout=60"

# module (relative to helper/pyx_auth) -> the test files that state its guarantees; the
# slowest first, so that two jobs end together
MODULES: dict[str, tuple[str, ...]] = {
    "api.py": (
        "tests/test_api.py",
        "tests/commands/test_login.py",
        "tests/commands/test_logout.py",
        "tests/sources/test_refresh_template.py",
    ),
    # the snapshot writer: the stub's table and in-process cases, which check that a hit is
    # served by the stub alone (a broken snapshot only makes it defer), not the property test
    # or the 64-way race (minutes per run)
    "snapshot.py": (
        "tests/test_snapshot.py",
        "tests/test_stub_fast_path.py",
        "-k",
        "test_snapshot.py or no_snapshot or failed_snapshot_write or logout_removes"
        " or same_variables or every_store_change or a_hit_itself or off_switch"
        " or starts_no_process",
    ),
    "hosts.py": ("tests/test_hosts.py",),
    "store.py": ("tests/test_store.py",),
    "locking.py": ("tests/test_store.py", "tests/test_uv_credentials.py"),
    "sources/trusted_access.py": ("tests/sources",),
    "sources/base.py": ("tests/sources",),
    "protocol.py": ("tests/test_protocol.py",),
    "token_output.py": ("tests/commands/test_token_command.py",),
    "sources/oauth_store.py": ("tests/sources",),
    "credential_helper.py": ("tests/test_credential_helper.py",),
    "http_boundary.py": ("tests/test_http_boundary.py", "tests/test_api.py"),
    "sources/__init__.py": ("tests/sources", "tests/test_debug_trace.py"),
    "sources/keyring_key.py": ("tests/sources",),
    "sources/env_token.py": ("tests/sources",),
    # the keyring backend: its host decision only (see DEFINITIONS)
    "keyring_backend.py": (
        "tests/test_keyring_backend.py",
        "-k",
        "backend_answers or other_services or storing_a_pyx or prints_the_token_only"
        " or broken_environment",
    ),
    "sources/api_key.py": ("tests/sources", "tests/test_api.py"),
}

# modules mutated only in these functions: the rest is covered elsewhere or is I/O glue
DEFINITIONS: dict[str, frozenset[str]] = {
    "keyring_backend.py": frozenset({"service_url", "pyx_request", "_is_pyx_service"}),
}

# One mutant per site and kind, not every operator pair: the boundary (< to <=), the
# negation (== to !=, is to is not, AddNot), the arithmetic swap (+ to -). The other pairs
# mostly repeat what these catch and would take the run far past its 30 minutes.
KEPT_PAIRS = {
    "ReplaceComparisonOperator": {
        ("Eq", "NotEq"),
        ("NotEq", "Eq"),
        ("Lt", "LtE"),
        ("LtE", "Lt"),
        ("Gt", "GtE"),
        ("GtE", "Gt"),
        ("Is", "IsNot"),
        ("IsNot", "Is"),
        ("In", "NotIn"),
        ("NotIn", "In"),
    },
    "ReplaceBinaryOperator": {
        ("Add", "Sub"),
        ("Sub", "Add"),
        ("Mul", "Div"),
        ("Div", "Mul"),
        ("FloorDiv", "Mul"),
        ("Mod", "FloorDiv"),
        ("BitOr", "BitAnd"),
        ("BitAnd", "BitOr"),
        ("LShift", "RShift"),
    },
    "ReplaceUnaryOperator": {("Delete", "Not"), ("Delete", "USub"), ("USub", "UAdd")},
}


TYPING_ONLY = frozenset({"TYPE_CHECKING = False", "if TYPE_CHECKING:"})
"""Imports for the type checker only: running them changes no behaviour, only the start-up
cost, which tests/test_imports.py pins for the fast path (not among a module's own tests)."""


@dataclass
class Score:
    """One module's outcome."""

    module: str
    killed: int = 0
    survived: list[str] = field(default_factory=list)
    allowed: int = 0
    timeout: int = 0
    skipped: int = 0
    seconds: float = 0.0
    error: str = ""

    @property
    def percent(self) -> float:
        total = self.killed + len(self.survived) + self.timeout
        return 100.0 * (self.killed + self.timeout) / total if total else 100.0


MUTANT_MARK = " => "
"""In an allow-list entry's code: ``code => mutated code`` names one mutant of the line."""


def load_allow_list() -> set[tuple[str, str, str]]:
    """(path, operator, code) triples reviewed as equivalent mutants; the code is either the
    line (every mutant of that operator there) or ``line => mutated line`` (that one only)."""
    entries: set[tuple[str, str, str]] = set()
    for raw in ALLOW_LIST.read_text().splitlines() if ALLOW_LIST.exists() else []:
        if not raw.strip() or raw.startswith("#"):
            continue
        parts = raw.split(" | ")
        if len(parts) < 4 or not parts[-1].strip():
            sys.exit(f"mutation: allow-list line without path | operator | code | reason: {raw}")
        entries.add((parts[0].strip(), parts[1].strip(), spaced(" | ".join(parts[2:-1]))))
    return entries


def spaced(code: str) -> str:
    """``code`` with its white space runs as one space: cosmic-ray respaces what it mutates."""
    return " ".join(code.split())


def mutated_line(diff: str | None) -> str:
    """The line a mutant's diff adds (cosmic-ray changes one line)."""
    added = [
        line[1:]
        for line in (diff or "").splitlines()
        if line.startswith("+") and not line.startswith("+++")
    ]
    return added[0] if added else ""


def annotation_lines(source: str) -> set[tuple[int, int, int, int]]:
    """Spans of type annotations: a mutant there (``str | None`` to ``str & None``) changes
    nothing at run time under ``from __future__ import annotations``."""
    spans: set[tuple[int, int, int, int]] = set()
    for node in ast.walk(ast.parse(source)):
        notes: list[ast.expr | None] = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            notes.append(node.returns)
        elif isinstance(node, ast.arg | ast.AnnAssign):
            notes.append(node.annotation)
        for note in notes:
            if note is not None and note.end_lineno is not None and note.end_col_offset:
                spans.add((note.lineno, note.col_offset, note.end_lineno, note.end_col_offset))
    return spans


def operator_spans(source: str) -> set[tuple[int, int, int, int]]:
    """Spans of binary operations: cosmic-ray also "mutates" the ``*`` of a signature's
    keyword-only marker, which is no operator (``/`` there changes no call site)."""
    return {
        (node.lineno, node.col_offset, node.end_lineno, node.end_col_offset)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.BinOp | ast.AugAssign)
        and node.end_lineno is not None
        and node.end_col_offset is not None
    }


def inside(pos: tuple[int, int], spans: set[tuple[int, int, int, int]]) -> bool:
    return any((a, b) <= pos <= (c, d) for a, b, c, d in spans)


def kept(operator: str) -> bool:
    """Whether the operator is in the reduced set (see KEPT_PAIRS)."""
    name = operator.removeprefix("core/")
    family, _, pair = name.partition("_")
    if family not in KEPT_PAIRS:
        return True
    first, _, second = pair.partition("_")
    return (first, second) in KEPT_PAIRS[family]


def copy_tree(target: Path) -> None:
    """The tracked and new files of the working tree, without .venv or caches."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for name in listed:
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def select_mutants(session: Path, module: str, score: Score) -> None:
    """Mark as skipped what is not run: mutants outside the reduced set, in annotations, on
    a signature's ``*``, outside the module's chosen functions, and the allow-listed ones."""
    from cosmic_ray.work_db import WorkDB, use_db  # type: ignore[import-untyped,unused-ignore]
    from cosmic_ray.work_item import WorkerOutcome, WorkResult  # type: ignore[import-untyped,unused-ignore]

    path = f"{PACKAGE}/{module}"
    source = (session.parent / path).read_text()
    source_lines = source.splitlines()
    spans, operations = annotation_lines(source), operator_spans(source)
    allowed = load_allow_list()
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item in list(db.pending_work_items):
            mutation = item.mutations[0]
            line = source_lines[mutation.start_pos[0] - 1].strip()
            no_operator = "BinaryOperator" in mutation.operator_name and not inside(
                mutation.start_pos, operations
            )
            elsewhere = (
                module in DEFINITIONS and mutation.definition_name not in DEFINITIONS[module]
            )
            if (path, mutation.operator_name, spaced(line)) in allowed:
                score.allowed += 1
                reason = "allow-listed"
            elif (
                line in TYPING_ONLY
                or not kept(mutation.operator_name)
                or inside(mutation.start_pos, spans)
                or no_operator
                or elsewhere
            ):
                score.skipped += 1
                reason = (
                    "typing only, not in the reduced set, an annotation, no operator, elsewhere"
                )
            else:
                continue
            db.set_result(
                item.job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED, output=reason)
            )


def statement_lines(source: str) -> dict[int, int]:
    """Each line of a module mapped to the line coverage reports for it: the first line of
    the innermost statement around it, or of an ``except`` clause's body (its type matters
    only when that body runs)."""
    lines: dict[int, tuple[int, int]] = {}  # line -> (span of the innermost node, its line)
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ExceptHandler):
            target = node.body[0].lineno
        elif isinstance(node, ast.stmt):
            target = node.lineno
        else:
            continue
        end = node.end_lineno or node.lineno
        for line in range(node.lineno, end + 1):
            if line not in lines or end - node.lineno < lines[line][0]:
                lines[line] = (end - node.lineno, target)
    return {line: target for line, (_, target) in lines.items()}


def _selections(modules: list[str]) -> dict[tuple[str, ...], list[str]]:
    """The pytest runs that map the chosen modules: one for every plain file list, one for
    each ``-k`` selection (a selection cannot be joined to another run)."""
    runs: dict[tuple[str, ...], list[str]] = {}
    plain = sorted(
        {part for name in modules if "-k" not in MODULES[name] for part in MODULES[name]}
    )
    if plain:
        runs[tuple(plain)] = [name for name in modules if "-k" not in MODULES[name]]
    for name in modules:
        if "-k" in MODULES[name]:
            runs.setdefault(MODULES[name], []).append(name)
    return runs


def _owned(nodeid: str, module: str) -> bool:
    """Whether a test belongs to the test files chosen for ``module``."""
    parts = MODULES[module]
    files = parts[: parts.index("-k")] if "-k" in parts else parts
    return any(nodeid == part or nodeid.startswith((part + "::", part + "/")) for part in files)


def tree_python(tree: Path, coverage_rc: Path | None = None) -> Path:
    """A venv in ``tree`` whose every Python process imports the tree's ``pyx_auth`` first.

    ``PYTHONPATH`` would not do: many tests start ``pyx-auth`` with an environment of their
    own, and it would run the working tree's code instead of the mutant. The venv's ``.pth``
    puts ``tree/helper`` on ``sys.path`` before this venv's packages (and its editable
    install); with ``coverage_rc``, it also starts coverage in every process, for the map.
    Its ``bin`` has this venv's tools, which the tests find beside ``sys.executable``: the
    console scripts (``pyx-auth``, ``keyring``) copied to run on the tree's Python, the rest
    (uv) linked.
    """
    venv = tree / ".venv"
    if not venv.exists():
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    prefix = {"base": str(venv), "platbase": str(venv)}
    packages = Path(sysconfig.get_path("purelib", vars=prefix))
    lines = [str(tree / "helper")]
    if coverage_rc is not None:
        start = f"os.environ.setdefault('COVERAGE_PROCESS_START', {str(coverage_rc)!r})"
        lines.append(f"import os; {start}")
    lines.append(f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})")
    (packages / "0-pyx-auth-mutation.pth").write_text("\n".join([*lines, ""]))
    own = Path(os.path.abspath(sys.executable)).parent
    for tool in own.iterdir():
        copy = venv / "bin" / tool.name
        if copy.exists() or copy.is_symlink():
            continue
        with tool.open("rb") as file:
            first = file.readline()
        if first.startswith(f"#!{own}/python".encode()):  # a console script: keyring, pyx-auth
            copy.write_bytes(f"#!{python}\n".encode() + tool.read_bytes()[len(first) :])
            copy.chmod(0o755)
        else:
            copy.symlink_to(tool)
    return python


def tree_environment(python: Path) -> dict[str, str]:
    """The environment the tests of a tree run in: its venv's tools first on ``PATH``."""
    return {**os.environ, "PATH": os.pathsep.join([str(python.parent), os.environ["PATH"]])}


def build_maps(tree: Path, modules: list[str]) -> dict[str, dict[str, object]]:
    """Run the modules' tests once on the unmutated tree under coverage; per module, the
    tests that ran each line, fastest first. Raises ``RuntimeError`` if a test fails."""
    from coverage import Coverage, CoverageData  # type: ignore[import-untyped,unused-ignore]

    maps: dict[str, dict[str, object]] = {}
    for number, (selection, owners) in enumerate(_selections(modules).items()):
        folder = tree / f".mutation-map-{number}"
        folder.mkdir()
        rcfile = folder / "coveragerc"
        rcfile.write_text(
            "[run]\nparallel = true\npatch =\n    subprocess\n    _exit\n    fork\n"
            f"source = {tree / PACKAGE}\ndata_file = {folder / '.coverage'}\n"
        )
        python = tree_python(tree, coverage_rc=rcfile)
        environ = {
            **{k: v for k, v in tree_environment(python).items() if k != "PYTHONDONTWRITEBYTECODE"},
            "PYTHONPATH": str(ROOT / "scripts"),  # the plugin
            "MUTATION_MAP_DIR": str(folder),
        }  # byte code written here, unmutated, saves every mutant's run the compiling
        unstopped = [part for part in PYTEST.split() if part != "-x"]
        subprocess.run(
            [python, *unstopped, "-p", "mutation_plugin", *selection],
            cwd=tree,
            env=environ,
            capture_output=True,
            check=False,
        )
        record = json.loads(next(folder.glob("tests-*.json")).read_text())
        if record["failed"]:  # failing under coverage is no failure; failing without it is
            tree_python(tree)  # coverage off
            run = subprocess.run(
                [python, *PYTEST.split(), *record["failed"]],
                cwd=tree,
                env=environ,
                capture_output=True,
                text=True,
                check=False,
            )
            if run.returncode != 0:
                raise RuntimeError("tests fail without a mutant:\n" + run.stdout[-2000:])
        claimed = {name: test for test, info in record["tests"].items() for name in info["files"]}
        seconds = {test: info["seconds"] for test, info in record["tests"].items()}
        for name in owners:
            path = str(tree / PACKAGE / name)
            runs: dict[int, set[str]] = {}
            for data_file in folder.glob(".coverage.*"):
                data = CoverageData(basename=str(data_file))
                data.read()
                if data_file.name in claimed:
                    for line in data.lines(path) or []:
                        runs.setdefault(line, set()).add(claimed[data_file.name])
                elif f".pid{record['pid']}." in data_file.name:
                    for line, contexts in data.contexts_by_lineno(path).items():
                        runs.setdefault(line, set()).update(contexts)
            owned = sorted((t for t in seconds if _owned(t, name)), key=seconds.__getitem__)
            executable = Coverage(data_file=None).analysis2(path)[1]
            maps[name] = {
                "lines": {  # "": run while pytest imported the tests, which any of them may need
                    str(line): owned if "" in tests else [t for t in owned if t in tests]
                    for line, tests in runs.items()
                },
                "executable": [str(line) for line in executable],
                "all": owned,
                "seconds": {t: seconds[t] for t in owned},
            }
    return maps


def run_module(
    module: str, timeout: float, workdir: Path, pristine: Path, plan: dict[str, object]
) -> Score:
    """Mutate one module in a private copy and run, for each mutant, the tests that ran the
    mutated line (``scripts/mutation_map.py``)."""
    from cosmic_ray.work_db import WorkDB, use_db  # type: ignore[import-untyped,unused-ignore]
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome  # type: ignore[import-untyped,unused-ignore]

    started = time.monotonic()
    score = Score(module)
    tree = workdir / module.replace("/", "_").removesuffix(".py")
    shutil.copytree(
        pristine, tree, symlinks=True, ignore=shutil.ignore_patterns(".mutation-map-*", ".venv")
    )
    python = tree_python(tree)
    path = f"{PACKAGE}/{module}"
    source = (tree / path).read_text()
    (tree / "original.py").write_text(source)
    plan_file = tree / "mutation-plan.json"
    plan_file.write_text(
        json.dumps(
            {
                **plan,
                "original": str(tree / "original.py"),
                "mutated": str(tree / path),
                "statement_of": {str(k): v for k, v in statement_lines(source).items()},
                "pytest": PYTEST.split(),
                "longest": timeout,
            }
        )
    )
    config = tree / "cosmic-ray.toml"
    runner = f"{python} {ROOT / 'scripts' / 'mutation_map.py'} {plan_file}"
    config.write_text(
        "[cosmic-ray]\n"
        f'module-path = "{path}"\n'
        f"timeout = {timeout + 30}\n"  # a backstop: the runner enforces the budget itself
        "excluded-modules = []\n"
        f"test-command = {json.dumps(runner)}\n"
        '[cosmic-ray.distributor]\nname = "local"\n'
    )
    environ = {
        **tree_environment(python),
        "PYTHONDONTWRITEBYTECODE": "1",  # a restored file must never run a mutant's .pyc
    }
    session = tree / "session.sqlite"

    def cosmic_ray(step: str) -> None:
        command = [sys.executable, "-m", "cosmic_ray.cli", step, str(config), str(session)]
        subprocess.run(command, cwd=tree, env=environ, check=True, capture_output=True)

    cosmic_ray("init")
    source_lines = source.splitlines()
    select_mutants(session, module, score)
    cosmic_ray("exec")
    allowed = load_allow_list()
    with use_db(str(session), WorkDB.Mode.open) as db:
        items = {item.job_id: item for item in db.work_items}
        for job_id, result in db.results:
            if result.worker_outcome == WorkerOutcome.SKIPPED:
                continue
            if result.worker_outcome == WorkerOutcome.EXCEPTION:
                score.skipped += 1  # cosmic-ray could not make it (a dotted exception name)
                continue
            mutation = items[job_id].mutations[0]
            line = source_lines[mutation.start_pos[0] - 1]
            one = spaced(f"{line}{MUTANT_MARK}{mutated_line(result.diff)}")
            if (path, mutation.operator_name, one) in allowed and not result.is_killed:
                score.allowed += 1  # this one mutant of the line, reviewed as equivalent
            elif result.test_outcome == TestOutcome.KILLED and (
                result.output == "timeout" or TIMED_OUT in (result.output or "")
            ):
                score.timeout += 1  # cosmic-ray counts a timeout as killed; it is shown apart
            elif result.test_outcome == TestOutcome.KILLED:
                score.killed += 1
            else:
                row = mutation.start_pos[0]
                score.survived.append(
                    f"{path}:{row} {mutation.operator_name} "
                    f"(occurrence {mutation.occurrence}): {source_lines[row - 1].strip()}"
                )
    score.seconds = time.monotonic() - started
    return score


def run_safely(
    module: str, timeout: float, workdir: Path, pristine: Path, plan: dict[str, object]
) -> Score:
    """``run_module``, with a failure of the tooling reported as that module's error."""
    try:
        return run_module(module, timeout, workdir, pristine, plan)
    except (OSError, subprocess.CalledProcessError) as exc:
        return Score(module, error=f"the run failed: {exc}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help=f"paths under {PACKAGE}; all by default")
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        choices=(1, 2),
        help="modules run side by side (at most 2 on a shared machine)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="most seconds a mutant's tests may take (less when they ran faster unmutated)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the mutated copies")
    arguments = parser.parse_args()
    modules = arguments.modules or list(MODULES)
    unknown = [name for name in modules if name not in MODULES]
    if unknown:
        parser.error(f"not a core module: {', '.join(unknown)} (known: {', '.join(MODULES)})")
    workdir = Path(tempfile.mkdtemp(prefix="pyx-auth-mutation-"))
    try:
        pristine = workdir / "pristine"
        copy_tree(pristine)
        started = time.monotonic()
        print(f"mutation: mapping which tests run which lines ({len(modules)} modules)", flush=True)
        try:
            plans = build_maps(pristine, modules)
        except RuntimeError as exc:
            print(f"mutation: {exc}", file=sys.stderr)
            return 2
        print(f"mutation: mapped in {time.monotonic() - started:.0f} s; mutating", flush=True)
        with concurrent.futures.ThreadPoolExecutor(arguments.jobs) as pool:
            scores = list(
                pool.map(
                    lambda name: run_safely(
                        name, arguments.timeout, workdir, pristine, plans[name]
                    ),
                    modules,
                )
            )
    finally:
        if not arguments.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"{'module':28} {'score':>6} {'killed':>6} {'survived':>8} {'allowed':>7} "
        f"{'timeout':>7} {'seconds':>7}"
    )
    for score in scores:
        print(
            f"{score.module:28} {score.percent:5.1f}% {score.killed:6} "
            f"{len(score.survived):8} {score.allowed:7} {score.timeout:7} {score.seconds:7.0f}"
        )
    ran = sum(score.killed + len(score.survived) + score.timeout for score in scores)
    print(f"mutation: {ran} mutants in {time.monotonic() - started:.0f} s (mapping included)")
    failed = False
    for score in scores:
        if score.error:
            print(f"\n{score.module}: {score.error}")
            failed = True
        for survivor in score.survived:
            print(f"survived {survivor}")
        failed = failed or score.percent < 90.0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
