"""Prints pip constraints that keep the named installed packages, and every package they
require, at the versions installed now (Dockerfile.triton: TensorRT-LLM and its pins).

    python3 scripts/image_constraints.py tensorrt_llm torch > constraints.txt
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, distribution


def _requirements(name: str) -> list[str]:
    """The packages `name` needs unconditionally (no extras, markers that hold here)."""
    from packaging.requirements import Requirement

    needed = []
    for line in distribution(name).requires or []:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            needed.append(requirement.name)
    return needed


def constraints(roots: list[str]) -> list[str]:
    pinned: dict[str, str] = {}
    for root in roots:
        try:
            names = [root, *_requirements(root)]
        except PackageNotFoundError:
            continue  # not in this image: nothing to keep
        for name in names:
            try:
                found = distribution(name)
            except PackageNotFoundError:
                continue
            pinned[found.metadata["Name"].lower()] = found.version
    return [f"{name}=={version}" for name, version in sorted(pinned.items())]


if __name__ == "__main__":
    print("\n".join(constraints(sys.argv[1:])))
