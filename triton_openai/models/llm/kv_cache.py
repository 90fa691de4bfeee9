"""The paged key/value cache: every layer's keys and values in blocks of `block_size` tokens.

One tensor [layers, 2, blocks, block_size, kv_heads, head_dim] holds them all, allocated once.
On CPU it is left uninitialized, so the system commits its pages only as blocks are first
written (memory follows use, not the configured size); what attention reads beyond a request's
own tokens is masked, and is zeros or earlier keys and values, never NaN. On GPUs it is zeroed
(device memory is not, and is reserved up front anyway). Which blocks belong to
which request is the business of triton_openai.models.llm.block_allocator; a request's tokens never move once
written, so requests join and leave the running batch without copying anything.
"""

from __future__ import annotations

import torch


class PagedKVCache:
    def __init__(
        self,
        layers: int,
        kv_heads: int,
        head_dim: int,
        num_blocks: int,
        block_size: int,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> None:
        self.num_blocks = num_blocks
        self.block_size = block_size
        self.kv_heads, self.head_dim = kv_heads, head_dim
        shape = (layers, 2, num_blocks, block_size, kv_heads, head_dim)
        lazy = torch.device(device).type == "cpu"
        self.data = (torch.empty if lazy else torch.zeros)(shape, dtype=dtype, device=device)

    @staticmethod
    def bytes_per_token(layers: int, kv_heads: int, head_dim: int, dtype: torch.dtype) -> int:
        return layers * 2 * kv_heads * head_dim * torch.empty((), dtype=dtype).element_size()

    @property
    def nbytes(self) -> int:
        return self.data.numel() * self.data.element_size()

    def layer(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of one layer, each [blocks, block_size, kv_heads, head_dim]."""
        return self.data[index, 0], self.data[index, 1]

    def write(self, layer: int, slots: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Store the step's keys/values [tokens, kv_heads, head_dim] at `slots` (block * size + offset)."""
        flat = self.data[layer].view(2, -1, self.kv_heads, self.head_dim)
        flat[0].index_copy_(0, slots, keys.to(flat.dtype))
        flat[1].index_copy_(0, slots, values.to(flat.dtype))

    def copy_blocks(self, source: int, target: int, tokens: int | None = None) -> None:
        """Copy one block's contents (its first `tokens` slots) into another (every layer)."""
        end = self.block_size if tokens is None else tokens
        self.data[:, :, target, :end] = self.data[:, :, source, :end]
