"""What rendering a model repository is given: the models to serve and each kind's settings.

`triton-openai build` takes exactly these fields as flags; `serve` takes them among the
frontend's (frontend.settings.Settings includes this class). Each kind's fields are defined
once in triton_openai.model_settings.
"""

from __future__ import annotations

from pydantic import Field

from triton_openai.model_settings import (
    EmbeddingSettings,
    ImageSettings,
    LLMSettings,
    SpeechSettings,
    TranscriptionSettings,
    VisionSettings,
)


class RepositorySettings(
    LLMSettings, EmbeddingSettings, TranscriptionSettings, SpeechSettings, VisionSettings, ImageSettings
):
    model: list[str] = Field(
        default_factory=lambda: ["smollm2-135m-instruct"],
        description="Model to serve: [name=]catalog-name | HF folder | file.gguf. Repeat for several.",
    )
    cache_dir: str | None = Field(
        None, description="Cache for converted models (default: $XDG_CACHE_HOME/triton-openai)."
    )
    # Embedding and audio models ("none" turns a kind off)
    embedding_model: list[str] = Field(
        default_factory=lambda: ["all-minilm-l6-v2"],
        description="Embedding model: [name=]catalog-name | sentence-transformers folder. Repeat for several.",
    )
    transcription_model: list[str] = Field(
        default_factory=lambda: ["whisper-tiny.en"],
        description="Speech-to-text model: [name=]catalog-name (whisper-tiny.en, whisper-base) | "
        "CTranslate2 Whisper folder. Repeat for several.",
    )
    speech_voice: list[str] = Field(
        default_factory=lambda: ["joe"],
        description="Text-to-speech voice: [name=]catalog-name | piper .onnx file. Repeat for several; "
        "OpenAI's voice names map to the first. Needs the tts extra (piper-tts, GPL-3.0).",
    )
    speech_model_name: str = Field("tts", description="Model name of the text-to-speech model.")
    # Vision (chat with images) and image generation: model folders the user brings
    vision_model: list[str] = Field(
        default_factory=list,
        description="Vision-language model for chat with images: [name=]folder (transformers "
        "image-text-to-text: SmolVLM, Qwen2-VL, LLaVA, ...). Repeat for several.",
    )
    image_model: list[str] = Field(
        default_factory=list,
        description="Image generation model: [name=]folder (a diffusers pipeline: SD-Turbo, SDXL, FLUX, ...). "
        "Repeat for several.",
    )
