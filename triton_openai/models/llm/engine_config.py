"""What every LLM engine (torch, TensorRT-LLM) is given and what it reports.

`EngineConfig` comes from the llm model's `config.pbtxt` parameters; `EngineStats` is
what the llm model publishes as Prometheus metrics on Triton's metrics port.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EngineConfig:
    max_num_seqs: int = 32
    max_queue_len: int = 256
    prefill_chunk: int = 512  # tokens per forward pass: decoding rows plus prompt chunks
    max_loras: int = 4  # LoRA adapters kept loaded (0: no LoRA)
    kv_cache_tokens: int = 0  # the KV cache's size in tokens (0: max(context, 1024 per sequence))
    block_size: int = 16  # tokens per KV block
    prefix_caching: bool = True
    # CPU threads of the engine's own thread, the one that runs every step (0: leave torch's count).
    # The OpenMP runtime spins between parallel regions only while its threads do not outnumber the
    # cores; a second thread team (another thread that ran a parallel op) makes every step's
    # hundred-odd regions sleep and wake instead. So the thread that loads the model runs at one
    # thread, and this engine thread alone owns a team.
    num_threads: int = 0


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
