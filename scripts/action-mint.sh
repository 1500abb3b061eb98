#!/usr/bin/env bash
# The step behind action.yml: mint a pyx token and export it as PYX_AUTH_TOKEN to later steps.
#
# Inputs (action.yml passes them as environment variables):
#   INPUT_WORKSPACE  pyx workspace; Trusted Access mints per workspace (ignored with an API key)
#   INPUT_API_KEY    a pyx API key; without one, the job's OIDC identity (Trusted Access)
#   INPUT_MIN_TTL    how long the token must stay valid (default 30m)
#   INPUT_API_URL    pyx API; also exported as PYX_API_URL to later steps
# Runner: GITHUB_ENV (gets PYX_AUTH_TOKEN), GITHUB_OUTPUT (gets expires-at), GITHUB_PATH (gets
# this repository's docker/ folder, for pyx-buildx), RUNNER_TEMP (the token store, and pyx-auth
# if it has to be installed), GITHUB_ACTION_PATH (this repository).
# PYX_AUTH_BIN names the pyx-auth executable; default: pyx-auth on PATH, else a pip install of
# this repository into $RUNNER_TEMP/pyx-auth, put on PATH for later steps.
#
# The token is masked (::add-mask::) before it is written anywhere, and it is never on a command
# line. Never run this with `set -x`: the trace would print the token.
set -euo pipefail

die() {
    printf '::error title=pyx-auth::%s\n' "$1" >&2
    exit 2
}

# Hide a secret in the job log. The runner masks the log line by line, so each line of a
# multi-line value is masked on its own (and the whole value too); workflow-command data
# escapes %, CR and LF as %25, %0D and %0A (@actions/core escapeData), or a value could end
# the command early or be registered wrongly.
mask() {
    local value="$1" line escaped
    if [[ "$value" == *[$'\r\n']* ]]; then
        escaped="${value//"%"/%25}"
        escaped="${escaped//$'\r'/%0D}"
        printf '::add-mask::%s\n' "${escaped//$'\n'/%0A}"
    fi
    while IFS= read -r line; do
        [ -z "$line" ] || printf '::add-mask::%s\n' "${line//"%"/%25}"
    done <<<"${value//$'\r'/$'\n'}"
}

[ -n "${GITHUB_ENV:-}" ] || die "GITHUB_ENV is not set: run this as a GitHub Actions step"
[ -n "${GITHUB_OUTPUT:-}" ] || die "GITHUB_OUTPUT is not set: run this as a GitHub Actions step"

find_pyx_auth() {
    if [ -n "${PYX_AUTH_BIN:-}" ]; then
        command -v "$PYX_AUTH_BIN" >/dev/null 2>&1 || die "PYX_AUTH_BIN=$PYX_AUTH_BIN is not executable"
        printf '%s\n' "$PYX_AUTH_BIN"
    elif command -v pyx-auth >/dev/null 2>&1; then
        command -v pyx-auth
    else
        local source="${GITHUB_ACTION_PATH:-$(dirname "$0")/..}"
        local venv="${RUNNER_TEMP:?RUNNER_TEMP is not set}/pyx-auth"
        python3 -m venv "$venv" >&2 && "$venv/bin/python" -m pip install --quiet "$source" >&2 \
            || die "cannot install pyx-auth from $source (python3 -m venv and pip)"
        [ -z "${GITHUB_PATH:-}" ] || printf '%s\n' "$venv/bin" >>"$GITHUB_PATH"
        printf '%s\n' "$venv/bin/pyx-auth"
    fi
}
pyx_auth="$(find_pyx_auth)"

# A value written to GITHUB_ENV must be one line, or it could set other variables.
case "${INPUT_API_URL:-}" in
    *$'\n'* | *$'\r'*) die "the api-url input must be one line" ;;
esac
# A PYX_AUTH_TOKEN exported by an earlier run of this action would outrank the key and the
# job's identity, and could never be refreshed: mint from the real source.
unset PYX_AUTH_TOKEN UV_AUTH_TOKEN
# Keep minted tokens out of the runner's home: self-hosted runners keep it between jobs.
if [ -z "${PYX_CREDENTIALS_DIR:-}" ] && [ -n "${RUNNER_TEMP:-}" ]; then
    export PYX_CREDENTIALS_DIR="$RUNNER_TEMP/pyx-credentials"
fi
# docker/pyx-buildx (BuildKit secrets) for later steps.
if [ -n "${GITHUB_PATH:-}" ] && [ -n "${GITHUB_ACTION_PATH:-}" ]; then
    printf '%s\n' "$GITHUB_ACTION_PATH/docker" >>"$GITHUB_PATH"
fi

if [ -n "${INPUT_API_KEY:-}" ]; then
    mask "$INPUT_API_KEY"
    export PYX_API_KEY="$INPUT_API_KEY"
fi
if [ -n "${INPUT_API_URL:-}" ]; then
    export PYX_API_URL="$INPUT_API_URL"
fi
args=(token --min-ttl "${INPUT_MIN_TTL:-30m}")
if [ -n "${INPUT_WORKSPACE:-}" ]; then
    args+=(--workspace "$INPUT_WORKSPACE")
fi

# pyx-auth prints ::add-mask::<token> itself when GITHUB_ACTIONS=true; mask again regardless.
token="$("$pyx_auth" "${args[@]}")" || die "no pyx token (the reason is above)"
[ -n "$token" ] || die "pyx-auth printed an empty token"
mask "$token"

# expires_at from the token itself (offline: PYX_AUTH_TOKEN is used as given), read from
# `token --format json` with a real JSON parser: python3 (on every GitHub-hosted runner, and what
# installs pyx-auth above), else jq; without either the output is empty ("unknown"). The JSON
# holds the token, so it goes through a pipe, never a command line.
json_expires_at() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import json, sys
value = json.load(sys.stdin).get("expires_at")
print(value if type(value) is int else "")'
    elif command -v jq >/dev/null 2>&1; then
        jq -r 'if (.expires_at | type) == "number" then .expires_at | floor else "" end'
    fi
}
expires_at="$(PYX_AUTH_TOKEN="$token" "$pyx_auth" token --format json 2>/dev/null \
    | json_expires_at 2>/dev/null)" || expires_at=""

printf 'PYX_AUTH_TOKEN=%s\n' "$token" >>"$GITHUB_ENV"
if [ -n "${INPUT_API_URL:-}" ]; then
    printf 'PYX_API_URL=%s\n' "$INPUT_API_URL" >>"$GITHUB_ENV"
fi
printf 'expires-at=%s\n' "$expires_at" >>"$GITHUB_OUTPUT"
printf 'pyx-auth: PYX_AUTH_TOKEN exported to later steps (expires at %s)\n' "${expires_at:-unknown}" >&2
