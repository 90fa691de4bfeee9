"""The text of an uploaded document, by format: what gets chunked and embedded.

The format is taken from the file name's extension (a PDF is also recognised by its
first bytes), never guessed from arbitrary bytes: a binary file under a text name is
refused rather than indexed as garbage. Each parser keeps paragraph breaks as blank
lines, since the chunker prefers to cut there.
"""

from __future__ import annotations

import csv
import io
import json
import re
from html.parser import HTMLParser
from pathlib import PurePath

TEXT = {".txt", ".text", ".md", ".markdown"}
HTML = {".html", ".htm"}
ACCEPTED = "txt, md, html, csv, json, pdf, docx"


class DocumentError(ValueError):
    """The file is not in an accepted format, or its content cannot be read as that format."""


def extract_text(filename: str, data: bytes) -> str:
    """The file's text, whitespace tidied; DocumentError if it cannot be read or holds no text."""
    extension = PurePath(filename).suffix.lower()
    if data[:5] == b"%PDF-" or extension == ".pdf":
        text = _pdf(filename, data)
    elif extension == ".docx":
        text = _docx(filename, data)
    elif extension in TEXT:
        text = _decode(filename, data)
    elif extension in HTML:
        text = _html(_decode(filename, data))
    elif extension == ".csv":
        text = _csv(filename, _decode(filename, data))
    elif extension == ".json":
        text = _json(filename, _decode(filename, data))
    else:
        raise DocumentError(f"file {filename!r} is not in an accepted format ({ACCEPTED})")
    text = _tidy(text)
    if not text:
        raise DocumentError(f"file {filename!r} holds no text (a scanned PDF has only images)")
    return text


def _decode(filename: str, data: bytes) -> str:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        encoding = "utf-16"
    elif b"\x00" in data:
        raise DocumentError(f"file {filename!r} is binary, not text; accepted formats: {ACCEPTED}")
    else:
        encoding = "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        raise DocumentError(f"file {filename!r} is not UTF-8 text; accepted formats: {ACCEPTED}") from None


def _tidy(text: str) -> str:
    """Unix line ends, no trailing spaces, at most one blank line in a row."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"[ \t\f\v]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


class _HTMLText(HTMLParser):
    """Visible text; block elements end a line so paragraphs stay apart."""

    SKIP = {"script", "style", "noscript", "template"}
    BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "pre", "table"}
    BLOCK |= {"blockquote", "ul", "ol", "dl", "dt", "dd", "hr", "header", "footer", "nav", "aside", "main", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCK:
            self.parts.append("\n\n")
        elif tag in ("td", "th"):
            self.parts.append(" | ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(re.sub(r"\s+", " ", data))


def _html(source: str) -> str:
    parser = _HTMLText()
    parser.feed(source)
    parser.close()
    lines = (line.strip(" |") for line in "".join(parser.parts).split("\n"))
    return "\n".join(re.sub(r" {2,}", " ", line) for line in lines)


def _csv(filename: str, source: str) -> str:
    """One line per row, each value named by its column, so a chunk of rows still says what each value is."""
    try:
        rows = [row for row in csv.reader(io.StringIO(source)) if any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise DocumentError(f"file {filename!r} is not valid CSV: {exc}") from None
    if not rows:
        return ""
    width = max(len(row) for row in rows)
    names = [cell.strip() or f"column {i + 1}" for i, cell in enumerate(rows[0] + [""] * (width - len(rows[0])))]
    lines = []
    for row in rows[1:]:
        named = (f"{name}: {cell.strip()}" for name, cell in zip(names, row, strict=False) if cell.strip())
        lines.append("; ".join(named))
    return "\n".join(lines) if lines else ", ".join(names)


def _json(filename: str, source: str) -> str:
    try:
        value = json.loads(source)
    except json.JSONDecodeError as exc:
        raise DocumentError(f"file {filename!r} is not valid JSON: {exc}") from None
    return json.dumps(value, indent=2, ensure_ascii=False)


def _pdf(filename: str, data: bytes) -> str:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        return "\n\n".join((page.extract_text() or "").strip() for page in reader.pages)
    except Exception as exc:  # pypdf raises many kinds on damaged or encrypted files
        raise DocumentError(f"file {filename!r} could not be read as a PDF: {exc}") from None


def _docx(filename: str, data: bytes) -> str:
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
        blocks = []
        for block in document.iter_inner_content():  # paragraphs and tables in reading order
            if isinstance(block, Table):
                blocks.append("\n".join(" | ".join(cell.text.strip() for cell in row.cells) for row in block.rows))
            else:
                blocks.append(block.text)
        return "\n\n".join(block for block in blocks if block.strip())
    except Exception as exc:  # not a zip, not a Word document, damaged XML
        raise DocumentError(f"file {filename!r} could not be read as a Word (docx) document: {exc}") from None
