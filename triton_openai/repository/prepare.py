"""Turn a model spec (catalog name, Hugging Face folder or GGUF file) into a HF folder."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from triton_openai.repository.cache import building, digest, locked
from triton_openai.repository.catalog import CATALOG, PackagedModel
from triton_openai.repository.gguf_convert import CONVERTER_VERSION, convert_gguf

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class ModelSpecError(ValueError):
    """A --model value that names nothing we can serve."""


@dataclass(frozen=True)
class ModelSpec:
    """`[name=]source`: a catalog name, a Hugging Face model folder or a .gguf file."""

    name: str
    source: str

    @classmethod
    def parse(cls, text: str) -> ModelSpec:
        name, sep, source = text.partition("=")
        if not sep:
            name, source = "", text
        source = source.strip()
        if not name:
            name = source if source in CATALOG else Path(source).stem if source.endswith(".gguf") else Path(source).name
        name = name.strip().lower()
        if not _NAME.match(name):
            raise ModelSpecError(f"{name!r} is not a usable model name (letters, digits, '.', '_', '-')")
        return cls(name=name, source=source)


@dataclass(frozen=True)
class PreparedModel:
    name: str
    model_dir: Path
    weights_key: str  # changes when the weights change (part of system_fingerprint)
    gguf_file: str = ""  # the GGUF the folder was converted from (its blocks can be served as they are)

    @property
    def config(self) -> dict:
        return json.loads((self.model_dir / "config.json").read_text())

    @property
    def chat_template(self) -> str:
        """The chat template's source ("" without one; every variant of a multi-template model)."""
        jinja = self.model_dir / "chat_template.jinja"
        if jinja.is_file():
            return jinja.read_text()
        config = self.model_dir / "tokenizer_config.json"
        template = json.loads(config.read_text()).get("chat_template") if config.is_file() else None
        if isinstance(template, list):  # named templates: [{"name", "template"}, ...]
            return "\n".join(str(t.get("template", "")) for t in template)
        return str(template or "")

    @property
    def has_chat_template(self) -> bool:
        return bool(self.chat_template)

    @property
    def created(self) -> int:
        return int((self.model_dir / "config.json").stat().st_mtime)


def prepare_model(spec: ModelSpec, cache: Path) -> PreparedModel:
    if spec.source in CATALOG:
        packaged = CATALOG[spec.source]
        return _from_gguf(spec.name, packaged.locate(), cache, packaged.version(), packaged.generation_config)
    path = Path(spec.source).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return _from_gguf(spec.name, path, cache, str(path.stat().st_mtime_ns))
    if (path / "config.json").is_file():
        return PreparedModel(spec.name, path.resolve(), _folder_key(path))
    known = ", ".join(sorted(CATALOG))
    raise ModelSpecError(
        f"--model {spec.source!r} is neither a known model ({known}), a Hugging Face model folder "
        "(with config.json) nor a .gguf file"
    )


def _from_gguf(
    name: str, gguf: Path, cache: Path, version: str, generation_config: dict | None = None
) -> PreparedModel:
    # The folder is written by transformers' save_pretrained, whose format changes between its
    # versions (5.x writes tokenizer classes that 4.x cannot load): its version is in the key.
    parts = [gguf.name, gguf.stat().st_size, version, CONVERTER_VERSION, metadata.version("transformers")]
    if generation_config:
        parts.append(json.dumps(generation_config, sort_keys=True))
    key = digest(*parts)
    target = cache / "models" / f"{name}-{key}"
    with locked(target):
        if not (target / "config.json").is_file():
            logger.info("converting %s to a Hugging Face folder in %s (once)", gguf, target)
            with building(target) as scratch:
                convert_gguf(gguf, scratch)
                if generation_config:
                    _add_generation_config(scratch, generation_config)
    return PreparedModel(name, target, key, str(gguf.resolve()))


def _add_generation_config(folder: Path, values: dict) -> None:
    """Merge `values` into the folder's generation_config.json (save_pretrained wrote the token ids)."""
    path = folder / "generation_config.json"
    config = json.loads(path.read_text()) if path.is_file() else {}
    path.write_text(json.dumps({**config, **values}, indent=2) + "\n")


def _folder_key(path: Path) -> str:
    files = sorted(p for p in path.iterdir() if p.is_file())
    return digest(*[(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files])


def packaged_models() -> list[PackagedModel]:
    return list(CATALOG.values())
