"""Document Q&A core: text extraction per format and chunking (the index: test_document_index.py)."""

import io
import json

import numpy as np
import pytest

from tests.pdf import text_pdf
from triton_openai.frontend.documents.chunk import Chunk, chunk_text
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
