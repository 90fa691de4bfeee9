"""API keys and HTTPS on one server: keys from the flag and from a file that rotates; files
belong to the key that uploaded them, with a size limit and a quota."""

import json
import os
import time

import anthropic
import httpx
import openai
import pytest
import trustme

from tests.e2e.conftest import MODEL, start_server

FLAG_KEYS = ("flag-key-1", "flag-key-2")


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture(scope="module")
def keys_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("keys") / "keys.json"
    path.write_text(json.dumps(["file-key-a"]))
    return path


@pytest.fixture(scope="module")
def secure(tmp_path_factory, ca, keys_file, prepared_model):
    folder = tmp_path_factory.mktemp("tls")
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_pem.write_to_path(str(folder / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    running = start_server(
        folder,
        "--api-keys", ",".join(FLAG_KEYS), "--api-keys-file", str(keys_file),
        "--ssl-certfile", str(folder / "cert.pem"), "--ssl-keyfile", str(folder / "key.pem"),
        "--max-file-bytes", "4096", "--files-quota-bytes", "6000",
    )  # fmt: skip
    yield running
    running.stop()


@pytest.fixture(scope="module")
def bundle(ca, tmp_path_factory):
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(scope="module")
def verified(secure, bundle):
    """An httpx client that trusts only the test CA (so TLS is really checked)."""
    with httpx.Client(base_url=secure.base_url, verify=str(bundle), timeout=120) as http:
        yield http


def sdk(secure, verified, key):
    return openai.OpenAI(base_url=secure.base_url + "/v1", api_key=key, http_client=verified, max_retries=0)


def test_served_over_https_with_a_certificate_the_client_checks(secure, verified):
    assert secure.base_url.startswith("https://")
    assert verified.get("/health").status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(secure.base_url + "/health", timeout=10)  # default trust store: the test CA is unknown


def test_health_version_and_metrics_stay_open(verified):
    assert verified.get("/health").status_code == 200
    assert verified.get("/version").status_code == 200
    assert verified.get("/metrics").status_code == 200


@pytest.mark.parametrize(
    "headers, code",
    [({}, None), ({"Authorization": "Bearer wrong"}, "invalid_api_key"), ({"Authorization": "Basic abc"}, None)],
)
def test_missing_or_wrong_keys_get_401_in_the_envelope(verified, headers, code):
    for path in ("/v1/models", f"/v1/models/{MODEL}"):
        response = verified.get(path, headers=headers)
        assert response.status_code == 401
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error" and error["code"] == code
    response = verified.post("/v1/chat/completions", headers=headers, json={"messages": []})
    assert response.status_code == 401  # checked before the body is read


def test_every_key_works_through_the_sdk(secure, verified):
    for key in (*FLAG_KEYS, "file-key-a"):
        client = sdk(secure, verified, key)
        assert MODEL in [m.id for m in client.models.list().data]
    answer = sdk(secure, verified, FLAG_KEYS[0]).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=3
    )
    assert answer.choices[0].message.content is not None
    with pytest.raises(openai.AuthenticationError):
        sdk(secure, verified, "nope").models.list()


def test_keys_rotate_through_the_file_without_a_restart(secure, verified, keys_file):
    keys_file.write_text(json.dumps(["file-key-b"]))
    os.utime(keys_file, ns=(time.time_ns(), time.time_ns() + 5_000_000))
    deadline = time.monotonic() + 10
    while verified.get("/v1/models", headers={"Authorization": "Bearer file-key-b"}).status_code != 200:
        assert time.monotonic() < deadline, "the new key was not accepted"
        time.sleep(0.3)
    assert verified.get("/v1/models", headers={"Authorization": "Bearer file-key-a"}).status_code == 401
    assert verified.get("/v1/models", headers={"Authorization": f"Bearer {FLAG_KEYS[1]}"}).status_code == 200


def test_keys_never_reach_the_log(secure):
    log = secure.log.read_text(errors="replace")
    assert not any(key in log for key in (*FLAG_KEYS, "file-key-a", "file-key-b", "wrong"))


def test_files_belong_to_the_key_that_uploaded_them(secure, verified):
    alice, bob = sdk(secure, verified, FLAG_KEYS[0]), sdk(secure, verified, FLAG_KEYS[1])
    stored = alice.files.create(file=("mine.txt", b"alice's notes"), purpose="user_data")
    assert stored.id in [f.id for f in alice.files.list()]
    assert stored.id not in [f.id for f in bob.files.list()]
    for call in (bob.files.retrieve, bob.files.content, bob.files.delete):
        with pytest.raises(openai.NotFoundError):
            call(stored.id)
    with pytest.raises(openai.NotFoundError):  # nor through a file part in a chat
        bob.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": [{"type": "file", "file": {"file_id": stored.id}}]}]
        )
    assert alice.files.content(stored.id).content == b"alice's notes"
    alice.files.delete(stored.id)


def test_upload_size_limit_and_quota(secure, verified):
    client = sdk(secure, verified, FLAG_KEYS[0])
    with pytest.raises(openai.APIStatusError) as too_big:
        client.files.create(file=("big.txt", b"x" * 5000), purpose="user_data")
    assert too_big.value.status_code == 413
    first = client.files.create(file=("a.txt", b"x" * 4000), purpose="user_data")
    with pytest.raises(openai.BadRequestError) as over:
        client.files.create(file=("b.txt", b"x" * 4000), purpose="user_data")
    assert over.value.body["code"] == "quota_exceeded"
    client.files.delete(first.id)
    client.files.delete(client.files.create(file=("b.txt", b"x" * 4000), purpose="user_data").id)


def test_stored_responses_belong_to_the_key_that_made_them(secure, verified):
    alice, bob = sdk(secure, verified, FLAG_KEYS[0]), sdk(secure, verified, FLAG_KEYS[1])
    made = alice.responses.create(model=MODEL, input="Hi", max_output_tokens=2, temperature=0)
    assert alice.responses.retrieve(made.id).id == made.id
    for call in (bob.responses.retrieve, bob.responses.delete, bob.responses.input_items.list):
        with pytest.raises(openai.NotFoundError):
            call(made.id)
    with pytest.raises(openai.NotFoundError):  # nor can another key continue its conversation
        bob.responses.create(model=MODEL, previous_response_id=made.id, input="Go on", max_output_tokens=2)
    alice.responses.delete(made.id)


def test_the_messages_api_takes_x_api_key_and_answers_401_in_anthropics_envelope(secure, verified, bundle):
    def claude(key):
        http = anthropic.DefaultHttpxClient(verify=str(bundle))
        return anthropic.Anthropic(base_url=secure.base_url, api_key=key, http_client=http, max_retries=0)

    ask = {"model": MODEL, "max_tokens": 2, "messages": [{"role": "user", "content": "Hi"}]}
    assert claude(FLAG_KEYS[0]).messages.create(**ask).usage.output_tokens >= 1
    with pytest.raises(anthropic.AuthenticationError) as refused:
        claude("wrong").messages.create(**ask)
    assert refused.value.body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "Incorrect API key provided."},
    }
    assert verified.post("/v1/messages/count_tokens", json=ask).json()["error"]["type"] == "authentication_error"
    assert verified.get("/v1/models", headers={"x-api-key": FLAG_KEYS[1]}).status_code == 200
