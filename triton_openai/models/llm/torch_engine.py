"""The torch engine: continuous (in-flight) batching over a Hugging Face causal LM.

One thread owns the model. Each turn of its loop it admits waiting requests, drops
cancelled ones, runs one prefill chunk of the oldest admitted request (so a long prompt
never stalls the running batch for more than a chunk), then one decode step for every
running request at once. Requests join the batch when their prefill ends and leave it
the step they finish; each keeps its own KV cache rows, sampling parameters, seed and
stop conditions.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import replace

import torch

from triton_openai.models.llm.engine_config import EngineConfig, EngineStats
from triton_openai.models.llm.guided import GuideCompiler
from triton_openai.models.llm.heap import release_free_memory
from triton_openai.models.llm.kv_cache import BatchKVCache
from triton_openai.models.llm.logprobs import token_logprobs
from triton_openai.models.llm.lora import LoRASet
from triton_openai.models.llm.model_loader import LoadedModel
from triton_openai.models.llm.params import EngineOverloaded, InvalidRequest
from triton_openai.models.llm.request import FINISH_CANCELLED, FINISH_ERROR, GenerationOutput, GenerationRequest
from triton_openai.models.llm.sampler import PenaltyState, sample
from triton_openai.models.llm.sequence import Sequence

logger = logging.getLogger(__name__)

# Idle this long, the engine gives freed heap back (triton_openai.models.llm.heap): a trim takes ~20 ms with a
# large heap, so it waits for a pause rather than running between back-to-back requests.
IDLE_SECONDS_BEFORE_TRIM = 1.0


class _Batch:
    """The running rows, their KV cache, penalty state and left padding, kept aligned."""

    def __init__(self, vocab_size: int, device: torch.device) -> None:
        self.rows: list[Sequence] = []
        self.cache = BatchKVCache()
        self.penalties = PenaltyState(vocab_size, device)
        self.pad: list[int] = []
        self.device = device

    def add(self, seqs: list[Sequence], cache: BatchKVCache, penalties: PenaltyState, pads: list[int]) -> None:
        """Rows that finished their prefill join below the running ones."""
        pad_rows, pad_new = self.cache.merge(cache)
        self.pad = [p + pad_rows for p in self.pad] + [p + pad_new for p in pads]
        self.penalties.append(penalties)
        self.rows.extend(seqs)

    def keep(self, indices: list[int]) -> None:
        if not indices:
            self.cache = BatchKVCache()
            self.penalties = PenaltyState(self.penalties.vocab_size, self.device)
            self.rows, self.pad = [], []
            return
        index = torch.tensor(indices, dtype=torch.long, device=self.device)
        self.cache.select_rows(index)
        self.penalties.select(index)
        self.rows = [self.rows[i] for i in indices]
        self.pad = [self.pad[i] for i in indices]
        common = min(self.pad)
        if common:
            self.cache.trim_left(common)
            self.pad = [p - common for p in self.pad]

    def attention_mask(self) -> torch.Tensor:
        """[rows, 1, 1, cache length + 1] boolean mask for a one-token decode step."""
        columns = torch.arange(self.cache.length + 1, device=self.device).unsqueeze(0)
        pad = torch.tensor(self.pad, device=self.device).unsqueeze(1)
        return (columns >= pad)[:, None, None, :]


class TorchEngine:
    """Serves GenerationRequests on one model; thread-safe `submit`."""

    def __init__(
        self,
        loaded: LoadedModel,
        config: EngineConfig | None = None,
        stats_listener: Callable[[EngineStats], None] | None = None,
    ) -> None:
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.device = loaded.device
        self.max_model_len = loaded.max_model_len
        self.eos_token_ids = loaded.eos_token_ids
        self.vocab_size = loaded.vocab_size
        self.guides = GuideCompiler(self.tokenizer, self.vocab_size)
        self.config = config or EngineConfig()
        dtype = next(self.model.parameters()).dtype
        self.loras = LoRASet(self.model, self.config.max_loras, dtype, self.device)
        self._stats_listener = stats_listener
        self._stats = EngineStats()
        self._published = self._stats  # what the stats listener got last
        self._cond = threading.Condition()
        self._waiting: deque[Sequence] = deque()
        self._prefilling: deque[tuple[Sequence, BatchKVCache]] = deque()
        self._batch = _Batch(self.vocab_size, self.device)
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="torch-engine", daemon=True)

    # -- public API -------------------------------------------------------------------------

    def start(self) -> TorchEngine:
        self._thread.start()
        return self

    def shutdown(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def submit(self, request: GenerationRequest) -> None:
        """Queue a request. Raises InvalidRequest or EngineOverloaded at once; never blocks."""
        request.params.validate()
        if any(not 0 <= t < self.vocab_size for t in request.prompt_ids):
            raise InvalidRequest(f"prompt token ids must be in [0, {self.vocab_size})")
        params = request.params
        matcher = self.guides.matcher(params.guide_type, params.guide) if params.guide_type else None
        seq = Sequence(request, self.tokenizer, self.eos_token_ids, self.max_model_len, self.device, matcher)
        if request.lora_name:  # loaded here, outside the engine thread; InvalidRequest if it does not fit
            seq.lora = self.loras.acquire(request.lora_name, request.lora_path)
        try:
            with self._cond:
                if self._stopping:
                    raise EngineOverloaded("the engine is shutting down")
                if len(self._waiting) >= self.config.max_queue_len:
                    raise EngineOverloaded(
                        f"the server is overloaded: {len(self._waiting)} requests are waiting; retry later"
                    )
                self._waiting.append(seq)
                self._cond.notify()
        except EngineOverloaded:
            if seq.lora is not None:  # refused: the adapter is not held for it
                self.loras.release(seq.lora)
            raise

    @property
    def stats(self) -> EngineStats:
        return self._stats

    # -- the loop ---------------------------------------------------------------------------

    def _run(self) -> None:
        with torch.inference_mode():
            while self._wait_for_work():
                try:
                    self._admit()
                    self._drop_cancelled()
                    if self._prefilling:
                        self._prefill_step()
                    if self._batch.rows:
                        self._decode_step()
                except Exception as exc:  # noqa: BLE001 - the engine must outlive any one batch
                    logger.exception("engine step failed")
                    self._fail_all(f"engine error: {exc}")
                self._update_stats()
        self._fail_all("the server is shutting down")

    def _wait_for_work(self) -> bool:
        def woken() -> bool:
            return self._stopping or self._has_work()

        with self._cond:
            idle = not self._cond.wait_for(woken, timeout=IDLE_SECONDS_BEFORE_TRIM)
        if idle:
            release_free_memory()  # outside the lock: submit() is not held up by it
        with self._cond:
            self._cond.wait_for(woken)
            return not self._stopping

    def _has_work(self) -> bool:
        return bool(self._waiting or self._prefilling or self._batch.rows)

    def _admit(self) -> None:
        with self._cond:
            while self._waiting and len(self._batch.rows) + len(self._prefilling) < self.config.max_num_seqs:
                seq = self._waiting.popleft()
                if seq.lora is not None:
                    self.loras.install(seq.lora)  # between forward passes: safe to wrap layers
                self._prefilling.append((seq, BatchKVCache()))

    def _drop_cancelled(self) -> None:
        with self._cond:
            waiting = [s for s in self._waiting if s.request.is_cancelled()]
            for seq in waiting:
                self._waiting.remove(seq)
        for seq in waiting:
            self._finish(seq, FINISH_CANCELLED)
        for entry in [e for e in self._prefilling if e[0].request.is_cancelled()]:
            self._prefilling.remove(entry)
            self._finish(entry[0], FINISH_CANCELLED)
        cancelled = [i for i, s in enumerate(self._batch.rows) if s.request.is_cancelled()]
        if cancelled:
            for i in cancelled:
                self._finish(self._batch.rows[i], FINISH_CANCELLED)
            self._batch.keep([i for i in range(len(self._batch.rows)) if i not in set(cancelled)])

    def _prefill_step(self) -> None:
        group = self._prefill_group()
        if group is None:
            self._prefill_chunk()
        else:
            self._prefill_together(group)

    def _prefill_group(self) -> list[Sequence] | None:
        """Fresh prompts at the head of the queue that fit the token budget together (padded),
        or None when the first prompt must be chunked on its own."""
        budget = self.config.prefill_chunk
        first = self._prefilling[0][0]
        if first.num_prefilled or len(first.prompt_ids) > budget:
            return None
        group, width = [first], len(first.prompt_ids)
        for seq, _ in itertools.islice(self._prefilling, 1, None):
            wider = max(width, len(seq.prompt_ids))
            if seq.num_prefilled or wider * (len(group) + 1) > budget:
                break
            group.append(seq)
            width = wider
        return group

    def _prefill_chunk(self) -> None:
        """The next chunk of a prompt too long for one step, on its own cache."""
        seq, cache = self._prefilling[0]
        start = seq.num_prefilled
        end = min(start + self.config.prefill_chunk, len(seq.prompt_ids))
        ids = torch.tensor([seq.prompt_ids[start:end]], dtype=torch.long, device=self.device)
        positions = torch.arange(start, end, device=self.device)
        mask = torch.arange(end, device=self.device).unsqueeze(0) <= positions.unsqueeze(1)
        self.loras.use([seq.lora])
        out = self.model(
            input_ids=ids,
            attention_mask=mask[None, None],
            position_ids=positions.unsqueeze(0),
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        seq.num_prefilled = end
        if end == len(seq.prompt_ids):
            self._prefilling.popleft()
            self._start_decoding([seq], cache, out.logits[:, -1], [0])

    def _prefill_together(self, group: list[Sequence]) -> None:
        """Whole prompts in one forward, left-padded to the longest."""
        width = max(len(seq.prompt_ids) for seq in group)
        pads = [width - len(seq.prompt_ids) for seq in group]
        ids = torch.tensor([[0] * p + seq.prompt_ids for p, seq in zip(pads, group, strict=True)], device=self.device)
        columns = torch.arange(width, device=self.device)
        pad = torch.tensor(pads, device=self.device)
        causal = columns.unsqueeze(0) <= columns.unsqueeze(1)  # [query, key]
        real_key = (columns.unsqueeze(0) >= pad.unsqueeze(1)).unsqueeze(1)  # [row, 1, key]
        # A padding query attends to itself only: no fully masked row (NaN) reaches the cache.
        mask = (causal.unsqueeze(0) & real_key) | torch.eye(width, dtype=torch.bool, device=self.device)
        cache = BatchKVCache()
        self.loras.use([seq.lora for seq in group])
        out = self.model(
            input_ids=ids,
            attention_mask=mask.unsqueeze(1),
            position_ids=(columns.unsqueeze(0) - pad.unsqueeze(1)).clamp(min=0),
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        for _ in group:
            self._prefilling.popleft()
        self._start_decoding(group, cache, out.logits[:, -1], pads)

    def _start_decoding(self, seqs: list[Sequence], cache: BatchKVCache, logits: torch.Tensor, pads: list[int]) -> None:
        """Sample each prefilled prompt's first token and move the survivors into the batch."""
        penalties = PenaltyState(self.vocab_size, self.device)
        for seq in seqs:
            penalties.append(penalties.new_row(seq.prompt_ids))
        tokens = sample(logits, [seq.sampling_row for seq in seqs], penalties).tolist()
        logprobs = token_logprobs(logits, tokens, [seq.params.logprobs for seq in seqs])
        for seq, token, logprob in zip(seqs, tokens, logprobs, strict=True):
            self._emit(seq, seq.append_token(token, logprob))
        self._batch.add(seqs, cache, penalties, pads)
        if any(seq.finished for seq in seqs):
            self._batch.keep([i for i, s in enumerate(self._batch.rows) if not s.finished])

    def _decode_step(self) -> None:
        batch = self._batch
        ids = torch.tensor([[s.last_token] for s in batch.rows], dtype=torch.long, device=self.device)
        positions = torch.tensor([[s.num_tokens - 1] for s in batch.rows], dtype=torch.long, device=self.device)
        self.loras.use([s.lora for s in batch.rows])
        out = self.model(
            input_ids=ids,
            attention_mask=batch.attention_mask(),
            position_ids=positions,
            past_key_values=batch.cache,
            use_cache=True,
        )
        logits = out.logits[:, -1]
        tokens = sample(logits, [s.sampling_row for s in batch.rows], batch.penalties).tolist()
        logprobs = token_logprobs(logits, tokens, [s.params.logprobs for s in batch.rows])
        for seq, token, logprob in zip(batch.rows, tokens, logprobs, strict=True):
            self._emit(seq, seq.append_token(token, logprob))
        if any(s.finished for s in batch.rows):
            batch.keep([i for i, s in enumerate(batch.rows) if not s.finished])

    # -- outputs ----------------------------------------------------------------------------

    def _emit(self, seq: Sequence, output: GenerationOutput) -> None:
        self._count(output)
        try:
            seq.request.on_output(output)
        except Exception:  # noqa: BLE001 - one client's callback must not stop the batch
            logger.exception("output callback of request %s failed", seq.request.request_id)
            seq.finished = True
        if seq.finished and seq.lora is not None:
            self.loras.release(seq.lora)
            seq.lora = None

    def _finish(self, seq: Sequence, reason: str, error: str | None = None) -> None:
        if not seq.finished:
            self._emit(seq, seq.finish(reason, error))

    def _fail_all(self, message: str) -> None:
        with self._cond:
            waiting = list(self._waiting)
            self._waiting.clear()
        for seq in [*waiting, *(s for s, _ in self._prefilling), *self._batch.rows]:
            self._finish(seq, FINISH_ERROR, message)
        self._prefilling.clear()
        self._batch = _Batch(self.vocab_size, self.device)

    def _count(self, output: GenerationOutput) -> None:
        s = self._stats
        if output.finish_reason is not None:
            s = replace(
                s,
                finished_total=s.finished_total + 1,
                cancelled_total=s.cancelled_total + (output.finish_reason == FINISH_CANCELLED),
                prompt_tokens_total=s.prompt_tokens_total + output.num_prompt_tokens,
            )
        self._stats = replace(s, generated_tokens_total=s.generated_tokens_total + len(output.token_ids))

    def _update_stats(self) -> None:
        self._stats = replace(
            self._stats,
            running=len(self._batch.rows) + len(self._prefilling),
            waiting=len(self._waiting),
        )
        # Compared with what the listener last got: the counters (_count) change between
        # publications too, also in steps where running and waiting stay the same.
        if self._stats != self._published and self._stats_listener is not None:
            self._stats_listener(self._stats)
        self._published = self._stats
