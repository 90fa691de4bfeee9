"""Driving a TorchEngine in tests: submit a request, collect what it sends back."""

from __future__ import annotations

import threading

from triton_openai.models.llm.params import SamplingParams
from triton_openai.models.llm.request import GenerationRequest


class Collector:
    def __init__(self) -> None:
        self.outputs = []
        self.done = threading.Event()

    def __call__(self, output) -> None:
        self.outputs.append(output)
        if output.finished:
            self.done.set()

    @property
    def text(self) -> str:
        return "".join(o.text for o in self.outputs)

    @property
    def ids(self) -> list[int]:
        return [i for o in self.outputs for i in o.token_ids]

    @property
    def last(self):
        return self.outputs[-1]


def chat_ids(tokenizer, text: str) -> list[int]:
    messages = [{"role": "user", "content": text}]
    return list(tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=False))


def submit(engine, ids, cancelled=lambda: False, **params) -> Collector:
    collector = Collector()
    engine.submit(GenerationRequest("test", ids, SamplingParams(**params), collector, cancelled))
    return collector
