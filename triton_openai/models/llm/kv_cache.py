"""The key/value cache of a continuously batched decode.

Rows are sequences; all rows share one time axis, aligned on the right (left padding),
so one decode step appends one column for every row. Rows join (`merge`) after their
own prefill and leave (`select_rows`) when they finish, between steps. Keys are stored
already rotated at each row's true positions, so padding shifts nothing.

Each layer keeps a buffer with spare capacity on the time axis, so appending a column
is a copy of the new column only (transformers' DynamicLayer concatenates, which copies
the whole cache at every step).
"""

from __future__ import annotations

import torch
from transformers.cache_utils import Cache, DynamicLayer

_MIN_CAPACITY = 64


class _GrowableLayer(DynamicLayer):
    """One layer's keys and values: a [batch, heads, capacity, dim] buffer, `length` used."""

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        self.dtype, self.device = key_states.dtype, key_states.device
        self.length = 0
        self._keys = key_states.new_empty((*key_states.shape[:2], 0, key_states.shape[3]))
        self._values = value_states.new_empty((*value_states.shape[:2], 0, value_states.shape[3]))
        self.is_initialized = True

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        end = self.length + key_states.shape[-2]
        if end > self._keys.shape[-2]:
            self._reserve(max(end, 2 * self._keys.shape[-2], _MIN_CAPACITY))
        self._keys[:, :, self.length : end] = key_states
        self._values[:, :, self.length : end] = value_states
        self._set_length(end)
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.length if self.is_initialized else 0

    def _reserve(self, capacity: int) -> None:
        keys = self._keys.new_empty((*self._keys.shape[:2], capacity, self._keys.shape[3]))
        values = self._values.new_empty((*self._values.shape[:2], capacity, self._values.shape[3]))
        keys[:, :, : self.length] = self._keys[:, :, : self.length]
        values[:, :, : self.length] = self._values[:, :, : self.length]
        self._keys, self._values = keys, values

    def _set_length(self, length: int) -> None:
        self.length = length
        self.keys = self._keys[:, :, :length]
        self.values = self._values[:, :, :length]

    def set_buffers(self, keys: torch.Tensor, values: torch.Tensor, length: int) -> None:
        self._keys, self._values = keys, values
        self._set_length(length)


class BatchKVCache(Cache):
    """A transformers Cache whose rows can be merged, selected and trimmed between steps."""

    def __init__(self) -> None:
        super().__init__(layer_class_to_replicate=_GrowableLayer)

    @property
    def length(self) -> int:
        return self.layers[0].length if self.layers else 0

    def select_rows(self, rows: torch.Tensor) -> None:
        """Keep only the given batch rows, in that order."""
        for layer in self.layers:
            layer.set_buffers(layer._keys[rows], layer._values[rows], layer.length)

    def trim_left(self, columns: int) -> None:
        """Drop the first `columns` time steps (padding that no row needs any more)."""
        if columns <= 0:
            return
        for layer in self.layers:
            layer.set_buffers(layer._keys[:, :, columns:], layer._values[:, :, columns:], layer.length - columns)

    def merge(self, other: BatchKVCache) -> tuple[int, int]:
        """Append `other`'s rows below ours, right-aligned on the time axis.

        Returns the left padding added to (our rows, other's rows).
        """
        if not self.layers:
            self.layers = other.layers
            return 0, 0
        length = max(self.length, other.length)
        pad_self, pad_other = length - self.length, length - other.length
        for mine, theirs in zip(self.layers, other.layers, strict=True):
            keys = self._aligned(mine._keys, theirs._keys, mine.length, theirs.length, length)
            values = self._aligned(mine._values, theirs._values, mine.length, theirs.length, length)
            mine.set_buffers(keys, values, length)
        return pad_self, pad_other

    @staticmethod
    def _aligned(a: torch.Tensor, b: torch.Tensor, len_a: int, len_b: int, length: int) -> torch.Tensor:
        capacity = max(length + _MIN_CAPACITY, a.shape[2])
        out = a.new_zeros((a.shape[0] + b.shape[0], a.shape[1], capacity, a.shape[3]))
        out[: a.shape[0], :, length - len_a : length] = a[:, :, :len_a]
        out[a.shape[0] :, :, length - len_b : length] = b[:, :, :len_b]
        return out
