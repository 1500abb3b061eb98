"""Bazel's cache-hit call: `pyx-auth get` next to `uv auth helper --protocol=bazel get` (0.12.6).

    python bench/bench_get.py [--calls 40] [--pyx-auth PATH] [--uv PATH] [--frozen PATH]

Every contender answers the same request from the same cached token: API-key mode against an
emulator, one shared token store, one warm-up call each (the first one exchanges the key).
Calls are interleaved, one of each per round, so that machine noise hits all alike; each call
is timed from spawn to exit with the request on stdin, as Bazel runs a helper. Prints median
and p90 per contender and the ratio of medians to uv.

Contenders: pyx-auth's console script; the committed Bazel stub ``bazel/pyx-credential-helper``
(what Bazel actually runs) answering from its snapshot with shell builtins ("fast path"), and
the same with ``PYX_AUTH_NO_FAST_PATH=1`` handing over to pyx-auth; uv; and, with ``--frozen``,
a frozen pyx-auth binary, alone and behind the stub both ways. The token is minted once from
the emulator, then copied into the store of ``https://api.pyx.dev``, for which all answer
(the fast path serves https pyx hosts only; no call leaves the machine). Without
``--pyx-auth``, this script builds a throw-away venv and ``pip install``s this checkout into
it, not editable, as a user's install would be.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pyx_auth.emulator import PyxEmulator
from pyx_auth.settings import Settings
from pyx_auth.store import api_key_file, store_directory

REPO = Path(__file__).resolve().parents[1]
STUB = REPO / "bazel" / "pyx-credential-helper"
API_KEY = "sk-pyx-bench"


def print_medians(samples: dict[str, list[float]], *, reference: str) -> None:
    """One row per contender: median and p90 in ms, and the median's ratio to ``reference``."""
    baseline = statistics.median(samples[reference])
    print(f"{'contender':<24} {'median ms':>10} {'p90 ms':>8} {'vs uv':>7}")
    for name, values in samples.items():
        median = statistics.median(values)
        p90 = statistics.quantiles(values, n=10)[-1]
        print(f"{name:<24} {median:>10.2f} {p90:>8.2f} {median / baseline:>6.2f}x")


