"""triton_openai.frontend.lora: the adapter table that every worker shares."""

from __future__ import annotations

import pytest

from triton_openai.frontend import watched_file
from triton_openai.frontend.lora import Adapter, AdapterTable, parse_lora_flags


def test_lora_flags():
    adapters = parse_lora_flags(["a=/x/a", "b=/x/b, c=/x/c"])
    assert [a.name for a in adapters.values()] == ["a", "b", "c"] and adapters["b"].path == "/x/b"
    for bad in ("a", "=/x", "a="):
        with pytest.raises(ValueError, match="name=folder"):
            parse_lora_flags([bad])


def test_runtime_adapters_are_seen_by_every_worker(tmp_path, monkeypatch):
    monkeypatch.setattr(watched_file, "RECHECK_SECONDS", 0.0)
    static = parse_lora_flags(["fixed=/x/fixed"])
    first, second = AdapterTable(static, tmp_path), AdapterTable(static, tmp_path)
    first.add(Adapter("new", "/x/new", "base"))
    assert second.all()["new"] == Adapter("new", "/x/new", "base") and "fixed" in second.all()
    second.remove("new")
    assert set(first.all()) == {"fixed"}
