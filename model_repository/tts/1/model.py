"""Triton glue for text to speech (logic in triton_openai.models.speech, encoding in .audio_codec)."""

import json

import numpy as np
import triton_python_backend_utils as pb_utils

from triton_openai import contract as t
from triton_openai.models.audio_codec import FORMATS, StreamingEncoder
from triton_openai.models.llm.params import InvalidRequest
from triton_openai.models.python_backend import DecoupledPool, bytes_tensor, input_scalar, model_parameters
from triton_openai.models.speech import Speaker


class TritonPythonModel:
    def initialize(self, args):
        params = model_parameters(json.loads(args["model_config"]))
        self.speaker = Speaker(
            json.loads(params["voice_files"]), json.loads(params["voice_aliases"]), device=params["device"]
        )
        self.pool = DecoupledPool(pb_utils, int(params["workers"]))

    def execute(self, requests):
        for request in requests:
            self.pool.submit(request, self._speak)
        return None

    def _speak(self, request):
        text = input_scalar(pb_utils, request, t.TEXT_INPUT, "")
        voice = input_scalar(pb_utils, request, t.VOICE) or self.speaker.voice_names()[0]
        speed = float(input_scalar(pb_utils, request, t.SPEED, 1.0))
        audio_format = input_scalar(pb_utils, request, t.RESPONSE_FORMAT) or "mp3"
        if audio_format not in FORMATS:
            raise InvalidRequest(f"response_format must be one of {', '.join(FORMATS)}")
        self.speaker.check(text, voice, speed)
        encoder = StreamingEncoder(audio_format, self.speaker.sample_rate(voice))
        for samples in self.speaker.synthesize(text, voice, speed):
            data = encoder.write(samples)
            if data:
                yield self._chunk(data, encoder.seconds)
        yield self._chunk(encoder.close(), encoder.seconds)

    @staticmethod
    def _chunk(data, seconds):
        return [
            bytes_tensor(pb_utils, t.AUDIO_CHUNK, data),
            pb_utils.Tensor(t.AUDIO_SECONDS, np.array([seconds], dtype=np.float32)),
        ]

    def finalize(self):
        self.pool.shutdown()
