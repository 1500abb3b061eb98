#!/usr/bin/env bash
# The main job end to end, against the local pyx emulator (no pyx account needed):
# install pyx-auth, start the emulator, mint and cache a token from an API key, show status,
# show what `pyx-auth get` hands Bazel, and prove the token opens the emulator's index.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

step "install pyx-auth into .venv"
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e .   # editable, like scripts/test.sh: one .venv serves both
export PATH="$PWD/.venv/bin:$PATH"

demo_dir=$(mktemp -d)
emulator_pid=
cleanup() {
    [ -n "$emulator_pid" ] && kill "$emulator_pid" 2>/dev/null || true
    rm -rf "$demo_dir"
}
trap cleanup EXIT

step "start the pyx emulator"
pyx-auth emulator --port 0 > "$demo_dir/emulator.env" &
emulator_pid=$!
for _ in $(seq 100); do grep -q PYX_API_KEY "$demo_dir/emulator.env" 2>/dev/null && break; sleep 0.1; done
grep -q PYX_API_KEY "$demo_dir/emulator.env" || { echo "the emulator did not start" >&2; exit 1; }
PYX_API_URL=$(sed -n 's/^PYX_API_URL=//p' "$demo_dir/emulator.env")
PYX_API_KEY=$(sed -n 's/^PYX_API_KEY=//p' "$demo_dir/emulator.env")
export PYX_API_URL PYX_API_KEY
export PYX_CREDENTIALS_DIR="$demo_dir/credentials"
echo "PYX_API_URL=$PYX_API_URL (API key from the emulator, store in $PYX_CREDENTIALS_DIR)"

step "mint a token from PYX_API_KEY (cold cache), then again (warm cache)"
time (pyx-auth token > "$demo_dir/token")
time (pyx-auth token > /dev/null)
echo "token: $(cut -c1-24 "$demo_dir/token")... ($(wc -c < "$demo_dir/token") bytes)"

step "pyx-auth status"
pyx-auth status

step "what \`pyx-auth get\` hands Bazel for the index URL (token shortened)"
printf '{"uri":"%s/simple/acme/main/"}' "$PYX_API_URL" | pyx-auth get \
    | sed -E 's/Bearer ([A-Za-z0-9_-]{12})[A-Za-z0-9._-]*/Bearer \1.../'

step "the Bazel stub answers the same request from its snapshot, with shell builtins only"
printf '{"uri":"%s/simple/acme/main/"}' "$PYX_API_URL" | bazel/pyx-credential-helper get \
    | sed -E 's/Bearer ([A-Za-z0-9_-]{12})[A-Za-z0-9._-]*/Bearer \1.../'

step "pyx-auth setup bazel in a new workspace, then pyx-auth doctor"
mkdir "$demo_dir/workspace"
touch "$demo_dir/workspace/MODULE.bazel"
pyx-auth setup bazel --dir "$demo_dir/workspace"
(cd "$demo_dir/workspace" && pyx-auth doctor) || true   # a warning or a failing check is shown, not fatal

step "the token opens the emulator's index; no token gets 401"
python3 - "$PYX_API_URL/simple/acme/main/" "$demo_dir/token" <<'PY'
import sys, urllib.error, urllib.request
url, token = sys.argv[1], open(sys.argv[2]).read().strip()
def status(headers):
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers)).status
    except urllib.error.HTTPError as exc:
        return exc.code
with_token = status({"Authorization": f"Bearer {token}"})
without = status({})
print(f"GET {url}: {with_token} with the token, {without} without")
sys.exit(0 if (with_token, without) == (200, 401) else 1)
PY
step "done"
