"""`triton-openai serve`: prepare the models, start tritonserver, run the HTTP frontend.

With --triton-url the frontend uses that server and starts none. Otherwise the models
are prepared (cached), a repository is rendered into a temporary folder and an embedded
tritonserver serves it on loopback until the frontend stops.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from types import FrameType

import uvicorn

from triton_openai.frontend.settings import Settings, apply_env
from triton_openai.launch.tritonserver import EmbeddedTriton
from triton_openai.repository.cache import cache_root
from triton_openai.repository.pipeline import build_repository

logger = logging.getLogger(__name__)

ENGINE_OPTIONS = (
    "engine",
    "device",
    "dtype",
    "max_model_len",
    "max_num_seqs",
    "max_queue_len",
    "prefill_chunk",
    "quantization",
    "kv_cache_tokens",
    "prefix_caching",
    "num_threads",
    "max_loras",
    "generation_config",
    "override_generation_config",
    "preprocessing_instances",
)
# Setting -> keyword of build_repository, for the embedding, audio, vision and image models.
OTHER_MODEL_OPTIONS = {
    "embedding_model": "embedding_models",
    "transcription_model": "transcription_models",
    "speech_voice": "speech_voices",
    "speech_model_name": "speech_model_name",
    "audio_workers": "audio_workers",
    "whisper_beam_size": "whisper_beam_size",
    "vision_model": "vision_models",
    "image_model": "image_models",
    "image_default_steps": "image_default_steps",
    "max_images_per_prompt": "max_images_per_prompt",
    "tensor_parallel_size": "tensor_parallel_size",
    "kv_cache_free_gpu_memory_fraction": "kv_cache_free_gpu_memory_fraction",
}
BUILD_FIELDS = (*ENGINE_OPTIONS, *OTHER_MODEL_OPTIONS)


def build_options(settings: Settings) -> dict[str, object]:
    """The settings `triton_openai.repository.pipeline.build_repository` takes, by its keyword names."""
    values = {name: getattr(settings, name) for name in ENGINE_OPTIONS}
    values.update({keyword: getattr(settings, name) for name, keyword in OTHER_MODEL_OPTIONS.items()})
    return values


def serve(settings: Settings) -> None:
    # SIGTERM, while starting or after uvicorn's graceful shutdown (which re-raises it),
    # ends in a clean exit through the `finally` below.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if settings.triton_url:
        run_frontend(settings)
        return
    cache = cache_root(settings.cache_dir)
    work = Path(tempfile.mkdtemp(prefix="triton-openai-"))
    triton: EmbeddedTriton | None = None
    try:
        repository = build_repository(settings.model, work / "model_repository", cache, **build_options(settings))
        log_path = (
            Path(settings.triton_log) if settings.triton_log else cache / "logs" / f"tritonserver-{os.getpid()}.log"
        )
        triton = EmbeddedTriton(
            repository,
            cache,
            log_path,
            grpc_port=settings.triton_grpc_port,
            http_port=settings.triton_http_port,
            metrics_port=settings.triton_metrics_port,
            binary=settings.tritonserver,
        ).start(settings.triton_startup_timeout)
        watchdog = _TritonWatchdog(triton)
        try:
            run_frontend(
                settings.model_copy(update={"triton_url": [triton.grpc_url], "triton_metrics_url": triton.metrics_url})
            )
        except KeyboardInterrupt:
            if not watchdog.died:
                raise
        if watchdog.died:
            raise SystemExit(f"tritonserver exited unexpectedly; see its log: {log_path}")
    finally:
        _stopping.set()
        if triton is not None:
            triton.stop()
        shutil.rmtree(work, ignore_errors=True)


def run_frontend(settings: Settings) -> None:
    apply_env(settings)  # worker processes build their app from these variables
    scheme = "https" if settings.ssl_certfile else "http"
    logger.info(
        "OpenAI API on %s://%s:%d/v1 (Triton at %s)",
        scheme,
        settings.host,
        settings.port,
        ", ".join(settings.triton_url),
    )
    uvicorn.run(
        "triton_openai.frontend.app:app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        timeout_graceful_shutdown=5,
        ssl_certfile=settings.ssl_certfile,
        ssl_keyfile=settings.ssl_keyfile,
    )


class _TritonWatchdog:
    """Stops the frontend if the embedded tritonserver dies, so the server exits non-zero
    (and a supervisor restarts it) instead of answering 503 forever."""

    def __init__(self, triton: EmbeddedTriton) -> None:
        self.died = False
        self._process = triton.process
        threading.Thread(target=self._watch, name="triton-watchdog", daemon=True).start()

    def _watch(self) -> None:
        assert self._process is not None
        code = self._process.wait()
        if not _stopping.is_set():
            self.died = True
            logger.error("tritonserver exited with %s; stopping", code)
            os.kill(os.getpid(), signal.SIGINT)


_stopping = threading.Event()


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    _stopping.set()
    raise SystemExit(0)
