"""Document Q&A core: text extraction per format, chunking, and the sqlite-vec index (handmade vectors, no model)."""

import asyncio
import io
import json

import numpy as np
import pytest

from tests.pdf import text_pdf
from triton_openai.frontend.documents.chunk import Chunk, chunk_text
from triton_openai.frontend.documents.index import FileNotIndexed, Hit, SqliteVecIndex
from triton_openai.frontend.documents.parse import DocumentError, extract_text

# --- parsing


@pytest.mark.parametrize("name", ["notes.txt", "README.md", "NOTES.TXT"])
def test_text_and_markdown_as_is_with_tidy_whitespace(name):
    data = "\ufeff# Title  \r\n\r\n\r\n\r\nSome caf\u00e9 text.\r\n".encode()
    assert extract_text(name, data) == "# Title\n\nSome caf\u00e9 text."


def test_utf16_text_with_a_byte_order_mark():
    assert extract_text("a.txt", "hello w\u00f6rld".encode("utf-16")) == "hello w\u00f6rld"


def test_html_keeps_visible_text_in_paragraphs_and_drops_scripts_and_styles():
    page = b"""<html><head><title>Guide</title><style>p { color: red }</style>
    <script>var secret = "x";</script></head><body><h1>Install</h1><p>Run   the
    installer &amp; wait.</p><p>Then <b>restart</b>.</p><noscript>enable js</noscript>
    <table><tr><th>os</th><th>step</th></tr><tr><td>linux</td><td>apt</td></tr></table>
    <script type="module">alert(1)</script></body></html>"""
    text = extract_text("guide.html", page)
    assert text == "Guide\n\nInstall\n\nRun the installer & wait.\n\nThen restart.\n\nos | step\n\nlinux | apt"
    assert "secret" not in text and "color" not in text and "alert" not in text and "enable js" not in text


def test_csv_rows_name_their_columns():
    data = b'name,city,note\nAlice,Paris,"likes, commas"\nBob,,x,extra\n\n'
    assert extract_text("people.csv", data) == (
        "name: Alice; city: Paris; note: likes, commas\nname: Bob; note: x; column 4: extra"
    )


def test_json_is_pretty_printed_and_must_be_valid():
    text = extract_text("data.json", json.dumps({"title": "caf\u00e9", "tags": [1, 2]}).encode())
    assert json.loads(text) == {"title": "caf\u00e9", "tags": [1, 2]} and '\n  "title": "caf\u00e9"' in text
    with pytest.raises(DocumentError, match="'bad.json' is not valid JSON"):
        extract_text("bad.json", b"{nope")


def test_pdf_hand_written_and_from_pypdf_writer():
    assert extract_text("report.pdf", text_pdf("Quarterly revenue grew")) == "Quarterly revenue grew"
    assert extract_text("no-extension", text_pdf("Found by its magic")) == "Found by its magic"

    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(DocumentError, match="'blank.pdf' holds no text"):
        extract_text("blank.pdf", out.getvalue())
    with pytest.raises(DocumentError, match="'broken.pdf' could not be read as a PDF"):
        extract_text("broken.pdf", b"%PDF-1.4 garbage")


