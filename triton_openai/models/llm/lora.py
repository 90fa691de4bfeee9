"""LoRA adapters applied per row inside the shared batch.

An adapter is a folder as peft saves it: `adapter_config.json` (r, lora_alpha, target
modules, use_rslora) and `adapter_model.safetensors` (`...<module>.lora_A.weight` [r, in]
and `...<module>.lora_B.weight` [out, r]). Loading checks that every module exists in the
base model and that the shapes fit, and refuses what this engine does not apply (DoRA,
trained biases, extra saved modules) with a message that says so.

Before a forward pass the engine says which adapter each token uses (`LoRASet.use`); the
decoder (triton_openai.models.llm.decoder) then adds `scale * (x @ A.T) @ B.T` to the outputs of each adapted
projection for that adapter's tokens: requests for different adapters and for the base model
share one step. At most `max_loras` adapters are kept; the least recently used one that no
running request needs is dropped for a new one.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import torch

from triton_openai.models.llm.params import InvalidRequest

logger = logging.getLogger(__name__)

_PREFIX = "base_model.model."
_UNSUPPORTED = {
    "use_dora": "DoRA adapters",
    "modules_to_save": "adapters that save whole modules (modules_to_save)",
}


@dataclass
class LoRAAdapter:
    name: str
    path: str
    rank: int
    scale: float
    weights: dict[str, tuple[torch.Tensor, torch.Tensor]]  # module path -> (A [r, in], B [out, r])
    users: int = 0  # running requests that use it
    # The weights by (layer index, projection name), as the decoder asks for them.
    by_layer: dict[tuple[int, str], tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_layer = {_layer_and_name(path): pair for path, pair in self.weights.items()}


def _layer_and_name(path: str) -> tuple[int, str]:
    """`model.layers.3.self_attn.q_proj` -> (3, "q_proj")."""
    parts = path.split(".")
    return int(parts[parts.index("layers") + 1]), parts[-1]


def read_adapter(
    name: str, path: str, shapes: dict[str, tuple[int, int]], dtype: torch.dtype, device: torch.device
) -> LoRAAdapter:
    """Load and check an adapter folder against the base model's adaptable modules (`shapes`:
    path -> (in, out) features); InvalidRequest says what does not fit."""
    folder = Path(path).expanduser()
    config_file, weights_file = folder / "adapter_config.json", folder / "adapter_model.safetensors"
    if not config_file.is_file():
        raise InvalidRequest(f"LoRA adapter {name!r}: {folder} has no adapter_config.json")
    if not weights_file.is_file():
        raise InvalidRequest(f"LoRA adapter {name!r}: {folder} has no adapter_model.safetensors")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InvalidRequest(f"LoRA adapter {name!r}: adapter_config.json is not JSON: {exc}") from None
    if config.get("peft_type", "LORA") != "LORA":
        raise InvalidRequest(f"LoRA adapter {name!r}: peft_type {config.get('peft_type')!r} is not LORA")
    for key, what in _UNSUPPORTED.items():
        if config.get(key):
            raise InvalidRequest(f"LoRA adapter {name!r}: {what} are not supported")
    if config.get("bias", "none") != "none":
        raise InvalidRequest(f"LoRA adapter {name!r}: trained biases (bias={config['bias']!r}) are not supported")
    rank, alpha = int(config.get("r", 8)), float(config.get("lora_alpha", 8))
    scale = alpha / math.sqrt(rank) if config.get("use_rslora") else alpha / rank
    if config.get("rank_pattern") or config.get("alpha_pattern"):
        raise InvalidRequest(f"LoRA adapter {name!r}: per-module ranks (rank_pattern/alpha_pattern) are not supported")

    from safetensors.torch import load_file

    tensors = load_file(str(weights_file))
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in tensors.items():
        for part in ("lora_A", "lora_B"):
            marker = f".{part}."
            if marker in key:
                module = key.removeprefix(_PREFIX).split(marker)[0]
                pairs.setdefault(module, {})[part] = tensor
                break
        else:
            raise InvalidRequest(f"LoRA adapter {name!r}: unexpected tensor {key!r} (only lora_A/lora_B are applied)")
    if not pairs:
        raise InvalidRequest(f"LoRA adapter {name!r}: no lora_A/lora_B weights in {weights_file.name}")
    weights = {}
    for module, pair in pairs.items():
        weights[module] = _checked_pair(name, module, pair, rank, shapes, dtype, device)
    return LoRAAdapter(name=name, path=str(folder), rank=rank, scale=scale, weights=weights)


def _checked_pair(name, module, pair, rank, shapes, dtype, device) -> tuple[torch.Tensor, torch.Tensor]:
    if set(pair) != {"lora_A", "lora_B"}:
        raise InvalidRequest(f"LoRA adapter {name!r}: {module} lacks lora_A or lora_B")
    shape = shapes.get(module)
    if shape is None:
        adaptable = "q/k/v/o_proj, gate/up/down_proj"
        raise InvalidRequest(f"LoRA adapter {name!r}: the base model has no adaptable module {module!r} ({adaptable})")
    a, b = pair["lora_A"], pair["lora_B"]
    if a.shape != (rank, shape[0]) or b.shape != (shape[1], rank):
        raise InvalidRequest(
            f"LoRA adapter {name!r}: {module} has A {tuple(a.shape)} and B {tuple(b.shape)}; the base layer "
            f"needs A ({rank}, {shape[0]}) and B ({shape[1]}, {rank}) for rank {rank}"
        )
    return a.to(device=device, dtype=dtype).contiguous(), b.to(device=device, dtype=dtype).contiguous()


class ActiveAdapters:
    """Which tokens of one forward pass use which adapter; adds their deltas to the fused products.

    `groups` holds (adapter, token indices), the indices None when every token uses it."""

    def __init__(self, groups: list[tuple[LoRAAdapter, torch.Tensor | None]]) -> None:
        self.groups = groups

    def add(self, layer: int, module: str, x: torch.Tensor, y: torch.Tensor, offset: int = 0, width: int = 0) -> None:
        """y[:, offset:offset + width] += scale * (x A^T) B^T for the tokens of each adapter of `module`."""
        target = y[:, offset : offset + (width or y.shape[1])]
        for adapter, rows in self.groups:
            pair = adapter.by_layer.get((layer, module))
            if pair is None:
                continue
            a, b = pair
            if rows is None:
                target += (x @ a.T) @ b.T * adapter.scale
            else:
                target.index_add_(0, rows, (x[rows] @ a.T) @ b.T * adapter.scale)

    def add_qkv(self, layer: int, x: torch.Tensor, y: torch.Tensor, q_size: int, kv_size: int) -> None:
        self.add(layer, "q_proj", x, y, 0, q_size)
        self.add(layer, "k_proj", x, y, q_size, kv_size)
        self.add(layer, "v_proj", x, y, q_size + kv_size, kv_size)

    def add_gate_up(self, layer: int, x: torch.Tensor, y: torch.Tensor, intermediate: int) -> None:
        self.add(layer, "gate_proj", x, y, 0, intermediate)
        self.add(layer, "up_proj", x, y, intermediate, intermediate)


class LoRASet:
    """The adapters loaded for one model, and which tokens use which in a forward pass."""

    def __init__(
        self, shapes: dict[str, tuple[int, int]], max_loras: int, dtype: torch.dtype, device: torch.device
    ) -> None:
        self.shapes = shapes  # adaptable module path -> (in, out) features
        self.max_loras = max_loras
        self.dtype, self.device = dtype, device
        self._adapters: OrderedDict[str, LoRAAdapter] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def names(self) -> list[str]:
        return list(self._adapters)

    def acquire(self, name: str, path: str) -> LoRAAdapter:
        """The adapter `name` (loaded from `path` if it is not), held for one request until `release`."""
        if self.max_loras <= 0:
            raise InvalidRequest("this server was started without LoRA support (max_loras 0)")
        if not self.shapes:
            raise InvalidRequest(
                "LoRA adapters need a LLaMA, Mistral, Qwen2 or Qwen3 model (the engine's own decoder); "
                "this model runs on transformers' modules"
            )
        with self._lock:
            adapter = self._adapters.get(name)
            if adapter is not None and adapter.path != str(Path(path).expanduser()):
                self._drop(name)  # the name now points at another folder
                adapter = None
            if adapter is None:
                adapter = read_adapter(name, path, self.shapes, self.dtype, self.device)
                self._make_room()
                self._adapters[name] = adapter
                logger.info("LoRA adapter %s loaded from %s (rank %d)", name, path, adapter.rank)
            self._adapters.move_to_end(name)
            adapter.users += 1
            return adapter

    def release(self, adapter: LoRAAdapter) -> None:
        with self._lock:
            adapter.users -= 1

    def unload(self, name: str) -> bool:
        with self._lock:
            return self._drop(name)

    def use(self, token_adapters: list[LoRAAdapter | None]) -> ActiveAdapters | None:
        """The adapters of a forward pass's tokens (None: no token uses one)."""
        groups: dict[int, list[int]] = {}
        by_id: dict[int, LoRAAdapter] = {}
        for token, adapter in enumerate(token_adapters):
            if adapter is not None:
                groups.setdefault(id(adapter), []).append(token)
                by_id[id(adapter)] = adapter
        if not groups:
            return None
        return ActiveAdapters(
            [
                (by_id[key], None if len(rows) == len(token_adapters) else torch.tensor(rows, device=self.device))
                for key, rows in groups.items()
            ]
        )

    def _make_room(self) -> None:
        while len(self._adapters) >= self.max_loras:
            idle = next((name for name, a in self._adapters.items() if a.users == 0), None)
            if idle is None:
                logger.warning("all %d LoRA adapters are in use: keeping one more for now", len(self._adapters))
                return
            self._drop(idle)

    def _drop(self, name: str) -> bool:
        adapter = self._adapters.pop(name, None)
        if adapter is not None:
            logger.info("LoRA adapter %s unloaded", name)
        return adapter is not None
