"""RecordingTritonClient: a test double of the TritonClient protocol, for serving tests.

It serves the models it is given, records every call it gets, and answers each generation
from a script: a function of the call that returns the chunks to stream. Nothing here talks
to Triton; the serving classes under test cannot tell.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from triton_openai.frontend.triton.base import AudioChunk, GenerationChunk, ServedModel, TokenizedPrompt
from triton_openai.frontend.triton.jobs import (
    ChatPrompt,
    EmbeddingJob,
    GenerationJob,
    ImageJob,
    Prompt,
    SpeechJob,
    TokenizeJob,
    TranscriptionJob,
)

LLM = ServedModel(
    name="tiny",
    kind="llm",
    created=1,
    has_chat_template=True,
    max_model_len=4096,
    system_fingerprint="fp_tiny",
    preprocessing_model="tiny_preprocessing",
    llm_model="tiny_llm",
)


@dataclass(frozen=True)
class Generate:
    """One generation the double was asked for."""

    model: ServedModel
    job: GenerationJob
    request_id: str

    @property
    def choice(self) -> int:
        """The choice index the serving code numbered it with (its request id ends in -index)."""
        return int(self.request_id.rsplit("-", 1)[1])

    @property
    def input_ids(self) -> list[int]:
        """The prompt as the double tokenizes it (token ids as given)."""
        return _tokenized(self.job.prompt).token_ids

    @property
    def seed(self) -> int | None:
        return self.job.sampling.seed

    @property
    def stop(self) -> list[str]:
        return list(self.job.sampling.stop)

    @property
    def guide(self) -> tuple[str, str] | None:
        guide = self.job.sampling.guide
        return None if guide is None else (guide.type, guide.text)


Script = Callable[[Generate], list[GenerationChunk]]


def pieces(
    texts: list[str],
    prompt_tokens: int,
    *,
    cached: int = 0,
    finish: str = "stop",
    stop_reason: str | None = None,
) -> list[GenerationChunk]:
    """A stream of one token per text, the last one finishing (with `stop_reason`)."""
    chunks = []
    for i, text in enumerate(texts):
        last = i == len(texts) - 1
        chunks.append(
            GenerationChunk(
                text=text,
                token_ids=[100 + i],
                finish_reason=finish if last else None,
                num_input_tokens=prompt_tokens,
                num_output_tokens=i + 1,
                num_cached_tokens=cached,
                stop_reason=stop_reason if last else None,
            )
        )
    return chunks


def _tokenized(prompt: Prompt) -> TokenizedPrompt:
    """Token ids as given; a text as one token per character; chat messages one per message."""
    if isinstance(prompt, list):
        return TokenizedPrompt(list(prompt))
    if isinstance(prompt, ChatPrompt):
        return TokenizedPrompt(list(range(len(prompt.messages))), text=json.dumps(prompt.messages))
    return TokenizedPrompt([ord(c) for c in prompt.text], text=prompt.text)


def _hello(call: Generate) -> list[GenerationChunk]:
    return pieces(["Hel", "lo"], len(call.input_ids))


@dataclass
class RecordingTritonClient:
    """Serves `served`; tokenizes a text as one token per character and chat messages as
    one token per message (for /tokenize, and for the prompt counts of a generation); streams `script(call)` for each generation; answers the other
    models' jobs with made-up but predictable results (see each method)."""

    served: list[ServedModel] = field(default_factory=lambda: [LLM])
    script: Script = _hello
    generations: list[Generate] = field(default_factory=list)
    tokenized: list[TokenizeJob] = field(default_factory=list)
    jobs: list[Any] = field(default_factory=list)  # the other models' jobs, in order

    async def ready(self) -> bool:
        return True

    async def models(self) -> list[ServedModel]:
        return self.served

    async def tokenize(self, model: ServedModel, job: TokenizeJob) -> TokenizedPrompt:
        self.tokenized.append(job)
        return _tokenized(job.prompt)

    async def detokenize(self, model: ServedModel, token_ids: list[int]) -> str:
        return "".join(chr(i) for i in token_ids)

    async def generate(self, model: ServedModel, job: GenerationJob, request_id: str) -> AsyncIterator[GenerationChunk]:
        call = Generate(model, job, request_id)
        self.generations.append(call)
        rendered = _tokenized(job.prompt).text if isinstance(job.prompt, ChatPrompt) else None
        for i, chunk in enumerate(self.script(call)):  # as the llm model: the first chunk tells the rendered prompt
            first = i == 0 and rendered is not None and chunk.rendered_prompt is None
            yield replace(chunk, rendered_prompt=rendered) if first else chunk

    def calls_by_choice(self) -> list[Generate]:
        return sorted(self.generations, key=lambda call: call.choice)

    async def embed(self, model: ServedModel, job: EmbeddingJob) -> tuple[np.ndarray, list[int]]:
        """Row i is the vector [i, i, ...] of the job's dimensions (or 4); one token per character or id."""
        self.jobs.append(job)
        size = job.dimensions or 4
        return np.array([[i] * size for i in range(len(job.inputs))], dtype=np.float32), [len(r) for r in job.inputs]

    async def generate_images(self, model: ServedModel, job: ImageJob, request_id: str) -> AsyncIterator[bytes]:
        self.jobs.append(job)
        for i in range(job.n):
            yield f"image {i}".encode()

    async def synthesize(self, model: ServedModel, job: SpeechJob, request_id: str) -> AsyncIterator[AudioChunk]:
        self.jobs.append(job)
        for i, sentence in enumerate(job.text.split(".")):
            if sentence:
                yield AudioChunk(sentence.encode(), seconds=i + 1.0)

    async def transcribe(self, model: ServedModel, job: TranscriptionJob, request_id: str) -> AsyncIterator[dict]:
        self.jobs.append(job)
        yield {"type": "info", "language": job.language or "en", "duration": 2.0}
        yield {
            "type": "segment",
            **{"id": 0, "seek": 0, "start": 0.0, "end": 2.0, "text": " Hello.", "tokens": [1, 2], "temperature": 0.0},
            **{"avg_logprob": -0.1, "compression_ratio": 1.0, "no_speech_prob": 0.0},
            "words": [{"word": " Hello.", "start": 0.0, "end": 2.0}],
        }

    async def version(self) -> str:
        return "recording"

    async def close(self) -> None:
        pass
