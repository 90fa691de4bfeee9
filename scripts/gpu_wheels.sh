#!/usr/bin/env bash
# Makes the GPU check's carry set: downloads (once) every wheel of scripts/gpu_wheels.txt for
# one CPython on manylinux x86-64, --no-deps, repacks nvidia-pytriton (only this Python's backend
# stub, only the libraries that tritonserver, the Python backend and that stub load) and
# tritonclient (no perf_analyzer), and splits the set into one part per device call, each under
# the device tool's 64 MiB with the working tree. Prints the sizes.
#
#   scripts/gpu_wheels.sh                 # Python 3.12, the H200 image's: .whl/py3.12/carry/1..N
#   scripts/gpu_wheels.sh --python 3.11   # this machine's Python, for scripts/gpu_check.sh --dry-run
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON_VERSION=3.12
[ "${1:-}" = "--python" ] && PYTHON_VERSION=$2
ROOT=.whl/py$PYTHON_VERSION
# pip matches each manylinux_2_N tag exactly: the ones these wheels use.
platforms=()
for tag in manylinux_2_35 manylinux_2_34 manylinux_2_31 manylinux_2_28 manylinux_2_27 manylinux_2_24 \
    manylinux_2_17 manylinux2014 manylinux_2_5 manylinux1; do
    platforms+=(--platform "${tag}_x86_64")
done
mkdir -p "$ROOT/downloads"
grep -Ev '^\s*(#|$)' scripts/gpu_wheels.txt > "$ROOT/requirements.txt"
python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --python-version "$PYTHON_VERSION" --implementation cp "${platforms[@]}" \
    -d "$ROOT/downloads" -r "$ROOT/requirements.txt"
# One version of each: a wheel left from an older list would stop the install there.
python3 - "$ROOT" <<'PY'
import re, sys
from pathlib import Path
root = Path(sys.argv[1])
norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()
wanted = {}
for line in (root / "requirements.txt").read_text().split():
    name, version = line.split("==")
    wanted[norm(name)] = version
for wheel in (root / "downloads").glob("*.whl"):
    name, version = wheel.name.split("-")[:2]
    if wanted.get(norm(name)) != version:
        print(f"removing {wheel.name}: not in scripts/gpu_wheels.txt", file=sys.stderr)
        wheel.unlink()
missing = set(wanted) - {norm(w.name.split("-")[0]) for w in (root / "downloads").glob("*.whl")}
if missing:
    sys.exit(f"not downloaded: {', '.join(sorted(missing))}")
PY
python3 scripts/gpu_carry.py repack --python "$PYTHON_VERSION" "$ROOT/downloads" "$ROOT/wheels"
echo "nvidia-pytriton's libraries: $ROOT/pytriton-repack.txt"
python3 scripts/gpu_carry.py pack "$ROOT/wheels" "$ROOT/carry"
