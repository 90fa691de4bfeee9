"""Generated images served by URL, on PostgreSQL (`generated_images`, migration 0004), so that
any frontend serves an image another one made. The contract is GeneratedImages' (frontend.
files.generated_images): a random name is the URL's credential, and it expires `ttl` seconds
after the image was made; expired rows are removed as new images are stored.
"""

from __future__ import annotations

import time

from triton_openai.frontend.database.postgres import Database
from triton_openai.frontend.files.generated_images import MEDIA_TYPES, new_name, valid_name
from triton_openai.frontend.files.store import FileNotFound


class PostgresImages:
    def __init__(self, database: Database, ttl: int) -> None:
        self.database = database
        self.ttl = ttl

    async def put(self, data: bytes, image_format: str) -> str:
        name = new_name(image_format)
        now = int(time.time())
        async with self.database.connection() as db:
            await db.execute("DELETE FROM generated_images WHERE expires_at <= %s", (now,))
            await db.execute(
                "INSERT INTO generated_images (name, media_type, data, expires_at) VALUES (%s, %s, %s, %s)",
                (name, MEDIA_TYPES[image_format], data, now + self.ttl),
            )
        return name

    async def get(self, name: str) -> tuple[bytes, str, int]:
        if not valid_name(name):
            raise FileNotFound(name)
        async with self.database.connection() as db:
            cursor = await db.execute(
                "SELECT data, media_type, expires_at FROM generated_images WHERE name = %s AND expires_at > %s",
                (name, int(time.time())),
            )
            row = await cursor.fetchone()
        if row is None:
            raise FileNotFound(name)
        return bytes(row[0]), row[1], int(row[2] - time.time())
