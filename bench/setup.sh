#!/usr/bin/env bash
# Installs the benchmark tools into .venv-bench (kept apart from the server's .venv):
# genai-perf 0.0.16 and tritonclient[all] 2.51.0, whose wheel carries the perf_analyzer
# binary. perf_analyzer needs libb64.so.0d and libcudart.so.12: both ship, under hashed
# names, in nvidia-pytriton's library folder; we link them into .venv-bench/lib/perf.
# Prints the environment to use (PATH, LD_LIBRARY_PATH) as `export` lines.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
BENCH=${BENCH_VENV:-.venv-bench}
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
stamp="$BENCH/.installed"
want=$(sha256sum bench/setup.sh | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    [ -x "$BENCH/bin/python" ] || "$PYTHON" -m venv "$BENCH"
    "$BENCH/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >&2
    "$BENCH/bin/python" -m pip install -q --disable-pip-version-check \
        "torch==2.13.0" "genai-perf==0.0.16" "tritonclient[all]==2.51.0" >&2
    echo "$want" > "$stamp"
fi
libs=$(.venv/bin/python -c 'import pytriton, pathlib; print(pathlib.Path(pytriton.__file__).parent.parent / "nvidia_pytriton.libs")')
mkdir -p "$BENCH/lib/perf"
ln -sf "$(ls "$libs"/libb64-*.so.0d | head -1)" "$BENCH/lib/perf/libb64.so.0d"
ln -sf "$(ls "$libs"/libcudart-*.so.12* | head -1)" "$BENCH/lib/perf/libcudart.so.12"
echo "export PATH=$PWD/$BENCH/bin:\$PATH LD_LIBRARY_PATH=$PWD/$BENCH/lib/perf:\${LD_LIBRARY_PATH:-}"
