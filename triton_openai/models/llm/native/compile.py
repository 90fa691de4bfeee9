"""Compile kernels.c into a shared library once per machine, cached.

The library lands in `<cache>/native/<key>/`, the key made of the source, the compiler's
version and the flags, so an upgrade of either builds anew and two servers starting at once
build it once (a file lock). No compiler, or a failed build, is logged and answered with None.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

from triton_openai.repository.cache import building, cache_root, digest, locked

logger = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("kernels.c")
LIBRARY_NAME = "libtriton_openai_kernels.so"
# Baseline x86-64 code: each SIMD routine carries its own target attribute and is chosen at
# run time. -fopenmp links libgomp.so.1, the runtime PyTorch has loaded already. No implicit
# fused multiply-adds: every path computes in the same order (see kernels.c).
FLAGS = ("-O3", "-fopenmp", "-shared", "-fPIC", "-std=gnu11", "-fno-math-errno", "-ffp-contract=off")


def compiler() -> str | None:
    for name in (os.environ.get("CC", ""), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    return None


def build_library() -> Path | None:
    """The compiled library's path, building it first if needed; None where that fails."""
    cc = compiler()
    if cc is None:
        logger.warning("no C compiler found: the engine uses PyTorch's operators instead of its CPU kernels")
        return None
    try:
        version = subprocess.run([cc, "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        logger.warning("the C compiler %s does not answer (%s): using PyTorch's operators", cc, exc)
        return None
    folder = cache_root() / "native" / digest(SOURCE.read_bytes(), version, FLAGS, os.uname().machine)
    with locked(folder):
        if not (folder / LIBRARY_NAME).is_file() and not _compile(cc, folder):
            return None
    return folder / LIBRARY_NAME


def _compile(cc: str, folder: Path) -> bool:
    try:
        with building(folder) as scratch:
            command = [cc, *FLAGS, str(SOURCE), "-o", str(scratch / LIBRARY_NAME), "-lm"]
            subprocess.run(command, capture_output=True, text=True, check=True)
    except subprocess.CalledProcessError as exc:
        logger.warning("building the engine's CPU kernels failed: %s", exc.stderr.strip()[-2000:])
        return False
    logger.info("built the engine's CPU kernels into %s", folder)
    return True
