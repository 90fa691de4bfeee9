#!/usr/bin/env bash
# Installs what is needed (once) and serves the default model on http://localhost:5000/v1.
# Arguments are passed to `triton-openai serve` (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
exec "${VENV:-.venv}/bin/triton-openai" serve "$@"