def test_docx_paragraphs_and_tables_in_reading_order():
    import docx

    document = docx.Document()
    document.add_heading("Handbook", level=1)
    document.add_paragraph("Holidays are booked in the portal.")
    table = document.add_table(rows=2, cols=2)
    for r, row in enumerate([["days", "who"], ["25", "everyone"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.add_paragraph("Ask HR for more.")
    out = io.BytesIO()
    document.save(out)
    assert extract_text("handbook.docx", out.getvalue()) == (
        "Handbook\n\nHolidays are booked in the portal.\n\ndays | who\n25 | everyone\n\nAsk HR for more."
    )
    with pytest.raises(DocumentError, match="'fake.docx' could not be read as a Word"):
        extract_text("fake.docx", b"PK\x03\x04 not really a zip")


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("photo.png", b"\x89PNG\r\n\x1a\n", "'photo.png' is not in an accepted format"),
        ("archive", b"text without an extension", "'archive' is not in an accepted format"),
        ("sheet.xlsx", b"PK\x03\x04", "'sheet.xlsx' is not in an accepted format"),
        ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00", "'image.txt' is binary"),
        ("latin.md", "caf\u00e9".encode("latin-1"), "'latin.md' is not UTF-8"),
        ("empty.txt", b"  \n\n ", "'empty.txt' holds no text"),
    ],
)
def test_refused_files_name_the_file_and_the_accepted_formats(name, data, message):
    with pytest.raises(DocumentError, match=message) as error:
        extract_text(name, data)
    assert isinstance(error.value, ValueError)
    if "holds no text" not in message:
        assert "txt, md, html, csv, json, pdf, docx" in str(error.value)


# --- chunking

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()


def _prose(paragraphs: int, sentences: int = 6, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    return "\n\n".join(
        " ".join(" ".join(rng.choice(WORDS, size=rng.integers(5, 14))).capitalize() + "." for _ in range(sentences))
        for _ in range(paragraphs)
    )


def _check(text: str, chunks: list[Chunk], chunk_size: int, overlap: int) -> None:
    assert chunks and all(c.text and c.text == text[c.start : c.end] for c in chunks)
    assert all(len(c.text) <= chunk_size and c.text == c.text.strip() for c in chunks)
    assert chunks[0].start == 0 and chunks[-1].end == len(text.rstrip())
    for before, after in zip(chunks, chunks[1:], strict=False):
        assert before.start < after.start and before.end < after.end  # in order, always moving on
        assert (0 < before.end - after.start <= overlap) if overlap else after.start >= before.end


def test_short_text_is_one_chunk_and_blank_text_none():
    assert chunk_text("  Just this.\n") == [Chunk("Just this.", 2, 12)]
    assert chunk_text(" \n\n ") == [] and chunk_text("") == []


@pytest.mark.parametrize(("chunk_size", "overlap"), [(512, 64), (200, 50), (120, 0), (64, 32), (1000, 100)])
def test_chunks_cover_the_text_within_size_with_bounded_overlap(chunk_size, overlap):
    text = _prose(12, seed=chunk_size)
    chunks = chunk_text(text, chunk_size, overlap)
    _check(text, chunks, chunk_size, overlap)
    assert chunk_text(text, chunk_size, overlap) == chunks  # deterministic
    covered = set()
    for c in chunks:
        covered.update(range(c.start, c.end))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())


def test_overlap_is_honoured_and_starts_on_a_word():
    text = _prose(6)
    chunks = chunk_text(text, 300, 80)
    overlaps = [before.end - after.start for before, after in zip(chunks, chunks[1:], strict=False)]
    assert overlaps and all(40 <= o <= 80 for o in overlaps)  # close to asked: only a word's length is given up
    assert all(text[c.start - 1].isspace() for c in chunks[1:])


def test_cuts_at_paragraphs_then_sentences_then_words():
    paragraphs = ["First paragraph, about setup. " * 3, "Second one, on usage here. " * 3, "Third: limits apply. " * 4]
    text = "\n\n".join(p.strip() for p in paragraphs)
    chunks = chunk_text(text, 150, 0)  # one paragraph fits in a chunk, no two do: cut between them
    assert [c.text for c in chunks] == [p.strip() for p in paragraphs]

    sentences = "One sentence here, with words. " * 20
    for c in chunk_text(sentences, 100, 20)[:-1]:
        assert c.text.endswith(".")

    words = "word " * 100
    for c in chunk_text(words, 33, 5):
        assert c.text.split() == ["word"] * len(c.text.split()) and c.text.endswith("word")


def test_a_word_longer_than_a_chunk_is_cut_inside():
    chunks = chunk_text("x" * 25, 10, 2)
    _check("x" * 25, chunks, 10, 2)
    assert [len(c.text) for c in chunks] == [10, 10, 9]


@pytest.mark.parametrize(("chunk_size", "overlap"), [(0, 0), (10, 10), (10, -1)])
def test_bad_sizes_are_refused(chunk_size, overlap):
    with pytest.raises(ValueError):
        chunk_text("text", chunk_size, overlap)


# --- the index


def _unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def _ingest(index, owner, collection, file_id, filename, texts, vectors):
    index.start_file(owner, collection, file_id, filename, len(texts))
    return index.add_file(owner, collection, file_id, texts, np.stack(vectors))


@pytest.fixture
def index(tmp_path):
    """Three files of alice's in "docs", each with chunks along its own axis of 4 dimensions."""
    index = SqliteVecIndex(tmp_path)
    _ingest(
        index,
        "alice",
        "docs",
        "file-a",
        "apples.txt",
        ["apples 0", "apples 1"],
        [_unit(1, 0, 0, 0), _unit(1, 0.2, 0, 0)],
    )
    _ingest(
        index, "alice", "docs", "file-b", "boats.md", ["boats 0", "boats 1"], [_unit(0, 1, 0, 0), _unit(0, 1, 0.3, 0)]
    )
    _ingest(index, "alice", "docs", "file-c", "clouds.pdf", ["clouds 0"], [_unit(0, 0, 1, 0)])
    return index


def test_nearest_chunk_comes_first(index):
    hits = index.search("alice", "docs", _unit(0.05, 1, 0.28, 0), top_k=3)
    assert [(h.file_id, h.chunk_index) for h in hits] == [("file-b", 1), ("file-b", 0), ("file-c", 0)]
    assert hits[0] == Hit("file-b", "boats.md", 1, "boats 1", pytest.approx(hits[0].distance))
    assert hits[0].distance < 0.01 and [h.distance for h in hits] == sorted(h.distance for h in hits)
    top = index.search("alice", "docs", [3.0, 0.0, 0.0, 0.0], top_k=1)  # not normalised: cosine anyway
    assert [(h.text, round(h.distance, 5)) for h in top] == [("apples 0", 0.0)]
    assert len(index.search("alice", "docs", _unit(1, 1, 1, 1), top_k=50)) == 5


def test_owners_and_collections_are_separate(index):
    _ingest(index, "bob", "docs", "file-x", "bob.txt", ["bob's boats"], [_unit(0, 1, 0.3, 0)])
    _ingest(index, "alice", "other", "file-y", "other.txt", ["other boats"], [_unit(0, 1, 0.3, 0)])
    hits = index.search("alice", "docs", _unit(0, 1, 0.3, 0), top_k=10)
    assert {h.file_id for h in hits} == {"file-a", "file-b", "file-c"}
    assert [h.text for h in index.search("bob", "docs", _unit(1, 0, 0, 0), top_k=10)] == ["bob's boats"]
    assert index.search("carol", "docs", _unit(1, 0, 0, 0), top_k=10) == []
    assert [f.file_id for f in index.list_files("bob", "docs")] == ["file-x"]
    with pytest.raises(FileNotIndexed):
        index.get_file("bob", "docs", "file-a")
    assert index.delete_file("bob", "file-a") is False  # bob cannot delete alice's file
    assert len(index.search("alice", "docs", _unit(1, 0, 0, 0), top_k=10)) == 5


def test_search_restricted_to_some_files(index):
    hits = index.search("alice", "docs", _unit(1, 0.5, 0, 0), top_k=2, file_ids=["file-b", "file-c"])
    assert [(h.file_id, h.chunk_index) for h in hits] == [("file-b", 0), ("file-b", 1)]  # file-a is nearer, left out
    assert [h.text for h in index.search("alice", "docs", _unit(1, 0, 0, 0), 5, file_ids=["file-c"])] == ["clouds 0"]
    assert index.search("alice", "docs", _unit(1, 0, 0, 0), 5, file_ids=[]) == []
    assert index.search("alice", "docs", _unit(1, 0, 0, 0), 5, file_ids=["file-nope"]) == []


def test_delete_removes_the_file_from_search_and_listing(index):
    _ingest(index, "alice", "other", "file-a", "apples.txt", ["apples elsewhere"], [_unit(1, 0, 0, 0)])
    assert index.delete_file("alice", "file-a") is True
    assert "file-a" not in {h.file_id for h in index.search("alice", "docs", _unit(1, 0, 0, 0), top_k=10)}
    assert index.search("alice", "other", _unit(1, 0, 0, 0), top_k=10) == []  # gone from every collection
    assert [f.file_id for f in index.list_files("alice", "docs")] == ["file-b", "file-c"]
    assert index.delete_file("alice", "file-a") is False


def test_index_survives_reopening(index, tmp_path):
    again = SqliteVecIndex(tmp_path)
    assert [h.text for h in again.search("alice", "docs", _unit(0, 0, 1, 0), top_k=1)] == ["clouds 0"]
    assert [(f.filename, f.status, f.chunks_total) for f in again.list_files("alice", "docs")] == [
        ("apples.txt", "processed", 2),
        ("boats.md", "processed", 2),
        ("clouds.pdf", "processed", 1),
    ]
    assert (tmp_path / "documents.sqlite3").exists()


def test_status_goes_in_progress_then_processed(tmp_path):
    index = SqliteVecIndex(tmp_path)
    started = index.start_file("alice", "docs", "file-a", "a.txt", 3)
    assert (started.status, started.chunks_done, started.chunks_total, started.error) == ("in_progress", 0, 3, None)
    assert index.set_progress("alice", "docs", "file-a", 2).chunks_done == 2
    assert index.search("alice", "docs", _unit(1, 0), top_k=5) == []  # nothing searchable before it is processed
    done = index.add_file("alice", "docs", "file-a", ["a", "b", "c"], np.eye(3, 2, dtype=np.float32) + 0.1)
    assert (done.status, done.chunks_done, done.chunks_total) == ("processed", 3, 3)
    assert index.get_file("alice", "docs", "file-a") == done
    with pytest.raises(FileNotIndexed):  # a processed file takes no more chunks until started again
        index.add_file("alice", "docs", "file-a", ["d"], [[1.0, 0.0]])


def test_status_goes_to_error_and_restarting_drops_old_chunks(index):
    again = index.start_file("alice", "docs", "file-a", "apples v2.txt", 4)
    assert again.status == "in_progress" and again.chunks_done == 0
    assert "file-a" not in {h.file_id for h in index.search("alice", "docs", _unit(1, 0, 0, 0), top_k=10)}
    index.fail_file("alice", "docs", "file-a", "the embedding model is not loaded")
    failed = index.get_file("alice", "docs", "file-a")
    assert (failed.status, failed.error, failed.filename) == (
        "error",
        "the embedding model is not loaded",
        "apples v2.txt",
    )
    with pytest.raises(FileNotIndexed):
        index.set_progress("alice", "docs", "file-a", 1)
    index.fail_file("alice", "docs", "file-gone", "no such file: ignored")
    with pytest.raises(FileNotIndexed):
        index.get_file("alice", "docs", "file-gone")


def test_a_file_deleted_while_ingested_is_not_brought_back(tmp_path):
    index = SqliteVecIndex(tmp_path)
    index.start_file("alice", "docs", "file-a", "a.txt", 1)
    index.delete_file("alice", "file-a")
    with pytest.raises(FileNotIndexed):
        index.set_progress("alice", "docs", "file-a", 1)
    with pytest.raises(FileNotIndexed):
        index.add_file("alice", "docs", "file-a", ["a"], [[1.0, 0.0]])
    assert index.list_files("alice", "docs") == []


def test_bad_vectors_and_dimensions_are_refused(index):
    index.start_file("alice", "docs", "file-d", "d.txt", 1)
    for texts, vectors, message in [
        (["one"], [[1.0, 0.0, 0.0]], "dimension 4, these have 3"),
        (["one", "two"], [[1.0, 0.0, 0.0, 0.0]], "2 chunks need as many vectors"),
        (["one"], [[0.0, 0.0, 0.0, 0.0]], "not all zero"),
        (["one"], [[float("nan"), 1.0, 0.0, 0.0]], "finite"),
        (["one"], [1.0, 0.0, 0.0, 0.0], "rows"),
    ]:
        with pytest.raises(ValueError, match=message):
            index.add_file("alice", "docs", "file-d", texts, vectors)
    assert index.get_file("alice", "docs", "file-d").status == "in_progress"  # a refused add changed nothing
    with pytest.raises(ValueError, match="dimension 4; the query has 2"):
        index.search("alice", "docs", [1.0, 0.0], top_k=1)
    with pytest.raises(ValueError, match="top_k"):
        index.search("alice", "docs", _unit(1, 0, 0, 0), top_k=0)
    # Another collection may hold another model's vectors.
    _ingest(index, "alice", "small", "file-s", "s.txt", ["small"], [_unit(1, 0)])
    assert [h.text for h in index.search("alice", "small", [1.0, 0.1], top_k=1)] == ["small"]


def test_calls_from_threads_of_an_event_loop(tmp_path):
    index = SqliteVecIndex(tmp_path)
    rng = np.random.default_rng(1)

    async def ingest(number: int) -> None:
        file_id = f"file-{number}"
        await asyncio.to_thread(index.start_file, "alice", "docs", file_id, f"{number}.txt", 3)
        vectors = rng.standard_normal((3, 8)).astype(np.float32)
        await asyncio.to_thread(index.add_file, "alice", "docs", file_id, [f"{number}-{i}" for i in range(3)], vectors)

    async def main() -> list[list[Hit]]:
        await asyncio.gather(*(ingest(n) for n in range(8)))
        queries = [asyncio.to_thread(index.search, "alice", "docs", rng.standard_normal(8), 4) for _ in range(8)]
        return await asyncio.gather(*queries)

    results = asyncio.run(main())
    assert all(len(hits) == 4 for hits in results)
    assert {f.status for f in index.list_files("alice", "docs")} == {"processed"}
    assert len(index.search("alice", "docs", rng.standard_normal(8), top_k=100)) == 24


def _ingest_in_a_process(directory: str, worker: int) -> int:
    index = SqliteVecIndex(directory)
    rng = np.random.default_rng(worker)
    for number in range(5):
        file_id = f"file-{worker}-{number}"
        index.start_file("alice", "docs", file_id, f"{file_id}.txt", 2)
        index.set_progress("alice", "docs", file_id, 1)
        index.add_file("alice", "docs", file_id, ["one", "two"], rng.standard_normal((2, 8)))
        index.search("alice", "docs", rng.standard_normal(8), top_k=3)
    return worker


def test_several_processes_share_the_database(tmp_path):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(3, mp_context=multiprocessing.get_context("spawn")) as pool:
        assert sorted(pool.map(_ingest_in_a_process, [str(tmp_path)] * 3, range(3))) == [0, 1, 2]
    index = SqliteVecIndex(tmp_path)
    assert [f.status for f in index.list_files("alice", "docs")] == ["processed"] * 15
    assert len(index.search("alice", "docs", np.ones(8), top_k=100)) == 30
