"""API keys: `Authorization: Bearer <key>` (or Anthropic's `x-api-key: <key>`) on every /v1
route when keys are configured.

Keys come from `--api-keys k1,k2` and/or `--api-keys-file keys.json` (a JSON list of
strings). The file is read again when it changes (triton_openai.frontend.watched_file), so keys rotate
without a restart; a file that cannot be read keeps the last good keys.
Keys are compared in constant time and never logged. Each request gets an `owner`
(`key-` + a hash of its key, or `anonymous` when keys are off): what files and other
per-caller data belong to.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from triton_openai.frontend import errors
from triton_openai.frontend.files.generated_images import URL_PREFIX
from triton_openai.frontend.watched_file import WatchedFile

ANONYMOUS = "anonymous"
_OPEN_PATHS = ("/health", "/version")
# Generated image URLs are their own credential: unguessable and expiring (frontend.files.generated_images).
_OPEN_PREFIXES = (URL_PREFIX,)


def owner_of(key: str) -> str:
    return "key-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]


def parse_keys(text: str) -> list[str]:
    return [key.strip() for key in text.split(",") if key.strip()]


class KeyStore:
    def __init__(self, keys: list[str], path: str | None = None) -> None:
        self._static = [k for k in keys if k]
        self._file = WatchedFile(path, _parse_keys_file, [], "API keys", strict=True) if path else None

    @property
    def enabled(self) -> bool:
        return bool(self._static) or self._file is not None

    def keys(self) -> list[str]:
        return self._static + (self._file.current() if self._file is not None else [])

    def match(self, presented: str) -> bool:
        """Whether `presented` is a key; every key is compared, in constant time each."""
        given = presented.encode("utf-8")
        found = False
        for key in self.keys():
            found |= hmac.compare_digest(given, key.encode("utf-8"))
        return found


def _parse_keys_file(text: str) -> list[str]:
    keys = json.loads(text)
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise ValueError("expected a JSON list of strings")
    return [k for k in keys if k]


class APIKeyMiddleware:
    """ASGI middleware: 401 in OpenAI's envelope for a missing or wrong key."""

    def __init__(
        self,
        app: Any,
        store: KeyStore,
        admin: KeyStore | None = None,
        admin_paths: tuple[str, ...] = (),
        protect_metrics: bool = False,
    ) -> None:
        self.app = app
        self.store = store
        self.admin = admin or KeyStore([])
        self.admin_paths = admin_paths
        self.protect_metrics = protect_metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        owner = ANONYMOUS
        path = scope["path"]
        # Admin routes take admin keys only; with no keys at all the server is open, admin routes too.
        admin_route = path in self.admin_paths
        store = self.admin if admin_route else self.store
        guarded = (self.store.enabled or self.admin.enabled) if admin_route else self.store.enabled
        if guarded and self._protected(path):
            if admin_route and not self.admin.enabled:
                await _reject(send, "Admin routes are off: this server has API keys and no --admin-api-keys.", path)
                return
            key = presented_key(scope)
            if key is None:
                message = "You didn't provide an API key. Send it as `Authorization: Bearer <key>` or `x-api-key`."
                await _reject(send, message, path)
                return
            if not store.match(key):
                what = "admin key" if store is self.admin else "API key"
                await _reject(send, f"Incorrect {what} provided.", path, code="invalid_api_key")
                return
            owner = owner_of(key)
        scope.setdefault("state", {})["owner"] = owner
        await self.app(scope, receive, send)

    def _protected(self, path: str) -> bool:
        if path in _OPEN_PATHS or path.startswith(_OPEN_PREFIXES):
            return False
        if path == "/metrics":
            return self.protect_metrics
        return True


def presented_key(scope: dict[str, Any]) -> str | None:
    """The key of a Bearer `Authorization` header, else of an `x-api-key` header (Anthropic's SDK)."""
    headers = dict(scope.get("headers", ()))
    authorization = headers.get(b"authorization")
    if authorization is not None:
        scheme, _, token = authorization.decode("latin-1").partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    api_key = headers.get(b"x-api-key", b"").decode("latin-1").strip()
    return api_key or None


async def _reject(send: Any, message: str, path: str, code: str | None = None) -> None:
    error = errors.Unauthorized(message, code=code)
    await errors.send_error(send, error, [(b"www-authenticate", b"Bearer")], path=path)


def key_store_from(api_keys: str, api_keys_file: str | None) -> KeyStore:
    return KeyStore(parse_keys(api_keys), api_keys_file)
