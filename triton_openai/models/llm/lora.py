"""LoRA adapters applied per row inside the shared batch.

An adapter is a folder as peft saves it: `adapter_config.json` (r, lora_alpha, target
modules, use_rslora) and `adapter_model.safetensors` (`...<module>.lora_A.weight` [r, in]
and `...<module>.lora_B.weight` [out, r]). Loading checks that every module exists in the
base model and that the shapes fit, and refuses what this engine does not apply (DoRA,
trained biases, extra saved modules) with a message that says so.

Each targeted linear layer of the base model is wrapped once (`_LoRALinear`); before a
forward pass the engine says which adapter each row uses (`LoRASet.use`), and the wrapper
adds `scale * (x @ A.T) @ B.T` to the rows of each adapter: requests for different
adapters and for the base model share one decode step. At most `max_loras` adapters are
kept; the least recently used one that no running request needs is dropped for a new one.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

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


def read_adapter(name: str, path: str, model: nn.Module, dtype: torch.dtype, device: torch.device) -> LoRAAdapter:
    """Load and check an adapter folder against `model`; InvalidRequest says what does not fit."""
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
        weights[module] = _checked_pair(name, module, pair, rank, model, dtype, device)
    return LoRAAdapter(name=name, path=str(folder), rank=rank, scale=scale, weights=weights)


def _checked_pair(name, module, pair, rank, model, dtype, device) -> tuple[torch.Tensor, torch.Tensor]:
    if set(pair) != {"lora_A", "lora_B"}:
        raise InvalidRequest(f"LoRA adapter {name!r}: {module} lacks lora_A or lora_B")
    try:
        target = model.get_submodule(module)
    except AttributeError:
        raise InvalidRequest(f"LoRA adapter {name!r}: the base model has no module {module!r}") from None
    if isinstance(target, _LoRALinear):
        target = target.base
    shape = (getattr(target, "in_features", None), getattr(target, "out_features", None))
    if None in shape:
        raise InvalidRequest(f"LoRA adapter {name!r}: {module} is not a linear layer (only linear layers are adapted)")
    a, b = pair["lora_A"], pair["lora_B"]
    if a.shape != (rank, shape[0]) or b.shape != (shape[1], rank):
        raise InvalidRequest(
            f"LoRA adapter {name!r}: {module} has A {tuple(a.shape)} and B {tuple(b.shape)}; the base layer "
            f"needs A ({rank}, {shape[0]}) and B ({shape[1]}, {rank}) for rank {rank}"
        )
    return a.to(device=device, dtype=dtype).contiguous(), b.to(device=device, dtype=dtype).contiguous()


class _Active:
    """Which rows of the current forward use which adapter."""

    def __init__(self) -> None:
        self.groups: list[tuple[LoRAAdapter, torch.Tensor | None]] = []  # None: every row


class _LoRALinear(nn.Module):
    def __init__(self, base: nn.Module, path: str, active: _Active) -> None:
        super().__init__()
        self.base = base
        self.path = path
        self.active = active
        self.in_features, self.out_features = base.in_features, base.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base(x)
        for adapter, rows in self.active.groups:
            pair = adapter.weights.get(self.path)
            if pair is None:
                continue
            a, b = pair
            if rows is None:
                y = y + (x @ a.T) @ b.T * adapter.scale
            else:
                y[rows] += (x[rows] @ a.T) @ b.T * adapter.scale
        return y


class LoRASet:
    """The adapters loaded into one model, and which rows use which in a forward pass."""

    def __init__(self, model: nn.Module, max_loras: int, dtype: torch.dtype, device: torch.device) -> None:
        self.model = model
        self.max_loras = max_loras
        self.dtype, self.device = dtype, device
        self._adapters: OrderedDict[str, LoRAAdapter] = OrderedDict()
        self._active = _Active()
        self._lock = threading.Lock()

    @property
    def names(self) -> list[str]:
        return list(self._adapters)

    def acquire(self, name: str, path: str) -> LoRAAdapter:
        """The adapter `name` (loaded from `path` if it is not), held for one request until `release`."""
        if self.max_loras <= 0:
            raise InvalidRequest("this server was started without LoRA support (max_loras 0)")
        with self._lock:
            adapter = self._adapters.get(name)
            if adapter is not None and adapter.path != str(Path(path).expanduser()):
                self._drop(name)  # the name now points at another folder
                adapter = None
            if adapter is None:
                adapter = read_adapter(name, path, self.model, self.dtype, self.device)
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

    def install(self, adapter: LoRAAdapter) -> None:
        """Wrap the layers `adapter` adapts (once per layer). Call between forward passes."""
        for path in adapter.weights:
            parent_path, _, child = path.rpartition(".")
            parent = self.model.get_submodule(parent_path) if parent_path else self.model
            layer = getattr(parent, child)
            if not isinstance(layer, _LoRALinear):
                setattr(parent, child, _LoRALinear(layer, path, self._active))

    def use(self, row_adapters: list[LoRAAdapter | None]) -> None:
        """Set the adapter of each row for the next forward pass."""
        groups: dict[int, list[int]] = {}
        by_id: dict[int, LoRAAdapter] = {}
        for row, adapter in enumerate(row_adapters):
            if adapter is not None:
                groups.setdefault(id(adapter), []).append(row)
                by_id[id(adapter)] = adapter
        self._active.groups = [
            (by_id[key], None if len(rows) == len(row_adapters) else torch.tensor(rows, device=self.device))
            for key, rows in groups.items()
        ]

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
