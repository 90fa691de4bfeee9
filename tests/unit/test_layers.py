"""Who may import what: only frontend/triton/ speaks tensor names and tritonclient."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import triton_openai

PACKAGE = Path(triton_openai.__file__).parent
FRONTEND = PACKAGE / "frontend"


def imported(path: Path) -> set[str]:
    """The modules a file imports, `from a import b` counted as a and a.b."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


@pytest.mark.parametrize("folder", ["protocol", "serving", "routes"])
def test_wire_types_and_serving_know_no_tensor_names(folder):
    for path in files(FRONTEND / folder):
        names = imported(path)
        assert "triton_openai.contract" not in names, f"{path.name} imports the contract"
        assert not any(n.startswith(("triton_openai.frontend.triton.tensors", "tritonclient")) for n in names), path


def test_only_the_grpc_client_imports_tritonclients_client():
    importers = {
        path.relative_to(FRONTEND).as_posix()
        for path in files(FRONTEND)
        if any(n.startswith("tritonclient.grpc.aio") for n in imported(path))
    }
    assert importers == {"triton/client.py"}
