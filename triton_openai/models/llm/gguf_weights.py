"""The tensors of a GGUF file as the decoder's layers, in the file's own blocks where it can.

Q4_0, Q4_1 and Q8_0 tensors keep their blocks (triton_openai.models.llm.quant); F32, F16 and BF16 become dense
float32; any other type is dequantized by the gguf package. llama.cpp's converter permutes the
rows of LLaMA's query and key projections for its rotary layout; `_llama_rows` puts them back in
the Hugging Face order that the decoder's rotary embedding expects.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from triton_openai.models.llm.native import NativeKernels
from triton_openai.models.llm.quant import QK, DenseLinear, Linear, Q4Linear, Q8Linear

# Bytes of one block of 32 weights.
_BLOCK_BYTES = {"Q4_0": 18, "Q4_1": 20, "Q8_0": 34}


class GGUFWeights:
    """Named tensors of one GGUF file, read on demand (the file is memory-mapped)."""

    def __init__(self, path: str | Path, kernels: NativeKernels | None) -> None:
        from gguf import GGUFReader

        self.path = Path(path)
        self.reader = GGUFReader(self.path)
        self.tensors = {t.name: t for t in self.reader.tensors}
        self.kernels = kernels
        field = self.reader.fields.get("general.architecture")
        self.architecture = bytes(field.parts[-1]).decode() if field is not None else ""

    def __contains__(self, name: str) -> bool:
        return name in self.tensors

    def type_of(self, name: str) -> str:
        return self.tensors[name].tensor_type.name

    def vector(self, name: str) -> torch.Tensor:
        """A 1-D tensor (norm weights, biases) as float32."""
        return self.dense(name).reshape(-1)

    def dense(self, name: str) -> torch.Tensor:
        """A tensor as float32, shaped [rows, columns] as PyTorch stores a linear weight."""
        from gguf import dequantize

        tensor = self.tensors[name]
        values = dequantize(tensor.data, tensor.tensor_type)
        columns = int(tensor.shape[0])
        return torch.from_numpy(np.array(values, dtype=np.float32)).reshape(-1, columns)

    def linear(self, name: str, rows: torch.Tensor | None = None, bias: str | None = None) -> Linear:
        """The weight `name` as a linear layer, its output rows reordered by `rows` if given."""
        kind = self.type_of(name)
        bias_tensor = self.vector(bias) if bias and bias in self else None
        if bias_tensor is not None and rows is not None:
            bias_tensor = bias_tensor[rows]
        if kind not in _BLOCK_BYTES or self.kernels is None:
            weight = self.dense(name)
            return DenseLinear((weight if rows is None else weight[rows]).contiguous(), bias_tensor)
        blocks = self._blocks(name, kind)
        if rows is not None:
            blocks = blocks[rows.numpy()]
        d = torch.from_numpy(blocks[..., 0:2].copy().view(np.float16)[..., 0].astype(np.float32))
        if kind == "Q8_0":
            qs = torch.from_numpy(blocks[..., 2:34].copy().view(np.int8))
            return Q8Linear(qs.contiguous(), d.contiguous(), bias_tensor, self.kernels)
        if kind == "Q4_1":
            m = torch.from_numpy(blocks[..., 2:4].copy().view(np.float16)[..., 0].astype(np.float32))
            qs = torch.from_numpy(blocks[..., 4:20].copy())
        else:  # Q4_0: w = d * (q - 8)
            m = -8.0 * d
            qs = torch.from_numpy(blocks[..., 2:18].copy())
        return Q4Linear(qs.contiguous(), d.contiguous(), m.contiguous(), bias_tensor, self.kernels)

    def _blocks(self, name: str, kind: str) -> np.ndarray:
        """The raw blocks, [rows, columns / 32, bytes per block] uint8."""
        tensor = self.tensors[name]
        columns = int(tensor.shape[0])
        raw = np.asarray(tensor.data, dtype=np.uint8).reshape(-1)
        return raw.reshape(-1, columns // QK, _BLOCK_BYTES[kind])


def llama_rows(heads: int, head_dim: int) -> torch.Tensor:
    """Row order that undoes llama.cpp's permutation of a LLaMA q or k projection with `heads`
    heads: the file interleaves each head's two rotary halves, Hugging Face keeps them apart."""
    index = torch.arange(heads * head_dim).reshape(heads, head_dim // 2, 2)
    return index.transpose(1, 2).reshape(-1)
