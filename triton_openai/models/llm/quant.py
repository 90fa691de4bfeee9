"""The decoder's linear layers, dense or in GGUF's blocks of 32, and their matrix products.

- `DenseLinear`: float weights (fp32 on CPU, packed once for oneDNN; bf16/fp16 on GPUs).
- `Q4Linear`: Q4_0/Q4_1 blocks, w = d*q + m with q in 0..15 (Q4_0: m = -8d), per output row
  `qs` [N, K/32, 16] uint8 (element j of a block in the low nibble of byte j, element j+16 in
  its high nibble, as GGUF stores them), `d` and `m` [N, K/32] float32.
- `Q8Linear`: Q8_0 blocks, w = d*q with q in -127..127, `qs` [N, K/32, 32] int8, `d` [N, K/32].

The quantized layers multiply with the engine's CPU kernels (triton_openai.models.llm.native: the weights stay in
their blocks, activations are quantized per block of 32 to int8, as llama.cpp does). Where the
kernels cannot run (a GPU, no C compiler) they are dequantized once into a DenseLinear.
`fuse` joins layers that read the same input (q/k/v, gate/up) into one product.

Prompt tokens can take another route (`PromptMatmul`): a bf16 copy of a quantized layer's
weights, multiplied by oneDNN's bf16 kernels (AMX tiles on CPUs that have them, about four times
the blocks' speed over a prompt's many rows); the generated tokens, one row per request, stay
on the blocks, which read a quarter of the bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from triton_openai.models.llm import cpu_linear
from triton_openai.models.llm.native import (
    NativeKernels,
    by_eights,
    deinterleave_blocks,
    interleave_blocks,
    interleaved_rows,
)

QK = 32
# Activations are quantized per block of 32 to int16 (about 1e-5 of the block's largest value:
# the weights' own precision is what counts) or, faster and as llama.cpp does, to int8.
ACTIVATION_BITS = 16


class DenseLinear:
    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None) -> None:
        self.out_features, self.in_features = weight.shape
        self.weight = weight
        self.bias = bias
        self._packed: torch.Tensor | None = None  # oneDNN's layout, made on first use
        self._pack = weight.device.type == "cpu" and weight.dtype == torch.float32 and cpu_linear.available()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self._pack:
            if self._packed is None:
                self._packed = torch.ops.mkldnn._reorder_linear_weight(self.weight, cpu_linear.BATCH_HINT)
            return torch.ops.mkldnn._linear_pointwise(x, self._packed, self.bias, "none", [], "")
        return torch.nn.functional.linear(x, self.weight, self.bias)

    def dense_weight(self) -> torch.Tensor:
        return self.weight.float()


@dataclass
class _Blocks:
    """A layer's weights in blocks of 32 per output row: qs [N, K/32, bytes per block], given in
    row order and kept as the kernels read it (triton_openai.models.llm.native.interleave_blocks:
    the same shape, each group of 8 rows interleaved); `row_blocks()` gives them back in row order."""

    qs: torch.Tensor

    def __post_init__(self) -> None:
        self.qs = interleave_blocks(self.qs)

    def row_blocks(self) -> torch.Tensor:
        return deinterleave_blocks(self.qs)

    @property
    def out_features(self) -> int:
        return self.qs.shape[0]

    @property
    def in_features(self) -> int:
        return self.qs.shape[1] * QK


@dataclass
class Q4Linear(_Blocks):
    d: torch.Tensor
    m: torch.Tensor
    bias: torch.Tensor | None = None
    kernels: NativeKernels | None = None
    activation_bits: int = ACTIVATION_BITS

    def __post_init__(self) -> None:
        super().__post_init__()
        self.d_by_eights, self.m_by_eights = by_eights(self.d), by_eights(self.m)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        y = self.kernels.q4_1_matmul(
            x.contiguous(), self.qs, self.d, self.m, self.d_by_eights, self.m_by_eights, self.activation_bits
        )
        return y if self.bias is None else y + self.bias

    def dense_weight(self) -> torch.Tensor:
        return self._dequantized(self.row_blocks(), self.d, self.m)

    def rows(self, ids: torch.Tensor) -> torch.Tensor:
        """Dequantized rows `ids` (an embedding lookup), float32 [len(ids), K]."""
        return self._dequantized(interleaved_rows(self.qs, ids), self.d[ids], self.m[ids])

    @staticmethod
    def _dequantized(qs: torch.Tensor, d: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        q = torch.cat([qs & 0x0F, qs >> 4], dim=-1).float()  # [rows, blocks, 32]
        return (q * d.unsqueeze(-1) + m.unsqueeze(-1)).reshape(len(qs), -1)


@dataclass
class Q8Linear(_Blocks):
    d: torch.Tensor
    bias: torch.Tensor | None = None
    kernels: NativeKernels | None = None
    activation_bits: int = ACTIVATION_BITS

    def __post_init__(self) -> None:
        super().__post_init__()
        self.d_by_eights = by_eights(self.d)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        y = self.kernels.q8_0_matmul(x.contiguous(), self.qs, self.d, self.d_by_eights, self.activation_bits)
        return y if self.bias is None else y + self.bias

    def dense_weight(self) -> torch.Tensor:
        return (self.row_blocks().float() * self.d.unsqueeze(-1)).reshape(self.out_features, -1)

    def rows(self, ids: torch.Tensor) -> torch.Tensor:
        """Dequantized rows `ids` (an embedding lookup), float32 [len(ids), K]."""
        return (interleaved_rows(self.qs, ids).float() * self.d[ids].unsqueeze(-1)).reshape(len(ids), -1)


Linear = DenseLinear | Q4Linear | Q8Linear

# oneDNN picks its bf16 kernel by the number of rows, and within one kernel a row's result does not
# depend on the other rows or its place among them. So prompts are multiplied in calls of exactly
# this many rows (the last one padded): a prompt token gets the same bits whatever else its step
# computes, and a prompt of up to this many tokens reads the weights once.
PROMPT_SLICE_ROWS = 128


class PromptMatmul:
    """A layer's weights as bf16, for the rows of prompt tokens (see the module's docstring)."""

    def __init__(self, layer: Linear) -> None:
        self.weight = layer.dense_weight().to(torch.bfloat16).contiguous()
        self.bias = layer.bias

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        rows = len(x)
        padded = torch.zeros((-(-rows // PROMPT_SLICE_ROWS) * PROMPT_SLICE_ROWS, x.shape[1]), dtype=torch.bfloat16)
        padded[:rows] = x
        out = torch.empty((len(padded), self.weight.shape[0]), dtype=torch.float32)
        for start in range(0, len(padded), PROMPT_SLICE_ROWS):
            end = start + PROMPT_SLICE_ROWS
            out[start:end] = torch.nn.functional.linear(padded[start:end], self.weight)
        out = out[:rows]
        return out if self.bias is None else out + self.bias

    @staticmethod
    def available() -> bool:
        """Whether this CPU multiplies bf16 in AMX tiles (elsewhere bf16 is no faster than the blocks)."""
        supported = getattr(torch.cpu, "_is_amx_tile_supported", None)
        return bool(supported and supported())


def fuse(layers: list[Linear]) -> Linear:
    """One layer computing `layers`' outputs side by side (they must read the same input)."""
    if len(layers) == 1:
        return layers[0]
    biases = [layer.bias for layer in layers]
    if any(b is not None for b in biases):
        bias = torch.cat(
            [b if b is not None else torch.zeros(layer.out_features) for b, layer in zip(biases, layers, strict=True)]
        )
    else:
        bias = None
    first = layers[0]
    if all(isinstance(layer, Q4Linear) for layer in layers):
        qs, d, m = (torch.cat(parts) for parts in zip(*((x.row_blocks(), x.d, x.m) for x in layers), strict=True))
        return Q4Linear(qs, d, m, bias=bias, kernels=first.kernels, activation_bits=first.activation_bits)
    if all(isinstance(layer, Q8Linear) for layer in layers):
        qs, d = torch.cat([x.row_blocks() for x in layers]), torch.cat([x.d for x in layers])
        return Q8Linear(qs, d, bias, first.kernels, first.activation_bits)
    dtype = first.weight.dtype if isinstance(first, DenseLinear) else torch.float32
    return DenseLinear(torch.cat([layer.dense_weight().to(dtype) for layer in layers]), bias)


