"""What serving the GGUF's own blocks costs in quality, against the full-precision model.

Both decoders run in this process on a fixed English text (TEXT, about 900 tokens): perplexity of
each, and how often their next-token choices (argmax) agree position by position. "full precision"
is the Hugging Face folder the GGUF was converted into (float32); "GGUF blocks" is what the server
runs by default for generated tokens (Q4_1/Q8_0 weights, activations quantized per block of 32), and
"prompt tokens in bf16" what it runs for prompt tokens on a CPU with AMX (a bf16 copy of those
weights, --prompt-matmul).

    .venv/bin/python bench/quality.py
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TEXT = """\
The river begins high in the mountains, where snow melts each spring and runs down through narrow
valleys. At first it is only a stream that a child could step across, cold and clear over smooth
stones. Further down, other streams join it, and by the time it reaches the first village it is wide
enough to turn a mill wheel. The villagers have built a stone bridge there, with three arches, and on
market days the bridge is crowded with carts carrying cheese, wool and firewood.

Below the village the valley opens into farmland. The river slows and bends in long curves, and in
summer the water is warm enough for swimming. Farmers draw water from it for their fields through a
network of small canals, some of which are several hundred years old. Herons stand in the shallows
waiting for fish, and in the evening swallows fly low over the surface to catch insects.

The largest town on the river grew up where the old road from the coast crossed it. For centuries the
town lived from trade: salt and cloth came up from the sea, timber and metal came down from the hills,
and merchants paid a toll to cross the bridge. The town hall, with its tall clock tower, was built
with that money, and so were the churches and the covered market. Today most goods travel by train
and truck, but the old warehouses along the river have become shops, restaurants and apartments.

Scientists who study the river measure its flow at several stations along its course. After heavy
rain the water level can rise by more than two metres in a single day, and in the past the town was
flooded many times. Engineers have since built embankments and a reservoir upstream that holds back
water during storms and releases it slowly afterwards. The reservoir also supplies drinking water to
the region and produces electricity from a small power station in the dam.

Near the coast the river divides into several channels that wind through marshes before reaching the
sea. The marshes are a protected area, home to many kinds of birds that stop there on their long
journeys between north and south. Every autumn, volunteers count the birds and record which species
have arrived, and the numbers are compared with those from earlier years. In recent decades some
species have become rarer, while others that were once unknown in the region now nest there every
spring. Visitors can follow wooden paths through the reeds and watch the birds from small huts
without disturbing them.

Learning a new language takes patience. A beginner first learns simple words for everyday things:
greetings, numbers, colours, food and family. Then come short sentences, questions and answers, and
the most common verbs. Listening to native speakers helps, even when one understands only a little,
because the ear slowly gets used to the rhythm and sounds of the language. Reading simple stories and
writing short notes every day are also useful. Mistakes are a normal part of learning, and most
people are happy to help someone who is trying to speak their language.
"""


VARIANTS = (
    ("full precision (fp32)", "none", "blocks"),
    ("GGUF blocks (generated)", "auto", "blocks"),
    ("prompt tokens in bf16", "auto", "bf16"),
)


@dataclass
class Quality:
    name: str
    perplexity: float
    agreement: float  # share of positions whose argmax equals the full-precision model's


def measure(model_dir: str, gguf_file: str) -> list[Quality]:
    import torch
    from transformers import AutoTokenizer

    from triton_openai.models.llm.decoder_loader import load_decoder

    ids = AutoTokenizer.from_pretrained(model_dir)(TEXT)["input_ids"]
    target = torch.tensor(ids[1:])
    results, reference = [], None
    with torch.inference_mode():
        for name, quantization, prompt_matmul in VARIANTS:
            decoder = load_decoder(model_dir, gguf_file, quantization, prompt_matmul=prompt_matmul)
            logits = decoder.prompt_logits([ids])[0][:-1]
            choice = logits.argmax(dim=-1)
            reference = choice if reference is None else reference
            nll = -torch.log_softmax(logits, dim=-1).gather(1, target.unsqueeze(1)).mean()
            results.append(Quality(name, float(torch.exp(nll)), float((choice == reference).float().mean())))
    return results


def default_model() -> tuple[str, str]:
    """The default model's converted folder and the GGUF file it came from."""
    from triton_openai.repository.cache import cache_root
    from triton_openai.repository.catalog import DEFAULT_MODEL
    from triton_openai.repository.prepare import ModelSpec, prepare_model

    prepared = prepare_model(ModelSpec.parse(DEFAULT_MODEL), cache_root())
    return str(prepared.model_dir), prepared.gguf_file


def main() -> None:
    model_dir, gguf = default_model()
    for q in measure(model_dir, gguf):
        print(f"{q.name:<24} perplexity {q.perplexity:7.3f}   top-1 agreement with fp32 {q.agreement * 100:5.1f}%")


if __name__ == "__main__":
    main()
