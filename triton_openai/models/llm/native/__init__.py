"""The decoder's CPU kernels (kernels.c): block-quantized matrix products and paged attention.

`kernels()` compiles kernels.c once per machine with the system's C compiler into the cache
(keyed by the source, the compiler and the CPU's instruction sets), loads it with ctypes and
returns its typed wrappers, or None where no compiler is found or the build fails; callers then
use PyTorch's own operators. The library links the OpenMP runtime that PyTorch has already
loaded, so its threads are PyTorch's threads.
"""

from __future__ import annotations

import ctypes
import logging
import threading

import torch

from triton_openai.models.llm.native.compile import build_library

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_loaded: list[NativeKernels | None] = []


class LinearBlocks(ctypes.Structure):
    """kernels.c's tok_linear: one linear layer in Q4_1 or Q8_0 blocks."""

    _fields_ = [
        ("q4", ctypes.c_int32),
        ("N", ctypes.c_int64),
        ("K", ctypes.c_int64),
        ("qs", ctypes.c_void_p),
        ("d", ctypes.c_void_p),
        ("m", ctypes.c_void_p),
        ("dT", ctypes.c_void_p),
        ("mT", ctypes.c_void_p),
        ("bias", ctypes.c_void_p),
    ]


class LayerBlocks(ctypes.Structure):
    """kernels.c's tok_layer: a decoder layer's norms and its four linear layers."""

    _fields_ = [
        ("input_norm", ctypes.c_void_p),
        ("post_norm", ctypes.c_void_p),
        ("q_norm", ctypes.c_void_p),
        ("k_norm", ctypes.c_void_p),
        ("qkv", LinearBlocks),
        ("o", LinearBlocks),
        ("gate_up", LinearBlocks),
        ("down", LinearBlocks),
    ]


