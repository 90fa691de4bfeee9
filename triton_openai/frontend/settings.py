"""The server's settings: one definition for CLI flags and environment variables.

Every field is a flag (`--max-num-seqs 16`) and an environment variable
(`TRITON_OPENAI_MAX_NUM_SEQS=16`); a flag wins over the variable, which wins over the
default. List fields take a flag several times, or a JSON list in the variable.
"""

from __future__ import annotations

import argparse
import json
import os
import typing
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from triton_openai.repository.settings import RepositorySettings

ENV_PREFIX = "TRITON_OPENAI_"


class Settings(RepositorySettings, BaseSettings):
    """The frontend's fields here; the models and their settings from RepositorySettings."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=False)

    # HTTP frontend
    host: str = Field("0.0.0.0", description="Address the OpenAI API listens on.")
    port: int = Field(5000, description="Port of the OpenAI API.")
    workers: int = Field(1, ge=1, description="Frontend worker processes.")
    log_level: str = Field("info", description="Log level: debug, info, warning, error.")

    # Who may call
    api_keys: str = Field(
        "",
        description="Comma-separated API keys; when set (or --api-keys-file), /v1 routes need one as a Bearer token.",
    )
    api_keys_file: str | None = Field(
        None, description="JSON list of API keys, read again when it changes (keys rotate without a restart)."
    )
    auth_access: Literal["open", "closed"] = Field(
        "open", description="closed: every request's `user` must be name:password of an account in --users-file."
    )
    users_file: str | None = Field(
        None, description="User accounts (scrypt hashes); `triton-openai add-user` writes it."
    )
    admin_api_keys: str = Field(
        "",
        description="Comma-separated keys for the admin routes (LoRA load/unload). When API keys are on, "
        "those routes take only these keys (and are off without them).",
    )
    metrics_require_key: bool = Field(False, description="Ask for an API key on /metrics too.")
    ssl_certfile: str | None = Field(None, description="TLS certificate (PEM): serve HTTPS.")
    ssl_keyfile: str | None = Field(None, description="TLS private key (PEM) of --ssl-certfile.")

    # Limits
    max_request_bytes: int = Field(
        0, ge=0, description="Largest request body in bytes, 413 above (0: the file / audio limit + 1 MiB)."
    )
    request_timeout: float = Field(
        600.0, ge=0, description="Seconds a non-streamed request may take (504 after; 0: none)."
    )
    max_prompt_tokens: int = Field(
        0, ge=0, description="Most prompt tokens a request may send (400 above; 0: the context)."
    )
    max_json_bytes: int = Field(
        0,
        ge=0,
        description="Largest JSON request body in bytes, 413 above (0: sized from the served models: the "
        "largest context in characters, escaped, plus the images a chat request may carry when a model takes "
        "images). Uploads keep --max-request-bytes.",
    )
    reasoning_parser: Literal["auto", "think", "none"] = Field(
        "auto",
        description="Split <think>...</think> reasoning into reasoning_content: auto (models whose chat template "
        "uses <think>), think (every chat model), none.",
    )

    # State: files, document index, runtime LoRA adapters
    database_url: str | None = Field(
        None,
        description="Where the frontend keeps its state (files, document index, runtime LoRA adapters): "
        "sqlite:///FOLDER, embedded on this host (the default: the --files-dir folder), or "
        "postgresql://USER:PASSWORD@HOST:PORT/DATABASE, one database that several frontends share.",
    )
    database_pool_size: int = Field(
        10, ge=1, description="Most connections each frontend process opens to the PostgreSQL database."
    )
    files_dir: str | None = Field(
        None,
        description="Folder of /v1/files with SQLite: its database and bytes "
        "(default: $XDG_DATA_HOME/triton-openai/files).",
    )
    max_file_bytes: int = Field(100 * 1024 * 1024, ge=1, description="Largest file upload in bytes (413 above).")
    files_quota_bytes: int = Field(1024**3, ge=1, description="Bytes of files each key (or user) may keep.")
    documents_dir: str | None = Field(
        None, description="Folder of the document Q&A index (sqlite-vec; default: documents/ in the files folder)."
    )
    document_chunk_size: int = Field(
        1000, ge=100, le=100_000, description="Characters per chunk of an ingested document."
    )
    document_chunk_overlap: int = Field(100, ge=0, description="Characters shared by consecutive chunks.")
    responses_max_stored: int = Field(
        10_000, ge=1, description="Stored responses (/v1/responses with store) kept in all; the oldest go first."
    )
    responses_max_age: int = Field(
        30 * 24 * 3600, ge=1, description="Seconds a stored response is kept (default 30 days, as OpenAI)."
    )

    # Where Triton is
    triton_url: list[str] = Field(
        default_factory=list,
        description="gRPC address (host:port) of a running Triton to use; none is started then. Repeat (or "
        "comma-separate) for several serving the same models: requests go to the healthy one with the fewest "
        "in flight. Without it, an embedded tritonserver is started on loopback.",
    )
    triton_metrics_url: str | None = Field(
        None,
        description="Triton's Prometheus endpoint, for the engine gauges on /metrics "
        "(default: port 8002 of the --triton-url host, or the embedded Triton's).",
    )
    triton_grpc_port: int = Field(0, description="gRPC port of the embedded Triton (0: a free one).")
    triton_http_port: int = Field(0, description="HTTP port of the embedded Triton (0: a free one).")
    triton_metrics_port: int = Field(0, description="Metrics port of the embedded Triton (0: a free one).")
    triton_log: str | None = Field(None, description="File for the embedded Triton's log (default: in the run folder).")
    triton_startup_timeout: float = Field(600.0, description="Seconds to wait for the embedded Triton to be ready.")
    tritonserver: str | None = Field(
        None,
        description="tritonserver binary of the embedded Triton, with its own backends/ beside its bin/ (e.g. "
        "/opt/tritonserver/bin/tritonserver in NGC images); default: the nvidia-pytriton wheel's.",
    )

    # What the embedded Triton serves is RepositorySettings (the models, each kind's settings); here the
    # frontend's own limits on what requests bring
    lora: list[str] = Field(
        default_factory=list,
        description="LoRA adapter served by name: name=folder (peft's save_pretrained). Repeat for several.",
    )
    max_audio_bytes: int = Field(25 * 1024 * 1024, ge=1, description="Largest audio upload in bytes (413 above).")
    max_image_bytes: int = Field(20 * 1024 * 1024, ge=1, description="Largest image in a chat request, in bytes.")
    image_fetch_timeout: float = Field(10.0, gt=0, description="Seconds to fetch an image URL of a chat request.")
    allow_private_image_urls: bool = Field(
        False,
        description="Fetch image URLs on private, loopback and link-local addresses too (off: refused, "
        "against server-side request forgery).",
    )
    generated_images_dir: str | None = Field(
        None,
        description="Folder of generated images served by URL (default: images/ beside the files store).",
    )
    generated_image_ttl: int = Field(3600, ge=1, description="Seconds a generated image's URL stays valid.")
    public_url: str | None = Field(
        None,
        description="Base URL clients reach this server at (e.g. https://api.example.com), for generated "
        "image URLs; default: the request's own.",
    )

    @field_validator("triton_url", mode="before")
    @classmethod
    def _split_urls(cls, value: Any) -> Any:
        values = [value] if isinstance(value, str) else value
        if isinstance(values, list):
            return [url.strip() for item in values for url in str(item).split(",") if url.strip()]
        return value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite://", "postgresql://", "postgres://")):
            raise ValueError("--database-url takes sqlite:///FOLDER or postgresql://USER:PASSWORD@HOST/DATABASE")
        return value

    @model_validator(mode="after")
    def _one_files_folder(self) -> Settings:
        folder = self._sqlite_folder()
        if folder and self.files_dir and os.path.abspath(folder) != os.path.abspath(self.files_dir):
            raise ValueError("--database-url sqlite:///FOLDER and --files-dir name two folders: give one")
        return self

    @model_validator(mode="after")
    def _closed_access_needs_users(self) -> Settings:
        if self.auth_access == "closed" and not self.users_file:
            raise ValueError("--auth-access closed needs --users-file (add users with `triton-openai add-user`)")
        return self

    def resolved_triton_metrics_url(self) -> str | None:
        if self.triton_metrics_url or not self.triton_url:
            return self.triton_metrics_url
        host = self.triton_url[0].rsplit(":", 1)[0]  # the first server's engine gauges
        return f"http://{host}:8002/metrics"

    def resolved_max_request_bytes(self) -> int:
        return self.max_request_bytes or max(self.max_file_bytes, self.max_audio_bytes) + 1024 * 1024

    def uses_postgres(self) -> bool:
        return (self.database_url or "").startswith(("postgresql://", "postgres://"))

    def _sqlite_folder(self) -> str | None:
        """FOLDER of sqlite:///FOLDER (sqlite:////abs/folder and sqlite:///rel/folder, as SQLAlchemy writes them)."""
        url = self.database_url or ""
        if not url.startswith("sqlite:///"):
            return None
        return url[len("sqlite:///") :] or None

    def resolved_files_dir(self) -> str:
        folder = self.files_dir or self._sqlite_folder()
        if folder:
            return folder
        base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
        return os.path.join(base, "triton-openai", "files")

    def resolved_documents_dir(self) -> str:
        return self.documents_dir or os.path.join(self.resolved_files_dir(), "documents")

    def resolved_generated_images_dir(self) -> str:
        return self.generated_images_dir or os.path.join(self.resolved_files_dir(), "images")

    def to_env(self) -> dict[str, str]:
        """The settings as environment variables (how worker processes receive them)."""
        env = {}
        for name, value in self.model_dump().items():
            if value is None:
                continue
            text = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
            env[ENV_PREFIX + name.upper()] = text
        return env


def add_arguments(parser: argparse.ArgumentParser, fields: typing.Iterable[str] | None = None) -> None:
    """Add a flag for each Settings field (or the given ones); defaults stay with Settings."""
    for name, info in Settings.model_fields.items():
        if fields is not None and name not in fields:
            continue
        flag = "--" + name.replace("_", "-")
        env = ENV_PREFIX + name.upper()
        help_text = f"{info.description} [env {env}]"
        kind = _base_type(info.annotation)
        if kind is bool:
            parser.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif kind is list:
            parser.add_argument(flag, dest=name, action="append", default=None, help=help_text)
        else:
            parser.add_argument(flag, dest=name, type=kind, default=None, help=help_text)


def from_arguments(namespace: argparse.Namespace) -> Settings:
    given = {k: v for k, v in vars(namespace).items() if k in Settings.model_fields and v is not None}
    return Settings(**given)


def _base_type(annotation: Any) -> type:
    origin = typing.get_origin(annotation)
    if origin is list:
        return list
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if args:
        return _base_type(args[0])
    return annotation if isinstance(annotation, type) else str


def apply_env(settings: Settings) -> None:
    os.environ.update(settings.to_env())
