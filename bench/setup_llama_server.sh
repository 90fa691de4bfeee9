#!/usr/bin/env bash
# Builds llama.cpp's `llama-server` (the anchor of bench/llm_throughput.py --llama-server) from
# the llama.cpp vendored in the llama-cpp-python sdist, once, cached outside the checkout under
# ${XDG_CACHE_HOME:-~/.cache}/triton-openai/llama-server/<sdist version>/. Prints the binary's path.
# Native builds crash on these machines (AVX-512/AMX probing), so the instruction sets are named.
# About 9 minutes on 2 cores. Not part of the install or of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
root="${XDG_CACHE_HOME:-$HOME/.cache}/triton-openai/llama-server/$VERSION"
binary="$root/bin/llama-server"
if [ -x "$binary" ]; then
    echo "$binary"
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: \
    "llama-cpp-python==$VERSION" -d "$work" >&2
tar -xzf "$work"/llama_cpp_python-*.tar.gz -C "$work"
src=$(echo "$work"/llama_cpp_python-*/vendor/llama.cpp)
cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
    -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF \
    -DBUILD_SHARED_LIBS=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF >&2
cmake --build "$work/build" --target llama-server -j "$(nproc)" >&2
mkdir -p "$root/bin"
cp "$work/build/bin/llama-server" "$binary.tmp"
mv "$binary.tmp" "$binary"
echo "$binary"
