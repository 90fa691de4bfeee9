"""Render `model_repository/` templates into a repository tritonserver loads.

Each served LLM becomes three Triton models: `<name>` (the ensemble clients call),
`<name>_preprocessing` and `<name>_llm`. Only the ensemble carries the `openai_kind`
parameter, which is how the frontend tells served models from their parts.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from build.cache import digest
from build.fill_template import fill_template
from build.prepare import PreparedModel

TEMPLATES = Path(__file__).resolve().parent.parent / "model_repository"
VERSION_KEY = "triton-openai/1"


@dataclass(frozen=True)
class LLMDeployment:
    """How one LLM is served: its engine and the engine's limits."""

    model: PreparedModel
    engine: str = "torch"
    device: str = "auto"
    dtype: str = "auto"
    max_model_len: int = 0  # 0: the model's own context window
    max_num_seqs: int = 32
    max_queue_len: int = 256
    prefill_chunk: int = 512
    num_threads: int = 0  # 0: all cores
    max_batch_size: int = 64  # Triton's batch dimension; the engine batches on its own
    preprocessing_instances: int = 1

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def context_length(self) -> int:
        window = int(self.model.config.get("max_position_embeddings") or 2048)
        return min(self.max_model_len, window) if self.max_model_len > 0 else window

    @property
    def system_fingerprint(self) -> str:
        return "fp_" + digest(VERSION_KEY, self.model.weights_key, self.engine, self.device, self.dtype, length=10)


def render_repository(deployments: list[LLMDeployment], out_dir: Path) -> Path:
    """Write one ensemble + preprocessing + llm per deployment into `out_dir` (replaced)."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    for d in deployments:
        common = {"max_batch_size": d.max_batch_size, "model_dir": d.model.model_dir}
        _render(
            "preprocessing",
            out_dir / f"{d.name}_preprocessing",
            {**common, "preprocessing_instances": d.preprocessing_instances},
        )
        _render(
            "llm",
            out_dir / f"{d.name}_llm",
            {
                **common,
                "engine": d.engine,
                "device": d.device,
                "dtype": d.dtype,
                "max_model_len": d.context_length,
                "max_num_seqs": d.max_num_seqs,
                "max_queue_len": d.max_queue_len,
                "prefill_chunk": d.prefill_chunk,
                "num_threads": d.num_threads,
            },
        )
        _render(
            "ensemble",
            out_dir / d.name,
            {
                "served_model_name": d.name,
                "max_batch_size": d.max_batch_size,
                "preprocessing_model": f"{d.name}_preprocessing",
                "llm_model": f"{d.name}_llm",
                "openai_kind": "llm",
                "has_chat_template": str(d.model.has_chat_template).lower(),
                "max_model_len": d.context_length,
                "system_fingerprint": d.system_fingerprint,
                "created": d.model.created,
            },
        )
    return out_dir


def _render(template: str, target: Path, values: dict[str, object]) -> None:
    source = TEMPLATES / template
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".gitkeep"))
    config = target / "config.pbtxt"
    config.write_text(fill_template(config.read_text(), values))
