"""API keys: matching, owners, the keys file read again when it changes."""

import json
import os
import time

import pytest

from frontend import watched_file
from frontend.auth import KeyStore, owner_of, parse_keys


def test_keys_from_the_flag():
    store = KeyStore(parse_keys(" k1, k2 ,,"))
    assert store.enabled and store.match("k1") and store.match("k2")
    assert not store.match("k3") and not store.match("") and not store.match("k1 ")
    assert not KeyStore([]).enabled


def test_owners_are_stable_and_do_not_reveal_the_key():
    assert owner_of("secret") == owner_of("secret") != owner_of("other")
    assert "secret" not in owner_of("secret") and owner_of("secret").startswith("key-")


def test_the_keys_file_is_read_again_when_it_changes(tmp_path, monkeypatch):
    monkeypatch.setattr(watched_file, "RECHECK_SECONDS", 0.0)
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(["old"]))
    store = KeyStore(["static"], str(path))
    assert store.match("old") and store.match("static")
    path.write_text(json.dumps(["new", "newer"]))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    assert store.match("new") and not store.match("old") and store.match("static")
    path.write_text("{not json")  # a half-written file keeps the last good keys
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 2_000_000))
    assert store.match("new")


def test_an_unreadable_keys_file_stops_the_start(tmp_path):
    (tmp_path / "keys.json").write_text('{"a": 1}')
    with pytest.raises(SystemExit, match="JSON list"):
        KeyStore([], str(tmp_path / "keys.json"))
