"""The torch engine: continuous (in-flight) batching over the decoder (triton_openai.models.llm.decoder).

One thread owns the model. Each step it admits waiting requests (their prompt's KV blocks
reserved, the prefix cache searched for the blocks a prompt shares with earlier ones), drops
cancelled ones, and runs ONE forward pass over every running request: one token for each that is
decoding, and chunks of the prompts being prefilled with what is left of the step's token budget
(`prefill_chunk`), so a long prompt never stalls the decoding rows. Keys and values live in the
paged cache (triton_openai.models.llm.kv_cache); requests join and leave between steps without copying any. When
the cache runs out of blocks, the newest request is preempted: its blocks are given back (full
ones stay findable in the prefix cache) and it is computed again when room returns.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from triton_openai.models.llm.block_allocator import BlockAllocator, OutOfBlocks, block_hash, parent_key
from triton_openai.models.llm.decoder import ForwardBatch
from triton_openai.models.llm.engine_config import EngineConfig, EngineStats
from triton_openai.models.llm.guided import GuideCompiler
from triton_openai.models.llm.heap import release_free_memory
from triton_openai.models.llm.kv_cache import PagedKVCache
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
# Asking Triton whether a client went away is a round trip to the server process (50-100 us a
# request); once per this many seconds is soon enough. Statistics go out as often, and when idle.
CANCEL_POLL_SECONDS = 0.02
STATS_SECONDS = 0.05


# Which tokens count as prompt rows (ForwardBatch.prompt_rows: the decoder's bf16 products where it
# has them): those of prompts of at least this many tokens (a call of bf16 rows costs as much as
# ~30 rows on the blocks), all but the last, which is computed like the generated tokens. The rule
# looks at the request alone, so a token's result does not depend on its batch; and a repeated
# prompt, cached up to its last token, computes that one token on the blocks.
OWN_PRODUCTS_MIN_PROMPT = 32


@dataclass
class _Scheduled:
    seq: Sequence
    start: int  # first token fed this step
    count: int

    @property
    def sampled(self) -> bool:
        return self.start + self.count == self.seq.num_tokens


class TorchEngine:
    """Serves GenerationRequests on one model; thread-safe `submit`."""

    def __init__(
        self,
        loaded: LoadedModel,
        config: EngineConfig | None = None,
        stats_listener: Callable[[EngineStats], None] | None = None,
    ) -> None:
        self.decoder = loaded.decoder
        self.tokenizer = loaded.tokenizer
        self.device = loaded.device
        self.eos_token_ids = loaded.eos_token_ids
        self.vocab_size = loaded.vocab_size
        self.guides = GuideCompiler(self.tokenizer, self.vocab_size)
        self.config = config or EngineConfig()
        shape = self.decoder.shape
        block = self.config.block_size
        tokens = self.config.kv_cache_tokens or max(loaded.max_model_len, 1024 * self.config.max_num_seqs)
        num_blocks = -(-tokens // block)
        self.cache = PagedKVCache(shape.layers, shape.kv_heads, shape.head_dim, num_blocks, block, device=self.device)
        self.blocks = BlockAllocator(num_blocks, self.config.prefix_caching)
        self.max_model_len = min(loaded.max_model_len, num_blocks * block)
        self.loras = LoRASet(shape.module_shapes(), self.config.max_loras, loaded.dtype, self.device)
        self._stats_listener = stats_listener
        self._stats = EngineStats(kv_blocks_total=num_blocks)
        self._published = self._stats  # what the stats listener got last
        self._published_at = self._cancel_polled_at = 0.0
        self._cond = threading.Condition()
        self._waiting: deque[Sequence] = deque()
        self._running: list[Sequence] = []
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="torch-engine", daemon=True)
        logger.info(
            "KV cache: %d blocks of %d tokens (%.0f MiB), prefix caching %s",
            num_blocks,
            block,
            self.cache.nbytes / 2**20,
            "on" if self.config.prefix_caching else "off",
        )

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
        params.check_vocabulary(self.vocab_size)
        matcher = self.guides.matcher(params.guide_type, params.guide) if params.guide_type else None
        seq = Sequence(
            request, self.tokenizer, self.eos_token_ids, self.max_model_len, self.device, matcher, self.vocab_size
        )
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
        if self.config.num_threads and self.device.type == "cpu":
            torch.set_num_threads(self.config.num_threads)  # this thread's OpenMP team (EngineConfig)
        with torch.inference_mode():
            while self._wait_for_work():
                try:
                    self._admit()
                    self._drop_cancelled()
                    self._step()
                except Exception as exc:  # noqa: BLE001 - the engine must outlive any one batch
                    logger.exception("engine step failed")
                    self._fail_all(f"engine error: {exc}")
                self._update_stats()
        self._fail_all("the server is shutting down")

    def _wait_for_work(self) -> bool:
        def woken() -> bool:
            return self._stopping or bool(self._waiting or self._running)

        with self._cond:
            idle = not self._cond.wait_for(woken, timeout=IDLE_SECONDS_BEFORE_TRIM)
        if idle:
            release_free_memory()  # outside the lock: submit() is not held up by it
        with self._cond:
            self._cond.wait_for(woken)
            return not self._stopping

    def _admit(self) -> None:
        """Waiting requests join while there are slots and blocks for their prompts."""
        with self._cond:
            while self._waiting and len(self._running) < self.config.max_num_seqs:
                if not self._reserve(self._waiting[0]):
                    break
                self._running.append(self._waiting.popleft())

    def _reserve(self, seq: Sequence) -> bool:
        """Blocks for all of `seq`'s tokens: those the prefix cache has, new ones for the rest."""
        size = self.cache.block_size
        found: list[int] = []
        hashes: list[bytes] = []
        # Full blocks before the last token only: at least one token is computed for its logits.
        for i in range((seq.num_tokens - 1) // size):
            digest = block_hash(hashes[-1] if hashes else b"", seq.tokens(i * size, (i + 1) * size), seq.salt)
            block = self.blocks.find(digest)
            if block is None:
                break
            found.append(block)
            hashes.append(digest)
        # The next block's tokens shared with a cached block (up to the last token), copied.
        start = len(found) * size
        shared = self.blocks.share_longest(
            parent_key(hashes[-1] if hashes else b"", seq.salt),
            seq.tokens(start, min(start + size, seq.num_tokens - 1)),
        )
        needed = -(-seq.num_tokens // size) - len(found)
        if needed > self.blocks.available:
            for block in found + ([shared[0]] if shared else []):
                self.blocks.release(block)
            return False
        seq.blocks = found + [self.blocks.allocate() for _ in range(needed)]
        seq.block_hashes = hashes
        seq.num_computed = start
        if shared is not None:
            self.cache.copy_blocks(shared[0], seq.blocks[len(found)], shared[1])
            self.blocks.release(shared[0])
            seq.num_computed += shared[1]
        if not seq.output_ids:  # a first admission (not the recomputation of a preempted one)
            seq.num_cached_tokens = seq.num_computed
        return True

    def _drop_cancelled(self) -> None:
        now = time.monotonic()
        if now - self._cancel_polled_at < CANCEL_POLL_SECONDS:
            return
        self._cancel_polled_at = now
        with self._cond:
            waiting = [s for s in self._waiting if s.request.is_cancelled()]
            for seq in waiting:
                self._waiting.remove(seq)
        for seq in waiting:
            self._finish(seq, FINISH_CANCELLED)
        for seq in [s for s in self._running if s.request.is_cancelled()]:
            self._finish(seq, FINISH_CANCELLED)

    # -- one step -----------------------------------------------------------------------------

    def _step(self) -> None:
        plan = self._schedule()
        if not plan:
            return
        batch = self._forward_batch(plan)
        logits = self.decoder.forward(batch, self.cache)
        for item in plan:
            item.seq.num_computed += item.count
            self._register_full_blocks(item.seq)
        sampled = [item.seq for item in plan if item.sampled]
        rows = [seq.sampling_row for seq in sampled]
        penalties = self._penalties(sampled)
        tokens = sample(logits, rows, penalties).tolist()
        logprobs = token_logprobs(logits, tokens, [seq.params.logprobs for seq in sampled])
        for seq, token, logprob in zip(sampled, tokens, logprobs, strict=True):
            if seq.penalties is not None:
                seq.penalties.counts[0, token] += 1
            self._emit(seq, seq.append_token(token, logprob))

    def _schedule(self) -> list[_Scheduled]:
        """This step's tokens: one per decoding request, then prompt chunks within the budget."""
        plan: list[_Scheduled] = []
        budget = self.config.prefill_chunk
        for seq in list(self._running):
            if seq.num_pending == 1 and seq in self._running and self._room_for_next_token(seq):
                plan.append(_Scheduled(seq, seq.num_computed, 1))
        budget -= len(plan)
        for seq in self._running:
            if seq.num_pending > 1 and budget > 0:
                count = min(seq.num_pending, budget)
                plan.append(_Scheduled(seq, seq.num_computed, count))
                budget -= count
        return plan

    def _room_for_next_token(self, seq: Sequence) -> bool:
        """A block for the token `seq` feeds next, preempting the newest request if the cache is
        full; False when `seq` itself was the one preempted."""
        if seq.num_computed < len(seq.blocks) * self.cache.block_size:
            return True
        while True:
            try:
                seq.blocks.append(self.blocks.allocate())
                return True
            except OutOfBlocks:
                victim = self._running[-1]
                self._preempt(victim)
                if victim is seq:
                    return False

    def _preempt(self, seq: Sequence) -> None:
        logger.info("KV cache full: request %s waits to be computed again", seq.request.request_id)
        self._running.remove(seq)
        self._release_blocks(seq)
        seq.num_computed = 0
        self._stats = replace(self._stats, preempted_total=self._stats.preempted_total + 1)
        with self._cond:
            self._waiting.appendleft(seq)

    def _forward_batch(self, plan: list[_Scheduled]) -> ForwardBatch:
        size = self.cache.block_size
        ids: list[int] = []
        positions: list[int] = []
        slots: list[int] = []
        seq_of: list[int] = []
        sample_index: list[int] = []
        prompt_rows: list[int] = []
        generated_rows: list[int] = []
        adapters = []
        for row, item in enumerate(plan):
            seq, start, end = item.seq, item.start, item.start + item.count
            prompt_end = min(end, len(seq.prompt_ids) - 1) if len(seq.prompt_ids) >= OWN_PRODUCTS_MIN_PROMPT else 0
            split = len(ids) + max(prompt_end - start, 0)
            prompt_rows += range(len(ids), split)
            generated_rows += range(split, len(ids) + item.count)
            ids += seq.tokens(start, end)
            positions += range(start, end)
            slots += [seq.blocks[p // size] * size + p % size for p in range(start, end)]
            seq_of += [row] * item.count
            adapters += [seq.lora] * item.count
            if item.sampled:
                sample_index.append(len(ids) - 1)
        width = max(len(item.seq.blocks) for item in plan)
        tables = [item.seq.blocks + [0] * (width - len(item.seq.blocks)) for item in plan]
        device = self.device
        position_tensor = torch.tensor(positions, dtype=torch.long, device=device)
        return ForwardBatch(
            token_ids=torch.tensor(ids, dtype=torch.long, device=device),
            positions=position_tensor,
            slots=torch.tensor(slots, dtype=torch.long, device=device),
            seq_of=torch.tensor(seq_of, dtype=torch.int32, device=device),
            len_of=(position_tensor + 1).to(torch.int32),
            block_tables=torch.tensor(tables, dtype=torch.int32, device=device),
            sample_index=torch.tensor(sample_index, dtype=torch.long, device=device),
            lora=self.loras.use(adapters),
            prompt_rows=torch.tensor(prompt_rows, device=device) if prompt_rows else None,
            generated_rows=torch.tensor(generated_rows, device=device) if generated_rows else None,
        )

    def _register_full_blocks(self, seq: Sequence) -> None:
        """Name the blocks that this step filled, so later prompts can find them."""
        size = self.cache.block_size
        for i in range(len(seq.block_hashes), seq.num_computed // size):
            parent = seq.block_hashes[-1] if seq.block_hashes else b""
            tokens = seq.tokens(i * size, (i + 1) * size)
            digest = block_hash(parent, tokens, seq.salt)
            seq.block_hashes.append(digest)
            self.blocks.register(seq.blocks[i], digest, parent_key(parent, seq.salt), tokens)

    def _register_tail(self, seq: Sequence) -> None:
        """A finished request's part-filled last block, for prompts that share some of its tokens."""
        full, filled = divmod(seq.num_computed, self.cache.block_size)
        if filled and full < len(seq.blocks) and len(seq.block_hashes) == full:
            parent = parent_key(seq.block_hashes[-1] if full else b"", seq.salt)
            self.blocks.register_tail(
                seq.blocks[full], parent, seq.tokens(full * self.cache.block_size, seq.num_computed)
            )

    def _penalties(self, seqs: list[Sequence]) -> PenaltyState | None:
        """The penalty rows of `seqs`, aligned with the logits, when any of them has penalties."""
        if all(seq.penalties is None for seq in seqs):
            return None
        state = PenaltyState(self.vocab_size, self.device)
        for seq in seqs:
            state.append(seq.penalties if seq.penalties is not None else state.new_row([]))
        return state

    # -- outputs ----------------------------------------------------------------------------

    def _emit(self, seq: Sequence, output: GenerationOutput) -> None:
        self._count(output)
        try:
            seq.request.on_output(output)
        except Exception:  # noqa: BLE001 - one client's callback must not stop the batch
            logger.exception("output callback of request %s failed", seq.request.request_id)
            seq.finished = True
        if seq.finished:
            self._retire(seq)

    def _retire(self, seq: Sequence) -> None:
        if seq in self._running:
            self._running.remove(seq)
        self._register_tail(seq)
        self._release_blocks(seq)
        if seq.lora is not None:
            self.loras.release(seq.lora)
            seq.lora = None

    def _release_blocks(self, seq: Sequence) -> None:
        for block in seq.blocks:
            self.blocks.release(block)
        seq.blocks = []

    def _finish(self, seq: Sequence, reason: str, error: str | None = None) -> None:
        if not seq.finished:
            self._emit(seq, seq.finish(reason, error))

    def _fail_all(self, message: str) -> None:
        with self._cond:
            waiting = list(self._waiting)
            self._waiting.clear()
        for seq in [*waiting, *self._running]:
            self._finish(seq, FINISH_ERROR, message)

    def _count(self, output: GenerationOutput) -> None:
        s = self._stats
        if output.finish_reason is not None:
            s = replace(
                s,
                finished_total=s.finished_total + 1,
                cancelled_total=s.cancelled_total + (output.finish_reason == FINISH_CANCELLED),
                prompt_tokens_total=s.prompt_tokens_total + output.num_prompt_tokens,
                cached_prompt_tokens_total=s.cached_prompt_tokens_total + output.num_cached_tokens,
            )
        self._stats = replace(s, generated_tokens_total=s.generated_tokens_total + len(output.token_ids))

    def _update_stats(self) -> None:
        self._stats = replace(
            self._stats,
            running=len(self._running),
            waiting=len(self._waiting),
            kv_blocks_used=self.blocks.used,
        )
        # Compared with what the listener last got: the counters (_count) change between
        # publications too, also in steps where running and waiting stay the same.
        if self._stats == self._published or self._stats_listener is None:
            return
        now = time.monotonic()
        if now - self._published_at >= STATS_SECONDS or not (self._running or self._waiting):
            self._stats_listener(self._stats)
            self._published, self._published_at = self._stats, now
