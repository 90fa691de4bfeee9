"""triton_openai.models.llm.native: the block-quantized products and paged attention against PyTorch references,
and the property the engine relies on: a row's result is bitwise the same whatever else is in the
batch, and whichever instruction set computed it."""

from __future__ import annotations

import pytest
import torch

from triton_openai.models.llm.decoder import ForwardBatch, paged_attention_torch
from triton_openai.models.llm.native import deinterleave_blocks, interleave_blocks, interleaved_rows, kernels
from triton_openai.models.llm.quant import Q4Linear, Q8Linear, quantize_q4_1

LEVELS = (0, 1, 2)  # portable, AVX2, AVX-512 VNNI


@pytest.fixture(scope="module")
def native():
    library = kernels()
    if library is None:
        pytest.fail("the engine's CPU kernels did not build (a C compiler is part of the install)")
    yield library
    library.force_level = -1


def layers(native, bits):
    torch.manual_seed(0)
    n, k = 1547, 576  # n is not a multiple of 8: the plain path computes the last rows
    qs = torch.randint(0, 256, (n, k // 32, 16), dtype=torch.uint8)
    d, m = torch.rand(n, k // 32) * 0.01, -torch.rand(n, k // 32) * 0.05
    q8 = torch.randint(-127, 128, (n, k // 32, 32), dtype=torch.int8)
    return [
        Q4Linear(qs, d, m, kernels=native, activation_bits=bits),
        Q8Linear(q8, d, kernels=native, activation_bits=bits),
    ]


def usable_levels(native):
    best = native._lib.tok_simd_level()
    return [level for level in LEVELS if level <= best]


@pytest.mark.parametrize("bits, tolerance", [(16, 1e-4), (8, 2e-2)])
def test_block_products_match_the_dequantized_weights(native, bits, tolerance):
    x = torch.randn(37, 576)
    for layer in layers(native, bits):
        reference = x @ layer.dense_weight().T
        error = (layer(x) - reference).abs().max() / reference.abs().max()
        assert error < tolerance, (type(layer).__name__, float(error))


@pytest.mark.parametrize("bits", [16, 8])
def test_a_row_is_the_same_alone_in_any_batch_and_on_any_instruction_set(native, bits):
    x = torch.randn(37, 576)
    for layer in layers(native, bits):
        results = []
        for level in usable_levels(native):
            native.force_level = level
            full = layer(x)
            alone = torch.cat([layer(x[i : i + 1]) for i in range(len(x))])
            fives = torch.cat([layer(x[i : i + 5]) for i in range(0, len(x), 5)])
            assert torch.equal(alone, full) and torch.equal(fives, full)
            results.append(full)
        native.force_level = -1
        assert all(torch.equal(r, results[0]) for r in results)


@pytest.mark.parametrize("rows", [16, 21])
def test_interleaved_blocks_give_back_their_rows(rows):
    qs = torch.randint(0, 256, (rows, 18, 16), dtype=torch.uint8)
    packed = interleave_blocks(qs)
    assert packed.shape == qs.shape and not torch.equal(packed, qs)
    # the 8 rows' first blocks, then their second ones: one stream for the tile that multiplies them
    assert torch.equal(packed[0, 1], qs[1, 0]) and torch.equal(packed[0, 8], qs[0, 1])
    assert torch.equal(deinterleave_blocks(packed), qs)
    ids = torch.tensor([rows - 1, 0, 9, 3, rows - 1])
    assert torch.equal(interleaved_rows(packed, ids), qs[ids])


def test_embedding_rows_of_blocks_are_the_dense_rows(native):
    ids = torch.tensor([1546, 0, 8, 3, 1546, 1540])  # the last ones past the last group of 8
    for layer in layers(native, 16):
        assert torch.equal(layer.rows(ids), layer.dense_weight()[ids]), type(layer).__name__


def test_q4_1_quantization_round_trips_within_a_step():
    weight = torch.randn(64, 96)
    qs, d, m = quantize_q4_1(weight)
    restored = Q4Linear(qs, d, m).dense_weight()
    assert ((restored - weight).abs() <= d.repeat_interleave(32, dim=1) / 2 + 1e-6).all()


def test_paged_attention_matches_pytorch(native):
    torch.manual_seed(1)
    heads, kv_heads, dim, block = 9, 3, 64, 16
    keys, values = torch.randn(40, block, kv_heads, dim), torch.randn(40, block, kv_heads, dim)
    tables = torch.randperm(40)[:30].view(3, 10).to(torch.int32).contiguous()
    seq_of = torch.tensor([0, 1, 1, 2, 2], dtype=torch.int32)
    len_of = torch.tensor([100, 7, 8, 160, 1], dtype=torch.int32)
    q = torch.randn(5, heads, dim)
    batch = ForwardBatch(
        torch.zeros(5, dtype=torch.long), (len_of - 1).long(), torch.zeros(5, dtype=torch.long), seq_of, len_of,
        tables, torch.arange(5),
    )  # fmt: skip
    expected = paged_attention_torch(q, keys, values, batch, dim**-0.5)
    torch.testing.assert_close(native.paged_attention(q, keys, values, tables, seq_of, len_of, dim**-0.5), expected)


def test_rms_norm_and_silu_gate_match_pytorch(native):
    x, residual, weight = torch.randn(6, 576), torch.randn(6, 576), torch.rand(576)
    expected_sum = x + residual
    expected = torch.nn.functional.rms_norm(expected_sum, (576,), weight, 1e-5)
    out = native.rms_norm(x, weight, 1e-5, residual)
    torch.testing.assert_close(x, expected_sum)  # the residual was added in place
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    gate_up = torch.randn(6, 2 * 1536) * 4
    gate, up = gate_up.split(1536, dim=1)
    torch.testing.assert_close(native.silu_mul(gate_up), torch.nn.functional.silu(gate) * up, rtol=1e-5, atol=1e-5)
