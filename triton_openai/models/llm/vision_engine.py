"""Chat with images: a transformers image-text-to-text model behind the engine's interface.

Any model folder that `AutoModelForImageTextToText` and `AutoProcessor` load (SmolVLM /
Idefics3, Qwen2-VL, LLaVA, Gemma 3, ...) is served with its own processor: the chat
template places the image tokens, the processor turns images into pixels. transformers'
`generate` runs the model, so each architecture's own handling of images, positions and
cache stays as its authors wrote it; the choice of every token is ours, the same code as
the torch engine's (models.llm.sampler: seeds, penalties, min_tokens, grammars; models.llm.sequence:
stop strings, detokenization, finish reasons, logprobs), hooked in as a logits processor.

Requests run one at a time, in arrival order, on one worker thread: some models keep
per-call state on the module (Qwen2-VL's rope deltas), so calls must not overlap. A
request waiting for its turn counts against `max_queue_len`.
"""

from __future__ import annotations

import inspect
import io
import json
import logging
import queue
import threading
from typing import Any

import torch

from triton_openai.model_settings import VisionSettings
from triton_openai.models.llm.guided import GuideCompiler
from triton_openai.models.llm.logprobs import token_logprobs
from triton_openai.models.llm.model_loader import eos_token_ids, resolve_device, resolve_dtype
from triton_openai.models.llm.params import EngineOverloaded, InvalidRequest
from triton_openai.models.llm.prompts import PromptInput, PromptTokenizer
from triton_openai.models.llm.request import FINISH_CANCELLED, FINISH_ERROR, GenerationRequest
from triton_openai.models.llm.sampler import PenaltyState, sample
from triton_openai.models.llm.sequence import Sequence

logger = logging.getLogger(__name__)

MAX_IMAGE_PIXELS = 50_000_000  # larger images are refused before decoding (decompression bombs)


