"""What every LLM engine (torch, TensorRT-LLM) is given and what it reports.

`EngineConfig` is triton_openai.model_settings.LLMEngineSettings, read from the llm model's
`config.pbtxt` parameters; `EngineStats` is what the llm model publishes as Prometheus
metrics on Triton's metrics port.
"""

from __future__ import annotations

from dataclasses import dataclass

from triton_openai.model_settings import LLMEngineSettings

# The engines' name for the llm model's settings, defined once with the CLI's flags.
EngineConfig = LLMEngineSettings


@dataclass(frozen=True)
class EngineStats:
    running: int = 0
    waiting: int = 0
    finished_total: int = 0
    cancelled_total: int = 0
    generated_tokens_total: int = 0
    prompt_tokens_total: int = 0
    cached_prompt_tokens_total: int = 0
    kv_blocks_used: int = 0
    kv_blocks_total: int = 0
    preempted_total: int = 0
