#!/usr/bin/env bash
# Run the whole test suite in a fresh virtual environment for each supported Python this machine has.
#
# Usage: bash scripts/test_pythons.sh [3.11 3.12 3.13]   (default: all three; pytest arguments after --)
#   e.g. bash scripts/test_pythons.sh 3.12 -- -x tests
# A version the machine lacks is reported as SKIPPED; any failure makes the script exit 1.
set -uo pipefail
cd "$(dirname "$0")/.."
versions=()
while [[ $# -gt 0 && "$1" != "--" ]]; do versions+=("$1"); shift; done
[[ "${1:-}" == "--" ]] && shift
[[ ${#versions[@]} -eq 0 ]] && versions=(3.11 3.12 3.13)
export LABKIT_QUICK="${LABKIT_QUICK:-1}" PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1

find_python() {   # python3.X on PATH, else a pyenv install of 3.X
    local v="$1" p
    p="$(command -v "python$v" 2>/dev/null)" && "$p" -c '' 2>/dev/null && { echo "$p"; return; }
    for p in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/python; do
        [[ -x "$p" ]] && { echo "$p"; return; }
    done
}

status=0
summary=()
for v in "${versions[@]}"; do
    python="$(find_python "$v")"
    if [[ -z "$python" ]]; then summary+=("$v SKIPPED (not installed)"); continue; fi
    work="$(mktemp -d)"
    echo "== $("$python" --version) in $work/venv"
    start=$SECONDS
    if "$python" -m venv "$work/venv" \
        && "$work/venv/bin/python" -m pip install --quiet -r requirements.txt \
        && "$work/venv/bin/python" -m pytest -q "$@"; then
        summary+=("$v passed in $((SECONDS - start)) s")
    else
        summary+=("$v FAILED"); status=1
    fi
    rm -rf "$work"
done
printf '%s\n' "== summary" "${summary[@]}"
exit $status
