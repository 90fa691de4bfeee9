"""API keys: matching, owners, the keys file read again when it changes."""

import asyncio
import json
import os
import time

import pytest

from triton_openai.frontend import auth, watched_file
from triton_openai.frontend.auth import KeyStore, owner_of, parse_keys


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


@pytest.mark.parametrize(
    "api, admin, path, key, status",
    [
        ([], [], "/v1/load_lora_adapter", None, 200),  # no keys at all: open, admin routes too
        (["k"], ["adm"], "/v1/load_lora_adapter", "adm", 200),
        (["k"], ["adm"], "/v1/load_lora_adapter", "k", 401),  # an API key is not an admin key
        (["k"], ["adm"], "/v1/models", "adm", 401),  # nor the other way round
        (["k"], ["adm"], "/v1/models", "k", 200),
        (["k"], [], "/v1/load_lora_adapter", "k", 401),  # keys on, no admin keys: admin routes off
        ([], ["adm"], "/v1/models", None, 200),  # admin keys alone guard only the admin routes
        ([], ["adm"], "/v1/unload_lora_adapter", None, 401),
    ],
)
def test_admin_routes_take_admin_keys(api, admin, path, key, status):
    import httpx
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def ok(request):
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route(p, ok, methods=["GET", "POST"]) for p in ("/v1/models", *ADMIN)])
    guarded = auth.APIKeyMiddleware(app, KeyStore(api), KeyStore(admin), admin_paths=ADMIN)

    async def call():
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=guarded), base_url="http://t") as client:
            return (await client.post(path, headers=headers)).status_code

    assert asyncio.run(call()) == status


ADMIN = ("/v1/load_lora_adapter", "/v1/unload_lora_adapter")


@pytest.mark.parametrize(
    "headers, key",
    [
        ([(b"authorization", b"Bearer k1")], "k1"),
        ([(b"x-api-key", b"k2")], "k2"),  # Anthropic's SDK
        ([(b"authorization", b"Bearer k1"), (b"x-api-key", b"k2")], "k1"),
        (
            [(b"authorization", b"Basic abc"), (b"x-api-key", b"k2")],
            None,
        ),  # a malformed Authorization is not passed over
        ([(b"x-api-key", b"  ")], None),
        ([], None),
    ],
)
def test_the_key_comes_as_a_bearer_token_or_as_x_api_key(headers, key):
    assert auth.presented_key({"headers": headers}) == key
