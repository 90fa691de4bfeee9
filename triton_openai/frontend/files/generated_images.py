"""Generated images served by URL, for `response_format: url`.

Each image is a file named by a random 128-bit id, served at `/v1/images/<id>` without an
API key: the URL itself is the credential, as OpenAI's signed image URLs are, and it
expires (`ttl` seconds after the image was made). Expired files are removed as new ones
are written. Files on disk, so every frontend worker serves every image.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
import time
from pathlib import Path

from triton_openai.frontend.files.store import FileNotFound

MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
URL_PREFIX = "/v1/images/img-"  # what the API-key middleware leaves open
_NAME = re.compile(r"^img-[0-9a-f]{32}\.(png|jpeg|webp)$")


class GeneratedImages:
    def __init__(self, directory: str | Path, ttl: int) -> None:
        self.directory = Path(directory)
        self.ttl = ttl

    def save(self, data: bytes, image_format: str) -> str:
        """Store the image; its name (the last part of its URL)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._sweep()
        name = f"img-{secrets.token_hex(16)}.{image_format}"
        fd, scratch = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(scratch, self.directory / name)
        return name

    def path(self, name: str) -> tuple[Path, str, int]:
        """(file, media type, seconds left) of a stored image; FileNotFound if unknown or expired."""
        if not _NAME.match(name):
            raise FileNotFound(name)
        path = self.directory / name
        try:
            left = self.ttl - (time.time() - path.stat().st_mtime)
        except FileNotFoundError:
            raise FileNotFound(name) from None
        if left <= 0:
            path.unlink(missing_ok=True)
            raise FileNotFound(name)
        return path, MEDIA_TYPES[name.rsplit(".", 1)[1]], int(left)

    def _sweep(self) -> None:
        cutoff = time.time() - self.ttl
        for item in self.directory.glob("img-*"):
            try:
                if item.stat().st_mtime < cutoff:
                    item.unlink(missing_ok=True)
            except FileNotFoundError:
                pass  # another worker swept it