class VisionEngine:
    def __init__(self, model_dir: str, settings: VisionSettings | None = None) -> None:
        from transformers import AutoModelForImageTextToText, AutoProcessor, GenerationConfig

        settings = settings or VisionSettings()
        self.device = resolve_device(settings.device)
        torch_dtype = resolve_dtype(settings.dtype, self.device)
        self.processor = AutoProcessor.from_pretrained(model_dir)
        self.model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch_dtype).to(self.device).eval()
        # Processors may return inputs their model does not take (transformers 4.57 adds
        # token_type_ids, which generate then refuses).
        forward = inspect.signature(self.model.forward).parameters
        self._dropped_inputs = {name for name in ("token_type_ids",) if name not in forward}
        self.prompts = PromptTokenizer(processor=self.processor)
        self.tokenizer = self.prompts.tokenizer
        text_config = self.model.config.get_text_config()
        window = int(getattr(text_config, "max_position_embeddings", 0) or 0) or 4096
        limit = settings.max_model_len
        self.max_model_len = min(limit, window) if limit > 0 else window
        self.vocab_size = int(text_config.vocab_size)
        self.eos_token_ids = eos_token_ids(model_dir, self.tokenizer, GenerationConfig)
        self.guides = GuideCompiler(self.tokenizer, self.vocab_size)
        self.max_queue_len = settings.max_queue_len
        self.max_images = settings.max_images_per_prompt
        self._queue: queue.Queue[tuple[Sequence, dict[str, Any]] | None] = queue.Queue()
        self._waiting = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="vision-engine", daemon=True)
        logger.info("loaded %s on %s as %s, context %d", model_dir, self.device, torch_dtype, self.max_model_len)

    def start(self) -> VisionEngine:
        self._thread.start()
        return self

    def shutdown(self, timeout: float = 10.0) -> None:
        self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout)

    # -- requests -------------------------------------------------------------------------

    def submit(self, request: GenerationRequest, prompt: PromptInput) -> None:
        """Prepare the prompt (images decoded, template rendered) and queue the request.
        Raises InvalidRequest or EngineOverloaded at once."""
        request.params.validate()
        request.params.check_vocabulary(self.vocab_size)
        inputs = self.model_inputs(prompt)
        request.prompt_ids = inputs["input_ids"][0].tolist()
        params = request.params
        matcher = self.guides.matcher(params.guide_type, params.guide) if params.guide_type else None
        seq = Sequence(request, self.tokenizer, self.eos_token_ids, self.max_model_len, self.device, matcher)
        with self._lock:
            if self._waiting >= self.max_queue_len:
                raise EngineOverloaded(f"the server is overloaded: {self._waiting} requests are waiting; retry later")
            self._waiting += 1
        self._queue.put((seq, inputs))

    def model_inputs(self, prompt: PromptInput) -> dict[str, Any]:
        """The processor's tensors for a prompt (input_ids, attention_mask, pixel values...)."""
        if prompt.token_ids:
            if any(not 0 <= i < self.vocab_size for i in prompt.token_ids):
                raise InvalidRequest(f"prompt token ids must be in [0, {self.vocab_size})")
            ids = torch.tensor([list(prompt.token_ids)], dtype=torch.long)
            return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
        if len(prompt.images) > self.max_images:
            raise InvalidRequest(f"at most {self.max_images} images may be sent in one request")
        images = [_decode_image(data, i) for i, data in enumerate(prompt.images)]
        text = self.prompts.render(prompt)
        placeholders = _count_image_placeholders(prompt.messages_json)
        if placeholders != len(images):
            raise InvalidRequest(f"the messages hold {placeholders} image parts but {len(images)} images were sent")
        try:
            inputs = self.processor(
                text=[text], images=images or None, return_tensors="pt", add_special_tokens=prompt.special_tokens
            )
        except (ValueError, TypeError) as exc:  # the processor's own checks (e.g. image token counts)
            raise InvalidRequest(f"the model's processor refused the input: {exc}") from exc
        return {name: value for name, value in inputs.items() if name not in self._dropped_inputs}

    # -- the worker -------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            seq, inputs = item
            with self._lock:
                self._waiting -= 1
            try:
                self._generate(seq, inputs)
            except Exception as exc:  # noqa: BLE001 - one request's failure must not stop the engine
                logger.exception("generation of request %s failed", seq.request.request_id)
                self._emit(seq, seq.finish(FINISH_ERROR, f"generation failed: {type(exc).__name__}: {exc}"))

    @torch.inference_mode()
    def _generate(self, seq: Sequence, inputs: dict[str, Any]) -> None:
        from transformers import GenerationConfig, LogitsProcessor, LogitsProcessorList, StoppingCriteria

        if seq.request.is_cancelled():
            self._emit(seq, seq.finish(FINISH_CANCELLED))
            return
        engine = self
        penalties = PenaltyState(self.vocab_size, self.device).new_row(seq.prompt_ids)

        class ChooseToken(LogitsProcessor):
            """Chooses the next token with the engine's sampler; generate then takes it (greedy
            over a one-hot row)."""

            def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
                logits = scores[:, : engine.vocab_size]
                token = int(sample(logits, [seq.sampling_row], penalties)[0])
                logprob = token_logprobs(logits, [token], [seq.params.logprobs])[0]
                engine._emit(seq, seq.append_token(token, logprob))
                chosen = torch.full_like(scores, float("-inf"))
                chosen[:, token] = 0.0
                return chosen

        class Finished(StoppingCriteria):
            def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
                done = seq.finished or seq.request.is_cancelled()
                return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)

        # Every option explicit: generate fills the ones left unset from the model's
        # generation_config (a repetition penalty there would change our choices).
        config = GenerationConfig(
            max_new_tokens=seq.max_tokens,
            do_sample=False,
            num_beams=1,
            repetition_penalty=1.0,
            no_repeat_ngram_size=0,
            min_new_tokens=0,
            eos_token_id=sorted(self.eos_token_ids) or None,
            pad_token_id=self.tokenizer.pad_token_id or next(iter(self.eos_token_ids), 0),
        )
        on_device = {k: v.to(self.device) if hasattr(v, "to") else v for k, v in inputs.items()}
        self.model.generate(
            **on_device,
            generation_config=config,
            logits_processor=LogitsProcessorList([ChooseToken()]),
            stopping_criteria=[Finished()],
        )
        if not seq.finished:  # cancelled mid-way
            self._emit(seq, seq.finish(FINISH_CANCELLED))

    def _emit(self, seq: Sequence, output: Any) -> None:
        try:
            seq.request.on_output(output)
        except Exception:  # noqa: BLE001 - a broken client callback ends its request only
            logger.exception("output callback of request %s failed", seq.request.request_id)
            seq.finished = True


def _decode_image(data: bytes, index: int) -> Any:
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > MAX_IMAGE_PIXELS:
            raise InvalidRequest(f"image {index + 1} has {image.width}x{image.height} pixels; too large")
        image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise InvalidRequest(f"image {index + 1} could not be decoded: {exc}") from exc
    return image.convert("RGB")


def _count_image_placeholders(messages_json: str) -> int:
    if not messages_json:
        return 0
    try:
        messages = json.loads(messages_json)
    except json.JSONDecodeError:
        return 0  # render_chat has already refused it
    return sum(
        1
        for m in messages
        if isinstance(m, dict) and isinstance(m.get("content"), list)
        for part in m["content"]
        if isinstance(part, dict) and part.get("type") == "image"
    )
