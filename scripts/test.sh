#!/usr/bin/env bash
# Set up, then run the linters, the type checker and the test suite (CPU only, a few minutes).
#   bash scripts/test.sh [PYTEST ARGS]            with the locked versions (requirements.lock)
#   bash scripts/test.sh --latest [PYTEST ARGS]   with the newest versions, in .venv-latest/:
#                                                 run it before each `bash scripts/lock.sh`
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
if [[ "${1:-}" == "--latest" ]]; then
    venv=.venv-latest
    shift
    bash scripts/setup.sh --latest
else
    bash scripts/setup.sh
fi
"$venv/bin/ruff" check .
"$venv/bin/ruff" format --check .
"$venv/bin/mypy"
"$venv/bin/pytest" "$@"
