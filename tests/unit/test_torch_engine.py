"""The torch engine in-process, on the real default model."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from tests.unit.engine_helpers import chat_ids, submit
from triton_openai.models.llm.engine_config import EngineConfig
from triton_openai.models.llm.params import EngineOverloaded, InvalidRequest, SamplingParams
from triton_openai.models.llm.request import GenerationRequest
from triton_openai.models.llm.torch_engine import TorchEngine

PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about the sea and the moon in the night sky, please.",
    "List three colours.",
]


@pytest.fixture
def engine(loaded):
    engine = TorchEngine(loaded, EngineConfig(max_num_seqs=8, prefill_chunk=16)).start()
    yield engine
    engine.shutdown()


def test_batched_greedy_equals_hf_generate(engine, hf_model, tokenizer):
    prompts = [chat_ids(tokenizer, p) for p in PROMPTS]
    expected = []
    for ids in prompts:
        out = hf_model.generate(torch.tensor([ids]), max_new_tokens=24, do_sample=False)
        expected.append(out[0, len(ids) :].tolist())
    collectors = []
    for ids in prompts:  # staggered: each joins a batch that is already decoding
        collectors.append(submit(engine, ids, max_tokens=24, temperature=0.0))
        time.sleep(0.05)
    for collector, reference in zip(collectors, expected, strict=True):
        assert collector.done.wait(60)
        assert collector.ids == reference[: len(collector.ids)]
        assert collector.text == tokenizer.decode(collector.ids, skip_special_tokens=True)


def test_max_tokens_gives_length_and_exact_count(engine, tokenizer):
    collector = submit(
        engine, chat_ids(tokenizer, "Tell me a long story."), max_tokens=7, temperature=0.0, ignore_eos=True
    )
    assert collector.done.wait(30)
    assert collector.last.finish_reason == "length"
    assert collector.last.num_output_tokens == 7 == len(collector.ids)


def test_stop_string_ends_and_is_not_in_text(engine, tokenizer):
    collector = submit(
        engine,
        chat_ids(tokenizer, "What is the capital of France?"),
        max_tokens=30,
        temperature=0.0,
        stop=("Paris",),
    )
    assert collector.done.wait(30)
    assert collector.last.finish_reason == "stop" and collector.last.stop_reason == "Paris"
    assert "Paris" not in collector.text and collector.text.startswith("The capital")


def test_seeded_sampling_repeats_while_batched(engine, tokenizer):
    ids = chat_ids(tokenizer, "Write a poem.")
    first = submit(engine, ids, max_tokens=16, temperature=1.0, seed=1234)
    noise = submit(engine, chat_ids(tokenizer, "Count to ten."), max_tokens=30, temperature=1.0)
    assert first.done.wait(30)
    second = submit(engine, ids, max_tokens=16, temperature=1.0, seed=1234)
    other = submit(engine, ids, max_tokens=16, temperature=1.0, seed=99)
    for c in (second, other, noise):
        assert c.done.wait(30)
    assert first.ids == second.ids
    assert first.ids != other.ids


def test_cancellation_frees_the_slot(engine, tokenizer):
    flag = threading.Event()
    collector = submit(
        engine, chat_ids(tokenizer, "Tell me a long story."), flag.is_set, max_tokens=500, ignore_eos=True
    )
    while len(collector.outputs) < 3:
        time.sleep(0.01)
    before = engine.stats.cancelled_total
    flag.set()
    assert collector.done.wait(10)
    assert collector.last.finish_reason == "cancelled"
    deadline = time.monotonic() + 5
    while engine.stats.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert engine.stats.running == 0
    assert engine.stats.cancelled_total == before + 1
    assert len(collector.ids) < 500


def test_min_tokens_and_ignore_eos(engine, tokenizer):
    ids = chat_ids(tokenizer, "What is the capital of France?")
    short = submit(engine, ids, max_tokens=50, temperature=0.0)
    assert short.done.wait(30)
    assert short.last.finish_reason == "stop"
    floor = short.last.num_output_tokens + 5
    longer = submit(engine, ids, max_tokens=50, temperature=0.0, min_tokens=floor)
    assert longer.done.wait(30)
    assert longer.last.num_output_tokens >= floor


def test_context_overflow_is_an_invalid_request(engine, loaded, tokenizer):
    with pytest.raises(InvalidRequest, match="maximum context length"):
        submit(engine, chat_ids(tokenizer, "hi"), max_tokens=loaded.max_model_len)


def test_full_queue_is_overloaded(loaded, tokenizer):
    engine = TorchEngine(loaded, EngineConfig(max_num_seqs=1, max_queue_len=1)).start()
    try:
        ids = chat_ids(tokenizer, "Tell me a long story.")
        flag = threading.Event()
        running = submit(engine, ids, flag.is_set, max_tokens=200, ignore_eos=True)
        while not running.outputs:
            time.sleep(0.01)
        waiting = submit(engine, ids, flag.is_set, max_tokens=200, ignore_eos=True)
        with pytest.raises(EngineOverloaded):
            submit(engine, ids, max_tokens=5)
        flag.set()
        assert running.done.wait(10) and waiting.done.wait(10)
    finally:
        engine.shutdown()


def test_a_failing_callback_does_not_stop_the_engine(engine, tokenizer):
    def broken(output):
        raise RuntimeError("client bug")

    engine.submit(GenerationRequest("bad", chat_ids(tokenizer, "hi"), SamplingParams(max_tokens=5), broken))
    healthy = submit(engine, chat_ids(tokenizer, "hi"), max_tokens=5, temperature=0.0)
    assert healthy.done.wait(30)


MIXED = [
    ("What is the capital of France?", {"max_tokens": 5}),
    ("Write a haiku about the sea.", {"max_tokens": 40, "stop": (".",)}),
    ("Tell me a story about a cat.", {"max_tokens": 30, "temperature": 0.8, "seed": 7}),
    ("List three colours.", {"max_tokens": 25, "ignore_eos": True}),
    ("Explain how a rainbow forms.", {"max_tokens": 35, "stop": ("\n",)}),
    ("Describe a sunset.", {"max_tokens": 20, "temperature": 1.0, "top_p": 0.9, "seed": 3}),
]


def run_alone(engine, tokenizer, prompt, params, ids=None):
    collector = submit(engine, ids or chat_ids(tokenizer, prompt), **{"temperature": 0.0, **params})
    assert collector.done.wait(60)
    return collector.ids, collector.text, collector.last.finish_reason


def test_concurrent_requests_get_what_they_get_alone(engine, tokenizer):
    alone = [run_alone(engine, tokenizer, prompt, params) for prompt, params in MIXED]
    assert {finish for _, _, finish in alone} == {"stop", "length"}
    flag = threading.Event()
    doomed = submit(engine, chat_ids(tokenizer, "Tell me a long story."), flag.is_set, max_tokens=300, ignore_eos=True)
    together = []
    for i, (prompt, params) in enumerate(MIXED):
        together.append(submit(engine, chat_ids(tokenizer, prompt), **{"temperature": 0.0, **params}))
        if i == 2:
            flag.set()  # cancelled while the others are in the batch
        time.sleep(0.02 * (i % 2))  # some arrive together, some join a running batch
    assert doomed.done.wait(30) and doomed.last.finish_reason == "cancelled"
    for collector, expected in zip(together, alone, strict=True):
        assert collector.done.wait(60)
        assert (collector.ids, collector.text, collector.last.finish_reason) == expected


def test_the_stats_listener_hears_the_counters_while_they_change(loaded, tokenizer):
    """Counters are published as they change (at most every STATS_SECONDS), not only when
    running or waiting do, and exactly once the engine is idle."""
    heard = []
    engine = TorchEngine(loaded, EngineConfig(max_num_seqs=2), stats_listener=heard.append).start()
    try:
        run = submit(engine, chat_ids(tokenizer, "Tell me a story."), max_tokens=24, ignore_eos=True)
        assert run.done.wait(60)
        deadline = time.monotonic() + 5
        while (not heard or heard[-1].finished_total < 1) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        engine.shutdown()
    while_running = {s.generated_tokens_total for s in heard if s.running == 1}
    assert len(while_running) >= 2  # published as tokens were counted, with running steady at 1
    assert heard[-1].finished_total == 1 and heard[-1].generated_tokens_total == 24 and heard[-1].running == 0


@pytest.fixture(scope="module")
def served(gguf_loaded):
    """The engine as the server runs it (the GGUF's blocks), chunking prompts of over 16 tokens."""
    engine = TorchEngine(gguf_loaded, EngineConfig(max_num_seqs=8, prefill_chunk=16)).start()
    yield engine
    engine.shutdown()


@pytest.fixture(scope="module", params=["blocks", "bf16"])
def served_by_prompt_matmul(request, prepared_model):
    """The served engine with prompt tokens on the blocks, and with their bf16 products (AMX)."""
    from triton_openai.models.llm.model_loader import load_model
    from triton_openai.models.llm.quant import PromptMatmul

    if request.param == "bf16" and not PromptMatmul.available():
        pytest.skip("no AMX on this CPU: prompts stay on the blocks")
    folder, gguf = str(prepared_model.model_dir), prepared_model.gguf_file
    loaded = load_model(folder, device="cpu", weights_file=gguf, prompt_matmul=request.param)
    assert (loaded.decoder.layers[0].prompt is not None) == (request.param == "bf16")
    engine = TorchEngine(loaded, EngineConfig(max_num_seqs=8, prefill_chunk=16)).start()
    yield engine
    engine.shutdown()


def test_quantized_requests_get_bitwise_what_they_get_alone(served_by_prompt_matmul, tokenizer):
    served = served_by_prompt_matmul
    alone = [run_alone(served, tokenizer, prompt, params) for prompt, params in MIXED]
    together = [submit(served, chat_ids(tokenizer, p), **{"temperature": 0.0, **params}) for p, params in MIXED]
    for collector, expected in zip(together, alone, strict=True):
        assert collector.done.wait(60)
        assert (collector.ids, collector.text, collector.last.finish_reason) == expected


def test_a_repeated_prompt_is_served_from_the_prefix_cache(served_by_prompt_matmul, tokenizer):
    served = served_by_prompt_matmul
    ids = chat_ids(tokenizer, "Describe the water cycle in three sentences for a child.")
    first = submit(served, ids, max_tokens=20, temperature=0.0)
    assert first.done.wait(60)
    again = submit(served, ids, max_tokens=20, temperature=0.0)
    assert again.done.wait(60)
    # every token but the last: the full blocks, and the first request's last block shared in part
    assert again.last.num_cached_tokens == len(ids) - 1 > first.last.num_cached_tokens
    assert again.ids == first.ids


def test_a_prompt_that_departs_inside_a_block_reuses_the_tokens_before(served, gguf_loaded, tokenizer):
    ids = chat_ids(tokenizer, "Describe the water cycle in three sentences for a child, with an example.")
    block = served.cache.block_size
    shared = (len(ids) - 1) // block * block - 6  # the same prompt up to the middle of a block
    other = ids[:shared] + tokenizer(" and then name two rivers of Europe.")["input_ids"]
    first = submit(served, ids, max_tokens=8, temperature=0.0)
    assert first.done.wait(60)
    again = submit(served, other, max_tokens=12, temperature=0.0, ignore_eos=True)
    assert again.done.wait(60)
    assert again.last.num_cached_tokens == shared
    fresh = TorchEngine(gguf_loaded, EngineConfig(prefix_caching=False, prefill_chunk=16)).start()
    try:  # the copied keys and values are the ones computing them gives
        expected = run_alone(fresh, tokenizer, None, {"max_tokens": 12, "ignore_eos": True}, ids=other)
        assert expected == (again.ids, again.text, "length")
    finally:
        fresh.shutdown()


def test_no_prefix_cache_when_it_is_off(gguf_loaded, tokenizer):
    engine = TorchEngine(gguf_loaded, EngineConfig(prefix_caching=False)).start()
    try:
        ids = chat_ids(tokenizer, "Name a colour.")
        for _ in range(2):
            run = submit(engine, ids, max_tokens=4, temperature=0.0)
            assert run.done.wait(60) and run.last.num_cached_tokens == 0
    finally:
        engine.shutdown()


def test_chunked_prefill_and_preemption_change_nothing(gguf_loaded, served, tokenizer):
    """A KV cache of 10 blocks for 4 requests of ~60 tokens: requests are preempted and
    computed again, prompts are prefilled in chunks of 16, and every answer is still the one
    given alone by an engine with room to spare."""
    prompts = ["Tell me about the moon.", "Write a poem about rain.", "Explain gravity.", "What is a river?"]
    alone = [run_alone(served, tokenizer, p, {"max_tokens": 40, "ignore_eos": True}) for p in prompts]
    tight = TorchEngine(gguf_loaded, EngineConfig(max_num_seqs=4, prefill_chunk=16, kv_cache_tokens=160)).start()
    try:
        runs = [submit(tight, chat_ids(tokenizer, p), max_tokens=40, ignore_eos=True, temperature=0.0) for p in prompts]
        for run, expected in zip(runs, alone, strict=True):
            assert run.done.wait(120)
            assert (run.ids, run.text, run.last.finish_reason) == expected
        assert tight.stats.preempted_total > 0
    finally:
        tight.shutdown()
