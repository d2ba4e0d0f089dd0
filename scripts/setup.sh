#!/usr/bin/env bash
# Create .venv (once) and install autoalbum with its test tools. CPU only: no PyTorch, no CUDA.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'
