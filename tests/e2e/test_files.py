"""/v1/files through the openai package, and files used in chat and transcription."""

import base64
import io

import httpx
import openai
import pytest

from tests.e2e.conftest import MODEL
from tests.pdf import text_pdf

NOTE = b"Meeting notes: the launch moves to Thursday. Budget approved: 42 units.\n"


def upload(client, name="notes.txt", data=NOTE, purpose="user_data"):
    return client.files.create(file=(name, data), purpose=purpose)


def test_upload_retrieve_content_delete(client, server):
    stored = upload(client)
    assert stored.id.startswith("file-") and stored.object == "file"
    assert stored.bytes == len(NOTE) and stored.filename == "notes.txt" and stored.purpose == "user_data"
    # A user_data file is indexed for document Q&A in the background: its status moves on.
    moving = {"status", "status_details"}
    retrieved = client.files.retrieve(stored.id)
    assert retrieved.model_dump(exclude=moving) == stored.model_dump(exclude=moving)
    assert retrieved.status in ("uploaded", "processed")
    assert client.files.content(stored.id).content == NOTE
    blob = server.log.parent / f"files-{server.port}" / "blobs" / stored.id
    assert blob.read_bytes() == NOTE
    deleted = client.files.delete(stored.id)
    assert deleted.id == stored.id and deleted.deleted
    assert not blob.exists()
    with pytest.raises(openai.NotFoundError, match="No such File object"):
        client.files.retrieve(stored.id)


def test_list_newest_first_with_purpose_and_pages(client):
    ids = [upload(client, f"{i}.txt", b"x%d" % i, "batch" if i % 2 else "assistants").id for i in range(4)]
    listed = [f.id for f in client.files.list(purpose="assistants")]
    assert listed[:2] == [ids[2], ids[0]]
    page = client.files.list(limit=2)
    assert [f.id for f in page.data] == [ids[3], ids[2]] and page.has_more
    following = client.files.list(limit=2, after=ids[2])
    assert [f.id for f in following.data] == [ids[1], ids[0]]
    assert [f.id for f in client.files.list(order="asc", purpose="batch")][-2:] == [ids[1], ids[3]]


@pytest.mark.parametrize("crafted", ["..%2F..%2Fetc%2Fpasswd", "file-%00", "%2Fetc%2Fpasswd", "file-xyz"])
def test_crafted_ids_get_404(http, crafted):
    for method, suffix in (("GET", ""), ("GET", "/content"), ("DELETE", "")):
        response = http.request(method, f"/v1/files/{crafted}{suffix}")
        assert response.status_code == 404, (crafted, suffix, response.text)
        assert response.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    "files, data, message",
    [
        ({"file": ("a.txt", b"x")}, {"purpose": "nonsense"}, "purpose: Input should be"),
        ({"file": ("a.txt", b"")}, {"purpose": "user_data"}, "empty"),
        ({"other": ("a.txt", b"x")}, {"purpose": "user_data"}, "file is required"),
    ],
)
def test_bad_uploads_are_400(http, files, data, message):
    response = http.post("/v1/files", files=files, data=data)
    assert response.status_code == 400 and message in response.json()["error"]["message"]


def test_file_parts_put_the_file_text_into_the_prompt(client):
    question = [{"type": "text", "text": "When is the launch?"}]

    def prompt_tokens(parts):
        return client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": parts}], max_tokens=1
        ).usage.prompt_tokens

    plain = prompt_tokens(question)
    with_text = prompt_tokens([{"type": "file", "file": {"file_id": upload(client).id}}, *question])
    assert with_text > plain + 15  # the note's tokens reached the model
    pdf = upload(client, "notes.pdf", text_pdf("The launch moves to Thursday and the budget is approved."))
    with_pdf = prompt_tokens([{"type": "file", "file": {"file_id": pdf.id}}, *question])
    assert with_pdf > plain + 10


def test_file_parts_with_a_missing_file_or_binary_bytes_are_errors(client):
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": [{"type": "file", "file": {"file_id": "file-" + "0" * 24}}]}],
        )
    binary = upload(client, "blob.bin", b"\xff\xfe\x00\x81" * 10)
    with pytest.raises(openai.BadRequestError, match="neither UTF-8 text"):
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": [{"type": "file", "file": {"file_id": binary.id}}]}]
        )


def _docx(*paragraphs):
    import docx

    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_a_docx_file_part_reaches_the_prompt_and_a_broken_one_is_a_400(http, client):
    """One extractor for chat and document Q&A: a Word file works in a chat file part too."""

    def file_part(name, data):
        url = "data:application/octet-stream;base64," + base64.b64encode(data).decode()
        return {"type": "file", "file": {"filename": name, "file_data": url}}

    docx_part = file_part("handbook.docx", _docx("Holidays are booked in the portal."))
    body = {"model": MODEL, "messages": [{"role": "user", "content": [docx_part]}]}
    rendered = http.post("/v1/chat/completions/render", json=body)
    assert rendered.status_code == 200, rendered.text
    assert "[file: handbook.docx]\nHolidays are booked in the portal." in rendered.json()["prompt"]
    stored = upload(client, "handbook.docx", _docx("The launch moves to Thursday."))
    answer = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": [{"type": "file", "file": {"file_id": stored.id}}]}],
        max_tokens=1,
    )
    assert answer.usage.prompt_tokens > 10
    broken = [file_part("fake.docx", b"PK\x03\x04 not really a zip")]
    with pytest.raises(openai.BadRequestError, match="'fake.docx' could not be read as a Word"):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": broken}], max_tokens=1)


def test_audio_files_are_transcribed_by_id(client, server):
    speech = client.audio.speech.create(
        model="tts", voice="alloy", input="Please call me back tomorrow morning.", response_format="mp3"
    ).content
    stored = upload(client, "voicemail.mp3", speech)
    response = httpx.post(
        server.base_url + "/v1/audio/transcriptions",
        data={"model": "whisper-tiny.en", "file_id": stored.id},
        files={"unused": ("x", b"")},  # a multipart body without a `file` part
        timeout=120,
    )
    assert response.status_code == 200, response.text
    assert "tomorrow morning" in response.json()["text"].lower()
