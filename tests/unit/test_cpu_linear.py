import pytest
import torch
from torch import nn

from triton_openai.models.llm import cpu_linear

pytestmark = pytest.mark.skipif(not cpu_linear.available(), reason="oneDNN is not available")


def test_packed_linear_computes_the_same_product():
    torch.manual_seed(0)
    linear = nn.Linear(64, 48, bias=True)
    packed = cpu_linear.PackedLinear(linear)
    for rows in (1, 3, 16, 40):
        x = torch.randn(rows, 64)
        torch.testing.assert_close(packed(x), linear(x), rtol=1e-5, atol=1e-5)
    x = torch.randn(2, 5, 64)
    torch.testing.assert_close(packed(x), linear(x), rtol=1e-5, atol=1e-5)


def test_pack_linears_replaces_fp32_linears_only():
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Sequential(nn.Linear(8, 4)), nn.Linear(4, 4).half())
    assert cpu_linear.pack_linears(model) == 2
    assert isinstance(model[0], cpu_linear.PackedLinear) and isinstance(model[2][0], cpu_linear.PackedLinear)
    assert type(model[3]) is nn.Linear
