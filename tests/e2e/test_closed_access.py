"""Closed access: the `user` field (`name:password`) authenticates; files belong to the user."""

import httpx
import openai
import pytest

from tests.e2e.conftest import MODEL, start_server
from triton_openai.frontend.users import UserStore

HI = [{"role": "user", "content": "Hi"}]


@pytest.fixture(scope="module")
def closed(tmp_path_factory, prepared_model):
    folder = tmp_path_factory.mktemp("closed")
    users = UserStore(folder / "users.json")
    users.add("alice", "alice password")
    users.add("bob", "bob password")
    running = start_server(folder, "--auth-access", "closed", "--users-file", str(folder / "users.json"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(closed):
    return openai.OpenAI(base_url=closed.base_url + "/v1", api_key="EMPTY", max_retries=0, timeout=60)


@pytest.mark.parametrize("user", [None, "alice", "alice:wrong password", "mallory:alice password"])
def test_requests_without_valid_credentials_get_401(client, user):
    extra = {"user": user} if user is not None else {}
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model=MODEL, messages=HI, max_tokens=2, **extra)
    with pytest.raises(openai.AuthenticationError):
        client.completions.create(model=MODEL, prompt="Hi", max_tokens=2, **extra)


def test_a_user_with_the_right_password_is_served(client):
    reply = client.chat.completions.create(model=MODEL, messages=HI, max_tokens=2, user="alice:alice password")
    assert reply.usage.completion_tokens >= 1
    stream = client.completions.create(model=MODEL, prompt="Hi", max_tokens=2, stream=True, user="bob:bob password")
    assert list(stream)


def test_files_belong_to_the_user(closed):
    base = closed.base_url + "/v1/files"
    alice, bob = {"user": "alice:alice password"}, {"user": "bob:bob password"}
    stored = httpx.post(base, files={"file": ("a.txt", b"alice only")}, data={"purpose": "user_data", **alice}).json()
    assert httpx.get(f"{base}/{stored['id']}/content", params=alice).content == b"alice only"
    assert httpx.get(f"{base}/{stored['id']}", params=bob).status_code == 404
    assert stored["id"] not in [f["id"] for f in httpx.get(base, params=bob).json()["data"]]
    assert httpx.get(base).status_code == 401
    assert httpx.delete(f"{base}/{stored['id']}", params=alice).json()["deleted"]