class NativeKernels:
    """Typed calls into the compiled library; tensors must be contiguous CPU float32/int tensors."""

    def __init__(self, lib: ctypes.CDLL, force_level: int = -1) -> None:
        self._lib = lib
        self.force_level = force_level
        i64, ptr, f32, i32 = ctypes.c_int64, ctypes.c_void_p, ctypes.c_float, ctypes.c_int
        lib.tok_simd_level.restype = i32
        lib.tok_q4_1_matmul.argtypes = [ptr, i64, i64, ptr, ptr, ptr, ptr, ptr, i64, ptr, i64, i32, i32]
        lib.tok_q4_1_matmul.restype = i32
        lib.tok_q8_0_matmul.argtypes = [ptr, i64, i64, ptr, ptr, ptr, i64, ptr, i64, i32, i32]
        lib.tok_q8_0_matmul.restype = i32
        lib.tok_paged_attention.argtypes = [ptr, ptr, ptr, ptr, i64, ptr, ptr, i64, i64, i64, i64, i64, f32, ptr, i32]
        lib.tok_paged_attention.restype = None
        lib.tok_rms_norm.argtypes = [ptr, ptr, ptr, i64, i64, f32, ptr]
        lib.tok_rms_norm.restype = None
        lib.tok_silu_mul.argtypes = [ptr, i64, i64, ptr]
        lib.tok_silu_mul.restype = None
        lib.tok_attention_layer.argtypes = [ptr, i64, i64, i64, i64, ptr, ptr, f32, ptr, ptr, ptr, ptr, ptr, ptr]
        lib.tok_attention_layer.argtypes += [ptr, i64, ptr, ptr, i64, f32, ptr, i32]
        lib.tok_attention_layer.restype = None
        lib.tok_decoder_layers.argtypes = [ptr, i64, ptr, i64, i64, i64, i64, i64, i64, f32, ptr, ptr, ptr, ptr]
        lib.tok_decoder_layers.argtypes += [ptr, i64, i64, ptr, i64, ptr, ptr, f32, i32, i32]
        lib.tok_decoder_layers.restype = i32

    @property
    def simd_level(self) -> int:
        """2: AVX-512 VNNI, 1: AVX2, 0: portable code."""
        return self._lib.tok_simd_level() if self.force_level < 0 else self.force_level

    def q4_1_matmul(
        self,
        x: torch.Tensor,
        qs: torch.Tensor,
        d: torch.Tensor,
        m: torch.Tensor,
        dt: torch.Tensor,
        mt: torch.Tensor,
        activation_bits: int = 16,
    ) -> torch.Tensor:
        """x [M, K] @ W^T for Q4_1 blocks qs [N, K/32, 16] uint8 (`interleave_blocks`), d and m [N, K/32] float32, and
        the same transposed by groups of 8 rows (`by_eights`); x is quantized per block of 32 to
        int16 or int8 (`activation_bits`)."""
        rows, k = x.shape
        n = qs.shape[0]
        y = torch.empty((rows, n), dtype=torch.float32)
        rc = self._lib.tok_q4_1_matmul(
            x.data_ptr(),
            rows,
            k,
            qs.data_ptr(),
            d.data_ptr(),
            m.data_ptr(),
            dt.data_ptr(),
            mt.data_ptr(),
            n,
            y.data_ptr(),
            n,
            activation_bits == 16,
            self.force_level,
        )
        if rc:
            raise RuntimeError(f"q4_1 matmul failed for K={k} (a multiple of 32 is needed)")
        return y

    def q8_0_matmul(
        self, x: torch.Tensor, qs: torch.Tensor, d: torch.Tensor, dt: torch.Tensor, activation_bits: int = 16
    ) -> torch.Tensor:
        """x [M, K] @ W^T for Q8_0 blocks qs [N, K/32, 32] int8 (`interleave_blocks`), d [N, K/32]
        float32 (and `by_eights`)."""
        rows, k = x.shape
        n = qs.shape[0]
        y = torch.empty((rows, n), dtype=torch.float32)
        wide = activation_bits == 16
        rc = self._lib.tok_q8_0_matmul(
            x.data_ptr(),
            rows,
            k,
            qs.data_ptr(),
            d.data_ptr(),
            dt.data_ptr(),
            n,
            y.data_ptr(),
            n,
            wide,
            self.force_level,
        )
        if rc:
            raise RuntimeError(f"q8_0 matmul failed for K={k} (a multiple of 32 is needed)")
        return y

    def paged_attention(
        self,
        q: torch.Tensor,
        k_cache: torch.Tensor,
        v_cache: torch.Tensor,
        tables: torch.Tensor,
        seq_of: torch.Tensor,
        len_of: torch.Tensor,
        scale: float,
    ) -> torch.Tensor:
        """q [T, heads, dim]; caches [blocks, block, kv heads, dim]; tables [seqs, max blocks] int32;
        seq_of, len_of [T] int32: each query's sequence and how many of its keys it sees."""
        tokens, heads, dim = q.shape
        _, block, kv_heads, _ = k_cache.shape
        out = torch.empty_like(q)
        self._lib.tok_paged_attention(
            q.data_ptr(),
            k_cache.data_ptr(),
            v_cache.data_ptr(),
            tables.data_ptr(),
            tables.shape[1],
            seq_of.data_ptr(),
            len_of.data_ptr(),
            tokens,
            heads,
            kv_heads,
            dim,
            block,
            scale,
            out.data_ptr(),
            self.force_level,
        )
        return out

    def rms_norm(
        self, x: torch.Tensor, weight: torch.Tensor, eps: float, residual: torch.Tensor | None = None
    ) -> torch.Tensor:
        """RMSNorm of each row of x [M, H]; with `residual`, x += residual first (in place)."""
        rows, hidden = x.shape
        out = torch.empty_like(x)
        extra = residual.data_ptr() if residual is not None else None
        self._lib.tok_rms_norm(x.data_ptr(), extra, weight.data_ptr(), rows, hidden, eps, out.data_ptr())
        return out

    def silu_mul(self, gate_up: torch.Tensor) -> torch.Tensor:
        """silu(gate) * up of gate_up [M, 2I] (gate first)."""
        rows, width = gate_up.shape
        out = torch.empty((rows, width // 2), dtype=torch.float32)
        self._lib.tok_silu_mul(gate_up.data_ptr(), rows, width // 2, out.data_ptr())
        return out

    def attention_layer(self, qkv, shape, q_norm, k_norm, cos, sin, batch, keys, values, scale) -> torch.Tensor:
        """A layer's attention from its fused q/k/v product (triton_openai.models.llm.decoder.Decoder's CPU path):
        q/k norms, rotary embedding, the cache written at the batch's slots, paged attention."""
        tokens = qkv.shape[0]
        out = torch.empty((tokens, shape.heads, shape.head_dim), dtype=torch.float32)
        self._lib.tok_attention_layer(
            qkv.data_ptr(),
            tokens,
            shape.heads,
            shape.kv_heads,
            shape.head_dim,
            q_norm.data_ptr() if q_norm is not None else None,
            k_norm.data_ptr() if k_norm is not None else None,
            shape.rms_eps,
            cos.data_ptr(),
            sin.data_ptr(),
            batch.positions.data_ptr(),
            batch.slots.data_ptr(),
            keys.data_ptr(),
            values.data_ptr(),
            batch.block_tables.data_ptr(),
            batch.block_tables.shape[1],
            batch.seq_of.data_ptr(),
            batch.len_of.data_ptr(),
            keys.shape[1],
            scale,
            out.data_ptr(),
            self.force_level,
        )
        return out

    def decoder_layers(self, table, x: torch.Tensor, shape, cos, sin, batch, cache, scale, activation_bits) -> None:
        """Every layer of a step in one call (x [T, H] updated in place); `table` is the layers'
        LayerBlocks array (engine.decoder.Decoder builds it once)."""
        data = cache.data
        rc = self._lib.tok_decoder_layers(
            ctypes.addressof(table),
            len(table),
            x.data_ptr(),
            x.shape[0],
            shape.hidden,
            shape.heads,
            shape.kv_heads,
            shape.head_dim,
            shape.intermediate,
            shape.rms_eps,
            cos.data_ptr(),
            sin.data_ptr(),
            batch.positions.data_ptr(),
            batch.slots.data_ptr(),
            data.data_ptr(),
            data.shape[2],
            data.shape[3],
            batch.block_tables.data_ptr(),
            batch.block_tables.shape[1],
            batch.seq_of.data_ptr(),
            batch.len_of.data_ptr(),
            scale,
            activation_bits == 16,
            self.force_level,
        )
        if rc:
            raise RuntimeError("the decoder layers' kernels ran out of memory")


def interleave_blocks(qs: torch.Tensor) -> torch.Tensor:
    """Blocks [N, blocks, bytes] in row order as the kernels read them: each group of 8 rows
    interleaved block by block ([N / 8, blocks, 8, bytes], the 8 rows a tile multiplies in one
    stream of memory), rows past the last multiple of 8 after them as they are. Same shape."""
    rows = qs.shape[0] // 8 * 8
    grouped = qs[:rows].reshape(-1, 8, *qs.shape[1:]).transpose(1, 2).reshape(rows, *qs.shape[1:])
    return torch.cat([grouped, qs[rows:]]).contiguous()


def _groups(qs: torch.Tensor) -> tuple[int, torch.Tensor]:
    """Interleaved blocks' grouped rows, and them as [N / 8, blocks, 8, bytes] (a view)."""
    rows = qs.shape[0] // 8 * 8
    return rows, qs[:rows].view(-1, qs.shape[1], 8, *qs.shape[2:])


def deinterleave_blocks(qs: torch.Tensor) -> torch.Tensor:
    """interleave_blocks undone: the blocks in row order."""
    rows, grouped = _groups(qs)
    return torch.cat([grouped.transpose(1, 2).reshape(rows, *qs.shape[1:]), qs[rows:]]).contiguous()


def interleaved_rows(qs: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Rows `ids` [len(ids), blocks, bytes] of interleaved blocks (an embedding lookup)."""
    rows, grouped = _groups(qs)
    if rows == qs.shape[0]:
        return grouped[ids // 8, :, ids % 8]
    inside = ids < rows
    out = torch.empty((len(ids), *qs.shape[1:]), dtype=qs.dtype)
    out[inside] = grouped[ids[inside] // 8, :, ids[inside] % 8]
    out[~inside] = qs[ids[~inside]]
    return out


def by_eights(values: torch.Tensor) -> torch.Tensor:
    """Per-block scales [N, blocks] regrouped as the kernels read them: [N / 8, blocks, 8] (rows
    past the last multiple of 8 are left out; the kernels read those from `values`)."""
    rows = values.shape[0] // 8 * 8
    return values[:rows].reshape(-1, 8, values.shape[1]).transpose(1, 2).contiguous()


def kernels() -> NativeKernels | None:
    """The compiled kernels (built on first use), or None where they cannot be built here."""
    with _lock:
        if not _loaded:
            _loaded.append(_load())
        return _loaded[0]


def _load() -> NativeKernels | None:
    path = build_library()
    if path is None:
        return None
    try:
        return NativeKernels(ctypes.CDLL(str(path)))
    except OSError as exc:
        logger.warning("the engine's CPU kernels did not load (%s): using PyTorch's operators", exc)
        return None
