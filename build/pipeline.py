"""From model specs to a rendered repository: what `serve` and `build` both run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from build.prepare import ModelSpec, ModelSpecError, prepare_model
from build.repository import LLMDeployment, render_repository


def build_repository(models: list[str], out_dir: Path, cache: Path, **engine_options: Any) -> Path:
    """Prepare every model (converting once into `cache`) and render the repository."""
    specs = [ModelSpec.parse(m) for m in models]
    names = [s.name for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ModelSpecError(f"two models are named {', '.join(duplicates)}; name them: --model NAME=SOURCE")
    deployments = [LLMDeployment(prepare_model(spec, cache), **engine_options) for spec in specs]
    return render_repository(deployments, out_dir)
