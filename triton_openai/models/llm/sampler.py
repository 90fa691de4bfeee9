"""Batched logits processing and sampling with per-row parameters.

Every row of a decode batch brings its own temperature, top-k/top-p/min-p, penalties,
seed (a torch.Generator per request, so a seeded request repeats whatever else shares
its batch) and stop-token masking for `min_tokens`. Penalties need each row's output-token
counts and prompt-token mask (`PenaltyState`, row-aligned with the logits), given only when
some row uses a penalty.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from triton_openai.models.llm.guided import apply_grammar
from triton_openai.models.llm.params import GREEDY_TEMPERATURE, SamplingParams


class SamplingRow:
    """What the sampler needs to know about one row at this step."""

    __slots__ = ("params", "generator", "num_output_tokens", "stop_token_ids", "matcher")

    def __init__(
        self,
        params: SamplingParams,
        generator: torch.Generator,
        num_output_tokens: int,
        stop_token_ids: Sequence[int],
        matcher: Any = None,
    ) -> None:
        self.params = params
        self.generator = generator
        self.num_output_tokens = num_output_tokens
        self.stop_token_ids = stop_token_ids
        self.matcher = matcher  # an llguidance matcher when the output follows a grammar


class PenaltyState:
    """Per-row token statistics for frequency, presence and repetition penalties."""

    def __init__(self, vocab_size: int, device: torch.device) -> None:
        self.vocab_size = vocab_size
        self.device = device
        self.counts = torch.zeros((0, vocab_size), dtype=torch.float32, device=device)
        self.prompt_mask = torch.zeros((0, vocab_size), dtype=torch.bool, device=device)

    def new_row(self, prompt_ids: list[int]) -> PenaltyState:
        row = PenaltyState(self.vocab_size, self.device)
        row.counts = torch.zeros((1, self.vocab_size), dtype=torch.float32, device=self.device)
        row.prompt_mask = torch.zeros((1, self.vocab_size), dtype=torch.bool, device=self.device)
        ids = torch.tensor([i for i in prompt_ids if 0 <= i < self.vocab_size], dtype=torch.long, device=self.device)
        row.prompt_mask[0, ids] = True
        return row

    def append(self, other: PenaltyState) -> None:
        self.counts = torch.cat([self.counts, other.counts])
        self.prompt_mask = torch.cat([self.prompt_mask, other.prompt_mask])

    def select(self, rows: torch.Tensor) -> None:
        self.counts = self.counts[rows]
        self.prompt_mask = self.prompt_mask[rows]

    def record(self, tokens: torch.Tensor) -> None:
        self.counts[torch.arange(len(tokens), device=self.device), tokens] += 1


def sample(logits: torch.Tensor, rows: list[SamplingRow], penalties: PenaltyState | None = None) -> torch.Tensor:
    """Choose the next token of every row; `logits` is [rows, vocab] (left unchanged).
    Records the choices in `penalties` when given."""
    if all(_plain_greedy(row) for row in rows):  # the common case: nothing to mask or draw
        tokens = logits.argmax(dim=-1)
        if penalties is not None:
            penalties.record(tokens)
        return tokens
    raw = logits
    logits = logits.float().clone()
    if penalties is not None and any(row.params.uses_penalties for row in rows):
        logits = _apply_penalties(logits, rows, penalties)
    _apply_masks_and_biases(logits, rows)
    matchers = [row.matcher for row in rows]
    if any(m is not None for m in matchers):
        apply_grammar(logits, matchers)
        _revive_dead_rows(logits, raw, matchers)
    tokens = logits.argmax(dim=-1)
    sampled = [i for i, row in enumerate(rows) if not row.params.greedy]
    if sampled:
        index = torch.tensor(sampled, device=logits.device)
        tokens[index] = _sample_rows(logits[index], [rows[i] for i in sampled])
    if penalties is not None:
        penalties.record(tokens)
    return tokens


def _plain_greedy(row: SamplingRow) -> bool:
    params = row.params
    return (
        params.greedy
        and row.matcher is None
        and not params.logit_bias
        and not params.uses_penalties
        and row.num_output_tokens >= params.min_tokens
    )


def _revive_dead_rows(logits: torch.Tensor, raw: torch.Tensor, matchers: list[Any]) -> None:
    """A row whose grammar allows only tokens that min_tokens or a bias forbade has no
    finite logit left: the grammar wins (it must be able to end)."""
    dead = (~torch.isfinite(logits).any(dim=1)).nonzero().flatten().tolist()
    for i in dead:
        row = raw[i : i + 1].float().clone()
        apply_grammar(row, [matchers[i]])
        logits[i] = row[0]


def _apply_penalties(logits: torch.Tensor, rows: list[SamplingRow], state: PenaltyState) -> torch.Tensor:
    def column(values: list[float]) -> torch.Tensor:
        return torch.tensor(values, dtype=logits.dtype, device=logits.device).unsqueeze(1)

    repetition = column([row.params.repetition_penalty for row in rows])
    seen = state.prompt_mask | (state.counts > 0)
    penalized = torch.where(logits > 0, logits / repetition, logits * repetition)
    logits = torch.where(seen, penalized, logits)
    frequency = column([row.params.frequency_penalty for row in rows])
    presence = column([row.params.presence_penalty for row in rows])
    return logits - state.counts * frequency - (state.counts > 0).to(logits.dtype) * presence


def _apply_masks_and_biases(logits: torch.Tensor, rows: list[SamplingRow]) -> None:
    for i, row in enumerate(rows):
        if row.num_output_tokens < row.params.min_tokens and row.stop_token_ids:
            logits[i, list(row.stop_token_ids)] = float("-inf")
        for token_id, bias in row.params.logit_bias.items():
            if 0 <= token_id < logits.shape[1]:
                logits[i, token_id] += bias


def _sample_rows(logits: torch.Tensor, rows: list[SamplingRow]) -> torch.Tensor:
    temperature = torch.tensor(
        [max(row.params.temperature, GREEDY_TEMPERATURE) for row in rows], dtype=logits.dtype, device=logits.device
    )
    logits = logits / temperature.unsqueeze(1)
    tokens = torch.empty(len(rows), dtype=torch.long, device=logits.device)
    # Which way a row is drawn depends on its own parameters only, so a seeded request
    # draws the same tokens whatever else shares its batch.
    filtered = [i for i, row in enumerate(rows) if _filters(row.params)]
    plain = [i for i in range(len(rows)) if i not in set(filtered)]
    if plain:
        probs = torch.softmax(logits[plain], dim=-1)
        tokens[plain] = torch.stack([_draw(probs[j], rows[i].generator) for j, i in enumerate(plain)])
    if filtered:
        sorted_logits, order = logits[filtered].sort(dim=-1, descending=True)
        probs = torch.softmax(_filter_sorted(sorted_logits, [rows[i] for i in filtered]), dim=-1)
        picks = torch.stack([_draw(probs[j], rows[i].generator) for j, i in enumerate(filtered)])
        tokens[filtered] = order.gather(1, picks.unsqueeze(1)).squeeze(1)
    return tokens


def _filters(params: SamplingParams) -> bool:
    return params.top_k > 0 or params.top_p < 1.0 or params.min_p > 0.0


def _filter_sorted(sorted_logits: torch.Tensor, rows: list[SamplingRow]) -> torch.Tensor:
    """Mask top-k, top-p (nucleus) and min-p on logits sorted in descending order."""
    device, vocab = sorted_logits.device, sorted_logits.shape[1]
    top_k = torch.tensor([row.params.top_k if row.params.top_k > 0 else vocab for row in rows], device=device)
    top_p = torch.tensor([row.params.top_p for row in rows], dtype=sorted_logits.dtype, device=device)
    min_p = torch.tensor([row.params.min_p for row in rows], dtype=sorted_logits.dtype, device=device)
    ranks = torch.arange(vocab, device=device).unsqueeze(0)
    mask = ranks >= top_k.unsqueeze(1)
    probs = torch.softmax(sorted_logits.masked_fill(mask, float("-inf")), dim=-1)
    # Keep the smallest prefix whose mass reaches top_p (the first token always stays).
    mask |= (probs.cumsum(dim=-1) - probs) >= top_p.unsqueeze(1)
    mask |= probs < (min_p.unsqueeze(1) * probs[:, :1])
    mask[:, 0] = False
    return sorted_logits.masked_fill(mask, float("-inf"))


def _draw(probs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return torch.multinomial(probs, 1, generator=generator).squeeze(0)
