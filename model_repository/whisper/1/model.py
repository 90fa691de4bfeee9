"""Triton glue for speech to text (logic in triton_openai.models.transcription)."""

import json

import triton_python_backend_utils as pb_utils

from triton_openai import contract as t
from triton_openai.models.python_backend import DecoupledPool, bytes_tensor, input_array, input_scalar, model_parameters
from triton_openai.models.transcription import Transcriber, TranscriptionOptions


class TritonPythonModel:
    def initialize(self, args):
        params = model_parameters(json.loads(args["model_config"]))
        workers = int(params["workers"])
        self.transcriber = Transcriber(
            params["model_dir"],
            device=params["device"],
            compute_type=params["compute_type"],
            threads=int(params["num_threads"]),
            workers=workers,
            beam_size=int(params["beam_size"]),
        )
        self.pool = DecoupledPool(pb_utils, workers)

    def execute(self, requests):
        for request in requests:
            self.pool.submit(request, self._transcribe)
        return None

    def _transcribe(self, request):
        def scalar(name, default=None):
            return input_scalar(pb_utils, request, name, default)

        audio = input_array(pb_utils, request, t.AUDIO).reshape(-1)[0]
        options = TranscriptionOptions(
            task=scalar(t.TASK, "transcribe"),
            language=scalar(t.LANGUAGE) or None,
            prompt=scalar(t.PROMPT) or None,
            temperature=scalar(t.TEMPERATURE),
            word_timestamps=bool(scalar(t.WORD_TIMESTAMPS, False)),
        )
        for event in self.transcriber.transcribe(bytes(audio), options):
            yield [bytes_tensor(pb_utils, t.TRANSCRIPTION_EVENT, json.dumps(event))]

    def finalize(self):
        self.pool.shutdown()
