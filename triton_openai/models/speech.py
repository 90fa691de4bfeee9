"""Text to speech with piper voices (ONNX VITS models + espeak-ng phonemes).

piper-tts is GPL-3.0 and an optional extra: it is imported only when a speech model
is loaded. Each voice is a `.onnx` file with its `.onnx.json` config. `synthesize`
yields float32 audio one sentence at a time, so the caller can encode and send the
first sentence while the next is being synthesized.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np

from triton_openai.models.llm.params import InvalidRequest

MAX_INPUT_CHARS = 4096  # as OpenAI's speech endpoint


class Speaker:
    def __init__(self, voices: dict[str, str], aliases: dict[str, str] | None = None, device: str = "cpu") -> None:
        from piper import PiperVoice

        self.voices = {
            name: PiperVoice.load(path, config_path=f"{path}.json", use_cuda=device.startswith("cuda"))
            for name, path in voices.items()
        }
        self.aliases = {alias: target for alias, target in (aliases or {}).items() if target in self.voices}
        # espeak-ng (phonemization) keeps global state: one caller at a time. The ONNX
        # session itself runs concurrent calls.
        self._phonemize_lock = threading.Lock()

    def voice_names(self) -> list[str]:
        return list(self.voices) + [a for a in self.aliases if a not in self.voices]

    def sample_rate(self, voice: str) -> int:
        return int(self._voice(voice).config.sample_rate)

    def _voice(self, name: str):
        key = self.aliases.get(name, name)
        if key not in self.voices:
            raise InvalidRequest(f"unknown voice {name!r}; available voices: {', '.join(self.voice_names())}")
        return self.voices[key]

    def check(self, text: str, voice: str, speed: float) -> None:
        self._voice(voice)
        if not text.strip():
            raise InvalidRequest("input is empty")
        if len(text) > MAX_INPUT_CHARS:
            raise InvalidRequest(f"input has {len(text)} characters; at most {MAX_INPUT_CHARS} are allowed")
        if not 0.25 <= speed <= 4.0:
            raise InvalidRequest("speed must be between 0.25 and 4.0")

    def synthesize(self, text: str, voice: str = "", speed: float = 1.0) -> Iterator[np.ndarray]:
        from piper import SynthesisConfig

        self.check(text, voice, speed)
        piper_voice = self._voice(voice)
        config = SynthesisConfig(length_scale=piper_voice.config.length_scale / speed)
        with self._phonemize_lock:
            sentences = piper_voice.phonemize(text)
        for phonemes in sentences:
            if not phonemes:
                continue
            audio = piper_voice.phoneme_ids_to_audio(piper_voice.phonemes_to_ids(phonemes), config)
            audio = np.asarray(audio, dtype=np.float32).reshape(-1)
            peak = float(np.max(np.abs(audio))) if audio.size else 0.0
            yield np.clip(audio / peak, -1.0, 1.0) if peak > 1e-8 else np.zeros_like(audio)
