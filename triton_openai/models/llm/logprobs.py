"""Log-probabilities of the sampled tokens and their most likely alternatives.

They are the model's own distribution (log-softmax of the raw logits, before
temperature, penalties or grammar masks), as OpenAI and vLLM report them by default.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

MAX_TOP_LOGPROBS = 20


@dataclass(frozen=True)
class TokenLogprob:
    token_id: int
    logprob: float
    top: tuple[tuple[int, float], ...]  # (token id, logprob), most likely first


def token_logprobs(logits: torch.Tensor, tokens: list[int], wanted: list[int | None]) -> list[TokenLogprob | None]:
    """For each row that wants them (`wanted[i]` alternatives, None: none), the logprobs."""
    rows = [i for i, k in enumerate(wanted) if k is not None]
    result: list[TokenLogprob | None] = [None] * len(wanted)
    if not rows:
        return result
    logprobs = torch.log_softmax(logits[rows].float(), dim=-1)
    k_max = max(wanted[i] or 0 for i in rows)
    top_values, top_ids = logprobs.topk(k_max, dim=-1) if k_max else (None, None)
    chosen = logprobs.gather(1, torch.tensor([[tokens[i]] for i in rows], device=logits.device)).squeeze(1).tolist()
    for j, i in enumerate(rows):
        k = wanted[i] or 0
        top = ()
        if k and top_values is not None and top_ids is not None:
            top = tuple(zip(top_ids[j, :k].tolist(), top_values[j, :k].tolist(), strict=True))
        result[i] = TokenLogprob(tokens[i], chosen[j], top)
    return result
