#!/usr/bin/env bash
# Refresh requirements.lock from pyproject.toml: the newest versions its ranges admit today,
# for every Python from 3.10 and every platform (uv's universal resolution).
# First run `bash scripts/test.sh --latest`: lock only versions the suite passes with.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=.venv-lock
[[ -x "$tools/bin/uv" ]] || { python3 -m venv "$tools" && "$tools/bin/pip" install --quiet 'uv>=0.9'; }
"$tools/bin/uv" pip compile pyproject.toml --extra dev --universal --python-version 3.10 \
    --no-header --output-file requirements.lock --quiet
sed -i '1i # The versions scripts/setup.sh installs for the tests and the demo (CI last passed with\n# these). Made from pyproject.toml by `bash scripts/lock.sh`; do not edit by hand.' \
    requirements.lock
echo "requirements.lock: $(grep -c '==' requirements.lock) pins"
