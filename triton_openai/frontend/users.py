"""Closed access: user accounts whose `user` field (`name:password`) authenticates a request.

As h2oGPT's `--auth_access closed`, without its holes: passwords are stored as scrypt
hashes (salted, from the standard library's OpenSSL binding) in a JSON file
`{"users": {"name": "scrypt$n$r$p$salt$hash"}}`, compared in constant time, and the file
is read again when it changes (triton_openai.frontend.watched_file; a broken file keeps the last good
accounts). `triton-openai add-user` writes it. In open access `user`
is only an identifier, as in OpenAI's API.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import tempfile
from pathlib import Path

from triton_openai.frontend import errors
from triton_openai.frontend.watched_file import WatchedFile

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        given = hashlib.scrypt(
            password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(given, expected)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class UserStore:
    def __init__(self, path: str | Path) -> None:
        self._file = WatchedFile(path, _parse_users_file, {}, "user accounts")
        self.path = self._file.path

    def add(self, name: str, password: str) -> None:
        if not name or ":" in name or not name.isprintable():
            raise ValueError("a user name must be printable and must not contain ':'")
        if len(password) < 8:
            raise ValueError("a password needs at least 8 characters")
        users = dict(self._file.refresh())
        users[name] = hash_password(password)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".users-", dir=self.path.parent)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump({"users": users}, out, indent=1)
        os.chmod(temporary, 0o600)
        os.replace(temporary, self.path)
        self._file.refresh()

    def authenticate(self, credentials: str | None) -> str:
        """The owner id of a valid `name:password`; 401 otherwise."""
        if not credentials or ":" not in credentials:
            raise errors.Unauthorized("This server has closed access: send `user` as `name:password`.", param="user")
        name, _, password = credentials.partition(":")
        stored = self._file.current().get(name)
        # Hash even for an unknown name, so that timing does not tell which names exist.
        valid = check_password(password, stored or _DUMMY)
        if stored is None or not valid:
            raise errors.Unauthorized("Incorrect user name or password.", param="user", code="invalid_user")
        return "user-" + name


def _parse_users_file(text: str) -> dict[str, str]:
    data = json.loads(text or "{}")
    users = data.get("users", {}) if isinstance(data, dict) else None
    if not isinstance(users, dict) or not all(isinstance(v, str) for v in users.values()):
        raise ValueError('expected {"users": {"name": "scrypt$..."}}')
    return dict(users)


_DUMMY = hash_password(secrets.token_hex(8))
