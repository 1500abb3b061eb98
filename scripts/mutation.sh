#!/usr/bin/env bash
# Mutation testing of the security and storage core (issue 16); not part of .ci/run (slow).
#   bash scripts/mutation.sh                      # every core module, one at a time
#   bash scripts/mutation.sh --jobs 2 hosts.py    # chosen modules, two side by side at most
# Needs the `mutation` extra: .venv/bin/pip install -e '.[test,mutation]'
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-.venv/bin/python}"
"$python" -c "import cosmic_ray" 2>/dev/null || {
    echo "mutation: cosmic-ray is missing: $python -m pip install -e '.[test,mutation]'" >&2
    exit 2
}
exec "$python" scripts/mutation.py "$@"
