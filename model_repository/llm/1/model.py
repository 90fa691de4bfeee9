"""Triton glue for the LLM engine (logic in triton_openai.models.llm.torch_engine).

A prompt comes as messages (rendered with the chat template), as text or as token ids; it is
tokenized here, so a generation is one call to this model.

Decoupled: `execute` hands each request to the engine and returns at once; the engine
thread sends the responses through the request's response sender and polls
`is_cancelled()` between steps, so a client that goes away frees its slot.
"""

import functools
import json
import os
from concurrent.futures import ThreadPoolExecutor

import triton_python_backend_utils as pb_utils

from triton_openai.model_settings import LLMParameters
from triton_openai.models.llm import request_inputs
from triton_openai.models.llm.engine_config import EngineStats
from triton_openai.models.llm.model_loader import load_model
from triton_openai.models.llm.prompts import PromptTokenizer
from triton_openai.models.llm.request import GenerationRequest
from triton_openai.models.llm.token_bytes import TokenBytes
from triton_openai.models.llm.torch_engine import TorchEngine
from triton_openai.models.python_backend import (
    CancelWatch,
    GenerationWriter,
    SendQueue,
    client_errors,
    error_response,
    input_getter,
    model_settings,
)

FINAL = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL


class TritonPythonModel:
    def initialize(self, args):
        if not pb_utils.using_decoupled_model_transaction_policy(json.loads(args["model_config"])):
            raise pb_utils.TritonModelException("the llm model must be decoupled")
        params = model_settings(args, LLMParameters)
        # 0: all cores, for the engine's thread (EngineConfig.num_threads)
        params = params.model_copy(update={"num_threads": params.num_threads or os.cpu_count() or 1})
        self.metrics = _EngineMetrics(args["model_name"])
        self.generation_defaults = params.generation_defaults
        if params.engine == "torch":
            import torch

            torch.set_num_threads(1)  # the engine's thread owns the only thread team (EngineConfig.num_threads)
            torch.get_num_threads()  # and this thread keeps one, whatever the engine's sets later
            loaded = load_model(
                params.model_dir,
                params.device,
                params.dtype,
                params.max_model_len,
                weights_file=params.weights_file,
                quantization=params.quantization,
                prompt_matmul=params.prompt_matmul,
            )
            self.engine = TorchEngine(loaded, params, self.metrics.update).start()
        else:
            from triton_openai.models.llm.trtllm_engine import TensorRTLLMEngine

            self.engine = TensorRTLLMEngine(
                params.engine_dir,
                params.model_dir,
                params.max_model_len,
                params,
                self.metrics.update,
                **params.trtllm_args,
            ).start()
        self.token_bytes = TokenBytes(self.engine.tokenizer)
        # Prompts come as text or messages and are rendered and tokenized here (on two threads
        # of their own, see _submit), so a generation is one call.
        self.prompts = PromptTokenizer(tokenizer=self.engine.tokenizer)
        self.tokenizers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="tokenizer")
        self.sends = SendQueue()
        self.cancels = CancelWatch()

    def execute(self, requests):
        for request in requests:
            self._submit(request)
        return None

    def _submit(self, request):
        """Read the request and start it: a prompt of token ids at once, one of text or messages
        after the tokenizer workers have tokenized it (a prompt of megabytes takes seconds: the
        other requests do not wait behind it; the Rust tokenizer lets go of the GIL)."""
        sender = request.get_response_sender()
        get = input_getter(pb_utils, request)
        with client_errors(pb_utils, sender):
            lora_name, lora_path, unload = request_inputs.lora(get)
            if unload:
                self.engine.loras.unload(lora_name)
                sender.send(flags=FINAL)
                return
            params, stream = request_inputs.sampling_params(get, self.generation_defaults)
            prompt = request_inputs.prompt(get)
            request_fields = {
                "request_id": request.request_id(),
                "params": params,
                "lora_name": lora_name,
                "lora_path": lora_path,
                "max_prompt_tokens": request_inputs.max_prompt_tokens(get),
            }
            start = functools.partial(
                self._start, prompt, request_fields, sender, stream, request_inputs.echo_prompt(get)
            )
            if prompt.token_ids:
                start()
            else:
                self.tokenizers.submit(_ending_in_errors, start, sender)

    def _start(self, prompt, request_fields, sender, stream, echo):
        """Tokenize the prompt and hand the request to the engine."""
        with client_errors(pb_utils, sender):
            rendered, prompt_ids = self.prompts.tokenize(prompt)
            rendered = rendered if prompt.messages_json else None  # a text's client has it already
            writer = GenerationWriter(pb_utils, sender, stream, self.token_bytes, self.sends, rendered, self.cancels)
            if echo:
                writer.text.append(self.engine.tokenizer.decode(prompt_ids, skip_special_tokens=True))
            self.engine.submit(
                GenerationRequest(
                    prompt_ids=prompt_ids, on_output=writer, is_cancelled=writer.is_cancelled, **request_fields
                )
            )

    def finalize(self):
        self.tokenizers.shutdown(cancel_futures=True)
        self.engine.shutdown()
        self.sends.close()
        self.cancels.close()


def _ending_in_errors(start, sender):
    """Run `start` on a tokenizer worker: any failure still ends the request's stream."""
    try:
        start()
    except Exception as exc:  # noqa: BLE001 - a worker's exception would otherwise vanish
        sender.send(error_response(pb_utils, exc), flags=FINAL)


class _EngineMetrics:
    """The engine's counters as Triton custom metrics (served on Triton's /metrics)."""

    def __init__(self, model_name):
        labels = {"model": model_name}
        self.families = []  # a Metric dies with its family: keep both

        def family(name, description, kind):
            self.families.append(pb_utils.MetricFamily(name=name, description=description, kind=kind))
            return self.families[-1].Metric(labels=labels)

        gauge, counter = pb_utils.MetricFamily.GAUGE, pb_utils.MetricFamily.COUNTER
        self.running = family("llm_engine_requests_running", "Requests in the running batch", gauge)
        self.waiting = family("llm_engine_requests_waiting", "Requests waiting for a batch slot", gauge)
        self.kv_usage = family("llm_engine_kv_cache_usage", "Share of the KV cache's blocks in use (0-1)", gauge)
        self.counters = {
            "finished_total": family("llm_engine_requests_finished_total", "Requests finished", counter),
            "cancelled_total": family("llm_engine_requests_cancelled_total", "Requests cancelled", counter),
            "generated_tokens_total": family("llm_engine_generation_tokens_total", "Tokens generated", counter),
            "prompt_tokens_total": family("llm_engine_prompt_tokens_total", "Prompt tokens processed", counter),
            "cached_prompt_tokens_total": family(
                "llm_engine_prompt_tokens_cached_total", "Prompt tokens served from the prefix cache", counter
            ),
            "preempted_total": family(
                "llm_engine_preemptions_total", "Requests preempted for KV cache room (computed again)", counter
            ),
        }
        self.last = EngineStats()

    def update(self, stats):
        self.running.set(stats.running)
        self.waiting.set(stats.waiting)
        self.kv_usage.set(stats.kv_blocks_used / stats.kv_blocks_total if stats.kv_blocks_total else 0.0)
        for name, metric in self.counters.items():
            delta = getattr(stats, name) - getattr(self.last, name)
            if delta:
                metric.increment(delta)
        self.last = stats
