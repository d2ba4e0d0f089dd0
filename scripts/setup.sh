#!/usr/bin/env bash
# Create a virtual environment (once) and install autoalbum with its test tools. CPU only: no
# PyTorch, no CUDA.
#   bash scripts/setup.sh            .venv/, every package at the version requirements.lock
#                                    pins (the versions CI last passed with)
#   bash scripts/setup.sh --latest   .venv-latest/, every package at the newest version that
#                                    pyproject.toml's ranges admit (to see drift on purpose)
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == "--latest" ]]; then
    venv=.venv-latest
    pins=(--upgrade --upgrade-strategy eager)
else
    venv=.venv
    pins=(--constraint requirements.lock)
fi
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "${pins[@]}" -e '.[dev]'
