"""Sentence embeddings with a sentence-transformers model folder.

The model's own modules (transformer, pooling, normalization) run unchanged, so the
vectors are sentence-transformers' vectors; what this adds is serving: rows from many
requests embedded in one forward pass (sorted by length, so little padding), token-id
inputs, an explicit policy for over-long inputs, and `dimensions` (truncate, then
renormalize, as OpenAI's text-embedding-3 models do).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from engine.params import InvalidRequest

# Rows per forward pass: sentence-transformers' default encode batch size.
FORWARD_BATCH = 32


@dataclass
class EmbeddingInput:
    """One row to embed: text or token ids, and how to treat it."""

    text: str | None = None
    token_ids: list[int] | None = None
    truncate: int = 0  # 0: over-long is an error; -1: cut at the model's limit; n > 0: keep the first n tokens
    dimensions: int = 0  # 0: the model's own size


class EmbeddingModel:
    def __init__(self, model_dir: str, device: str = "cpu") -> None:
        from sentence_transformers import SentenceTransformer
        from sentence_transformers.models import Normalize

        self.model = SentenceTransformer(model_dir, device=device, local_files_only=True)
        self.model.eval()
        self.tokenizer = self.model.tokenizer
        self.max_tokens = int(self.model.max_seq_length)
        self.dimension = int(self.model.get_embedding_dimension())
        self.normalized = any(isinstance(module, Normalize) for module in self.model)
        self.vocab_size = len(self.tokenizer)
        self.pad_id = self.tokenizer.pad_token_id or 0
        self._needs_token_types = "token_type_ids" in self.tokenizer.model_input_names
        self._lock = threading.Lock()

    def token_ids(self, row: EmbeddingInput, index: int = 0) -> list[int]:
        """The ids the model will see for a row, after the over-long policy; errors are the client's."""
        if (row.token_ids is not None and not row.token_ids) or (row.token_ids is None and not row.text):
            raise InvalidRequest(f"input[{index}] is empty")
        if row.token_ids is not None:
            ids = [int(i) for i in row.token_ids]
            bad = next((i for i in ids if not 0 <= i < self.vocab_size), None)
            if bad is not None:
                raise InvalidRequest(
                    f"input[{index}] has token id {bad}, outside the vocabulary (0..{self.vocab_size - 1})"
                )
        else:
            ids = self.tokenizer(row.text or "", add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
        limit = self.max_tokens if row.truncate == -1 else row.truncate
        if limit > 0:
            return _truncate(ids, min(limit, self.max_tokens), self.tokenizer.sep_token_id)
        if len(ids) > self.max_tokens:
            raise InvalidRequest(
                f"input[{index}] has {len(ids)} tokens; this model takes at most {self.max_tokens}. "
                "Shorten it, or set truncate_prompt_tokens (-1 cuts at the limit)."
            )
        return ids

    def check_dimensions(self, dimensions: int) -> None:
        if dimensions < 0 or dimensions > self.dimension:
            raise InvalidRequest(f"dimensions must be between 1 and {self.dimension} for this model")

    def embed(self, rows: list[list[int]], dimensions: list[int] | None = None) -> np.ndarray:
        """float32 [len(rows), dimension] (columns past a row's `dimensions` are zero)."""
        import torch

        out = np.zeros((len(rows), self.dimension), dtype=np.float32)
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        with self._lock, torch.inference_mode():
            for start in range(0, len(order), FORWARD_BATCH):
                batch = order[start : start + FORWARD_BATCH]
                features = self._features([rows[i] for i in batch])
                vectors = self.model(features)["sentence_embedding"].float().cpu().numpy()
                out[batch] = vectors
        for i, size in enumerate(dimensions or []):
            if size and size < self.dimension:
                vector = out[i, :size].copy()
                out[i] = 0.0
                out[i, :size] = vector / max(float(np.linalg.norm(vector)), 1e-12)
        return out

    def _features(self, rows: list[list[int]]) -> dict:
        import torch

        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[i, : len(row)] = 1
        features = {"input_ids": ids, "attention_mask": mask}
        if self._needs_token_types:
            features["token_type_ids"] = torch.zeros_like(ids)
        return {k: v.to(self.model.device) for k, v in features.items()}


def _truncate(ids: list[int], limit: int, end_token: int | None) -> list[int]:
    """The first `limit` tokens, keeping the closing special token as the tokenizer would."""
    if len(ids) <= limit:
        return ids
    if end_token is not None and ids[-1] == end_token:
        return ids[: limit - 1] + [end_token]
    return ids[:limit]