def find_executable(name: str) -> str:
    """``name`` next to this Python (its venv), else on PATH; exits with a hint if missing."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        sys.exit(f"{Path(sys.argv[0]).stem}: cannot find {name}; pass --{name} PATH")
    return found


def _install(folder: Path) -> str:
    """A fresh venv with this checkout pip-installed as scripts/demo.sh does; its pyx-auth.

    Not editable (an editable install adds a path hook); pip upgraded first, because the pip
    that Python 3.11 bundles writes console scripts that import ``re`` (~4 ms per call).
    """
    print(f"bench_get: pip install {REPO} into a fresh venv ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    pip = [str(folder / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, str(REPO)], check=True)
    return str(folder / "bin" / "pyx-auth")


def _call(argv: list[str], request: bytes, env: dict[str, str], cwd: str) -> tuple[float, str]:
    """Milliseconds from spawn to exit, and stdout; exits the benchmark on any failure."""
    started = time.perf_counter()
    result = subprocess.run(argv, input=request, capture_output=True, env=env, cwd=cwd, check=False)
    elapsed = (time.perf_counter() - started) * 1000
    if result.returncode != 0 or not result.stdout.startswith(b'{"headers":{"Authorization"'):
        sys.exit(f"bench_get: {argv} failed ({result.returncode}): {result.stderr.decode()!r}")
    return elapsed, result.stdout.decode()


def _copy_token(source: dict[str, str], target: dict[str, str]) -> None:
    """Put the API key's cached token into ``target``'s store, where uv would cache it."""
    name = api_key_file(API_KEY)
    folder = Path(store_directory(Settings(target)))
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    shutil.copy2(Path(store_directory(Settings(source))) / name, folder / name)


def _bearer(answer: str) -> str:
    return answer.split('"Authorization":["', 1)[1].split('"', 1)[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=40, help="calls per contender (>= 30)")
    parser.add_argument("--pyx-auth", help="pyx-auth console script (default: fresh venv)")
    parser.add_argument("--uv", help="uv 0.12.6 executable (default: next to this Python)")
    parser.add_argument("--frozen", help="also time this frozen pyx-auth binary")
    args = parser.parse_args()
    uv = args.uv or find_executable("uv")

    with tempfile.TemporaryDirectory(prefix="bench-get-") as tmp_name:
        tmp = Path(tmp_name)
        pyx_auth = os.path.abspath(args.pyx_auth) if args.pyx_auth else _install(tmp / "venv")
        workspace = tmp / "workspace"
        workspace.mkdir()
        with PyxEmulator(api_keys=(API_KEY,)) as emulator:
            minting = {
                "PATH": f"{Path(pyx_auth).parent}{os.pathsep}/usr/bin:/bin",
                "HOME": str(tmp),
                "PYX_API_URL": emulator.url,
                "PYX_API_KEY": API_KEY,
                "PYX_CREDENTIALS_DIR": str(tmp / "credentials"),
                "UV_CACHE_DIR": str(tmp / "uv-cache"),
            }
            mint_request = f'{{"uri":"{emulator.url}/simple/acme/main/demo/"}}'.encode()
            _call([pyx_auth, "get"], mint_request, minting, str(workspace))
            # Everyone then answers for pyx's own https API from the token just minted, copied
            # into that API's store: the stub's fast path serves https pyx hosts only.
            env = {**minting, "PYX_API_URL": "https://api.pyx.dev"}
            _copy_token(minting, env)
            request = b'{"uri":"https://api.pyx.dev/simple/acme/main/demo/"}'
            no_fast_path = {**env, "PYX_AUTH_NO_FAST_PATH": "1"}
            contenders = {
                "pyx-auth get": ([pyx_auth, "get"], env),
                "stub fast path": ([str(STUB), "get"], env),
                "stub -> pyx-auth": ([str(STUB), "get"], no_fast_path),
                "uv auth helper": (
                    [uv, "--preview-features", "auth-helper", "auth", "helper",
                     "--protocol=bazel", "get"],
                    env,
                ),
            }  # fmt: skip
            if args.frozen:
                frozen = os.path.abspath(args.frozen)
                contenders["frozen pyx-auth get"] = ([frozen, "get"], env)
                contenders["stub fast path, frozen"] = (
                    [str(STUB), "get"], {**env, "PYX_AUTH_BIN": frozen},
                )  # fmt: skip
                contenders["stub -> frozen"] = (
                    [str(STUB), "get"], {**no_fast_path, "PYX_AUTH_BIN": frozen},
                )  # fmt: skip
            tokens = {
                name: _bearer(_call(argv, request, environ, str(workspace))[1])
                for name, (argv, environ) in contenders.items()
            }
            if len(set(tokens.values())) != 1:
                sys.exit(f"bench_get: contenders handed out different tokens: {tokens}")
            samples: dict[str, list[float]] = {name: [] for name in contenders}
            for call in range(args.calls):
                for name, (argv, environ) in contenders.items():
                    samples[name].append(_call(argv, request, environ, str(workspace))[0])
                print(f"\rround {call + 1}/{args.calls}", end="", file=sys.stderr)
            print(file=sys.stderr)
            exchanges = emulator.counts()["access-token"]

    version = subprocess.run(
        [uv, "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    print(
        f"`get` on a cached token, {args.calls} interleaved calls each ({version};"
        f" pyx-auth {pyx_auth}; Python {sys.version.split()[0]})"
    )
    print_medians(samples, reference="uv auth helper")
    print(f"token exchanges served: {exchanges} (the first warm-up call; every other call hit)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
