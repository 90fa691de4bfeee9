"""One request's life inside the engine: its tokens, text, stop conditions and KV blocks."""

from __future__ import annotations

import random
from typing import Any

import torch

from triton_openai.models.llm.detokenizer import IncrementalDetokenizer
from triton_openai.models.llm.logprobs import TokenLogprob
from triton_openai.models.llm.params import ContextLengthExceeded, InvalidRequest
from triton_openai.models.llm.request import (
    FINISH_LENGTH,
    FINISH_STOP,
    GenerationOutput,
    GenerationRequest,
)
from triton_openai.models.llm.sampler import PenaltyState, SamplingRow
from triton_openai.models.llm.stop import StopMatcher


class Sequence:
    """Turns sampled tokens into text deltas and decides when the request is done."""

    def __init__(
        self,
        request: GenerationRequest,
        tokenizer: Any,
        eos_token_ids: frozenset[int],
        max_model_len: int,
        device: torch.device,
        matcher: Any = None,
        vocab_size: int = 0,
    ) -> None:
        params = request.params
        prompt_len = len(request.prompt_ids)
        if prompt_len == 0:
            raise InvalidRequest("the prompt is empty")
        request.check_prompt_limit()
        room = max_model_len - prompt_len
        if params.max_tokens is not None and params.max_tokens > room or room < 1:
            asked = prompt_len + (params.max_tokens or 1)
            raise ContextLengthExceeded(
                f"This model's maximum context length is {max_model_len} tokens. However, you requested "
                f"{asked} tokens ({prompt_len} in the messages, {asked - prompt_len} in the completion). "
                "Please reduce the length of the messages or completion."
            )
        self.request = request
        self.params = params
        self.prompt_ids = list(request.prompt_ids)
        self.output_ids: list[int] = []
        self.max_tokens = params.output_limit(room)
        self.finished = False
        # The KV cache: tokens whose keys and values are written, the blocks holding them (in
        # order), the prefix-cache names of the full ones, and how many came from that cache.
        self.num_computed = 0
        self.blocks: list[int] = []
        self.block_hashes: list[bytes] = []
        self.num_cached_tokens = 0
        self.salt = request.lora_name  # an adapter's keys and values are its own
        # Output-token counts and the prompt's tokens, for penalties (the engine's sampler rows).
        self.penalties = (
            PenaltyState(vocab_size, device).new_row(self.prompt_ids) if params.uses_penalties and vocab_size else None
        )
        self._eos = frozenset() if params.ignore_eos else eos_token_ids
        self._stop_token_ids = frozenset(params.stop_token_ids)
        self._detokenizer = IncrementalDetokenizer(tokenizer, self.prompt_ids, params.skip_special_tokens)
        self._stops = StopMatcher(params.stop, params.include_stop_str_in_output)
        seed = params.seed if params.seed is not None else random.getrandbits(63)
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.matcher = matcher
        self.lora: Any = None  # the triton_openai.models.llm.lora.LoRAAdapter it uses, held until it finishes
        self.sampling_row = SamplingRow(params, self.generator, 0, tuple(self._eos | self._stop_token_ids), matcher)

    @property
    def num_tokens(self) -> int:
        return len(self.prompt_ids) + len(self.output_ids)

    @property
    def last_token(self) -> int:
        return self.output_ids[-1]

    @property
    def num_pending(self) -> int:
        """Tokens to feed the model before the next one can be sampled."""
        return self.num_tokens - self.num_computed

    def tokens(self, start: int, end: int) -> list[int]:
        """Prompt and output tokens [start, end)."""
        prompt = len(self.prompt_ids)
        if end <= prompt:
            return self.prompt_ids[start:end]
        head = self.prompt_ids[start:] if start < prompt else []
        return head + self.output_ids[max(start - prompt, 0) : end - prompt]

    def append_token(self, token_id: int, logprob: TokenLogprob | None = None) -> GenerationOutput:
        """Take the next sampled token; the output says what to send and whether we are done."""
        self.output_ids.append(token_id)
        self.sampling_row.num_output_tokens = len(self.output_ids)
        finish: str | None = None
        stop_reason: str | int | None = None
        if token_id in self._eos or token_id in self._stop_token_ids:
            finish, stop_reason = FINISH_STOP, (token_id if token_id in self._stop_token_ids else None)
        if self.matcher is not None:
            self.matcher.consume_token(token_id)
            if self.matcher.is_stopped():  # the grammar is complete: nothing may follow
                finish = FINISH_STOP
        text, matched = self._stops.feed(self._detokenizer.step(token_id))
        if matched is not None:
            finish, stop_reason = FINISH_STOP, matched
        elif finish is None and len(self.output_ids) >= self.max_tokens:
            finish = FINISH_LENGTH
        if finish is not None and matched is None:
            text += self._stops.flush()
        self.finished = finish is not None
        output = self._output(text, [token_id], finish, stop_reason)
        if logprob is not None and not (finish == FINISH_STOP and token_id in self._eos):
            output.logprobs.append(logprob)  # the end-of-turn token is not part of the answer
        return output

    def finish(self, reason: str, error: str | None = None) -> GenerationOutput:
        """End the request early (cancelled or failed)."""
        self.finished = True
        return self._output("", [], reason, None, error)

    def _output(
        self,
        text: str,
        token_ids: list[int],
        finish: str | None,
        stop_reason: str | int | None,
        error: str | None = None,
    ) -> GenerationOutput:
        return GenerationOutput(
            text=text,
            token_ids=token_ids,
            num_prompt_tokens=len(self.prompt_ids),
            num_output_tokens=len(self.output_ids),
            num_cached_tokens=self.num_cached_tokens,
            finish_reason=finish,
            stop_reason=stop_reason,
            error=error,
        )
