#!/usr/bin/env bash
# Installs what is needed (once) and runs the test suite against the real stack
# (tritonserver + the default model + the frontend, through the openai package).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
exec "${VENV:-.venv}/bin/python" -m pytest "$@"