def densify(layer: Linear, dtype: torch.dtype, device: torch.device) -> DenseLinear:
    """A quantized layer as dense weights (for devices the CPU kernels do not serve)."""
    if isinstance(layer, DenseLinear) and layer.weight.dtype == dtype and layer.weight.device == device:
        return layer
    bias = None if layer.bias is None else layer.bias.to(device=device, dtype=dtype)
    return DenseLinear(layer.dense_weight().to(device=device, dtype=dtype), bias)


def quantize_q8_0(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Round-to-nearest Q8_0 blocks of a float weight [N, K] (K a multiple of 32), as llama.cpp's
    quantizer makes them: per block d = max |w| / 127."""
    n, k = weight.shape
    blocks = weight.float().reshape(n, k // QK, QK)
    d = blocks.abs().amax(dim=-1) / 127.0
    inverse = torch.where(d > 0, 1.0 / d, torch.zeros_like(d))
    q = (blocks * inverse.unsqueeze(-1)).round().clamp(-127, 127).to(torch.int8)
    return q.contiguous(), d.contiguous()


def quantize_q4_1(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Round-to-nearest Q4_1 blocks of a float weight [N, K] (K a multiple of 32), as llama.cpp's
    quantizer makes them: per block m = min, d = (max - min) / 15."""
    n, k = weight.shape
    blocks = weight.float().reshape(n, k // QK, QK)
    low, high = blocks.amin(dim=-1), blocks.amax(dim=-1)
    d = (high - low) / 15.0
    inverse = torch.where(d > 0, 1.0 / d, torch.zeros_like(d))
    q = ((blocks - low.unsqueeze(-1)) * inverse.unsqueeze(-1)).round().clamp(0, 15).to(torch.uint8)
    qs = q[..., :16] | (q[..., 16:] << 4)
    return qs.contiguous(), d.contiguous(), low.contiguous()
