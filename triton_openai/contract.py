"""Names of the tensors between the frontend and the Triton models (the contract).

They follow TensorRT-LLM's ensemble where it has a name for the thing (`text_input`,
`max_tokens`, `stream`, `temperature`, `top_p`, `top_k`, `stop_words`, `text_output`,
`input_ids`, `input_lengths`) and vLLM's Triton backend for the counts and the finish
reason. `config.pbtxt` files declare the same names; a unit test keeps them in step.

Errors that are the client's fault carry a tag in their message, because a decoupled
stream returns errors as text only (no status code): `[invalid_request] ...` becomes a
400, `[context_length_exceeded] ...` a 400 with that code, `[overloaded] ...` a 429.
"""

from __future__ import annotations

import re

# A prompt: inputs of the ensemble, of the llm model (which renders and tokenizes it itself, so
# a generation is one call) and of the preprocessing model (/tokenize and friends).
TEXT_INPUT = "text_input"  # a prompt to tokenize as is (completions)
MESSAGES = "messages"  # JSON list of chat messages, rendered with the chat template
TOOLS = "tools"  # JSON list of OpenAI tool definitions, for the chat template

# How a prompt is rendered and tokenized (optional; vLLM's /tokenize options).
ADD_SPECIAL_TOKENS = "add_special_tokens"  # text_input: let the tokenizer add BOS etc. (default true)
ADD_GENERATION_PROMPT = "add_generation_prompt"  # messages: open the assistant's turn (default true)
CONTINUE_FINAL_MESSAGE = "continue_final_message"  # messages: leave the last message open instead
CHAT_TEMPLATE_KWARGS = "chat_template_kwargs"  # JSON object of template variables (enable_thinking, ...)
RETURN_TOKEN_STRS = "return_token_strs"  # also send token_strs

# Outputs of the preprocessing model; input_ids and input_lengths are also the llm model's
# prompt as token ids (instead of text_input or messages).
INPUT_IDS = "input_ids"
INPUT_LENGTHS = "input_lengths"
# The text that was tokenized (the chat template's output); the llm model sends it on the first
# response of a prompt given as messages.
RENDERED_PROMPT = "rendered_prompt"
TOKEN_STRS = "token_strs"  # each token's vocabulary entry, when return_token_strs is set
# The preprocessing model also detokenizes: output_ids in, their text out as text_output.

# Generation parameters: optional inputs of the ensemble and of the llm model.
MAX_PROMPT_TOKENS = "max_prompt_tokens"  # a server's limit below the context: longer prompts are refused
MAX_TOKENS = "max_tokens"
STREAM = "stream"
TEMPERATURE = "temperature"
TOP_P = "top_p"
TOP_K = "top_k"
MIN_P = "min_p"
SEED = "seed"
FREQUENCY_PENALTY = "frequency_penalty"
PRESENCE_PENALTY = "presence_penalty"
REPETITION_PENALTY = "repetition_penalty"
MIN_TOKENS = "min_tokens"
IGNORE_EOS = "ignore_eos"
STOP_WORDS = "stop_words"
STOP_TOKEN_IDS = "stop_token_ids"
INCLUDE_STOP_STR_IN_OUTPUT = "include_stop_str_in_output"
SKIP_SPECIAL_TOKENS = "skip_special_tokens"
# Structured output and logprobs (TensorRT-LLM's names, plus top_logprobs).
GUIDE_TYPE = "guided_decoding_guide_type"  # json, json_schema, regex, choice, grammar (triton_openai.models.llm.guided)
GUIDE = "guided_decoding_guide"
RETURN_LOG_PROBS = "return_log_probs"
TOP_LOGPROBS = "top_logprobs"  # alternatives per token, 0..20
# OpenAI's logit_bias as two parallel lists: token ids and the bias (-100..100) added to each
# one's logit. TensorRT-LLM's engine takes it as a dense embedding_bias over the vocabulary.
LOGIT_BIAS_TOKEN_IDS = "logit_bias_token_ids"
LOGIT_BIAS_VALUES = "logit_bias_values"
# LoRA (triton_openai.models.llm.lora): the adapter's name and folder; loaded on first use, kept by name (as
# TensorRT-LLM keys lora_weights/lora_config by lora_task_id). lora_unload drops one by name.
LORA_NAME = "lora_name"
LORA_PATH = "lora_path"
LORA_UNLOAD = "lora_unload"
# TensorRT-LLM's names, for tools made for its ensemble (genai-perf, perf_analyzer inputs).
MIN_LENGTH = "min_length"  # = min_tokens
RANDOM_SEED = "random_seed"  # = seed
EXCLUDE_INPUT_IN_OUTPUT = "exclude_input_in_output"  # false: the output starts with the prompt

# Outputs of the llm model and of the ensemble.
TEXT_OUTPUT = "text_output"
OUTPUT_IDS = "output_ids"
FINISH_REASON = "finish_reason"
NUM_INPUT_TOKENS = "num_input_tokens"
NUM_OUTPUT_TOKENS = "num_output_tokens"
LOGPROBS = "logprobs"  # JSON: [{"token", "logprob", "bytes", "top_logprobs": [...]}] for the new tokens
NUM_CACHED_TOKENS = "num_cached_tokens"  # prompt tokens served from the prefix cache
STOP_REASON = "stop_reason"  # the stop string that ended the output (empty otherwise)
STOP_TOKEN_ID = "stop_token_id"  # the stop token id (of stop_token_ids) that ended it (-1 otherwise)

# The embeddings model: text_input or input_ids (+ input_lengths) per row, in and out.
TRUNCATE_PROMPT_TOKENS = "truncate_prompt_tokens"  # 0: over-long is an error, -1: cut at the limit, n: first n
DIMENSIONS = "dimensions"
EMBEDDING = "embedding"  # float32 [dimension]

# The whisper model (decoupled): audio file bytes in, JSON events out (an `info` event,
# then one `segment` event per decoded segment; triton_openai.models.transcription).
AUDIO = "audio"
LANGUAGE = "language"
PROMPT = "prompt"
TASK = "task"
WORD_TIMESTAMPS = "word_timestamps"
TRANSCRIPTION_EVENT = "transcription_event"

# The tts model (decoupled): text in, encoded audio chunks out as they are synthesized.
VOICE = "voice"
RESPONSE_FORMAT = "response_format"
SPEED = "speed"
AUDIO_CHUNK = "audio_chunk"
AUDIO_SECONDS = "audio_seconds"  # audio produced so far, in seconds

# The vision model (decoupled): an llm model that also takes images. Chat messages whose
# image parts are `{"type": "image"}` placeholders, and the images' encoded bytes (PNG,
# JPEG, ...) in the same order; or text_input / input_ids. Its outputs are the llm model's.
IMAGES = "images"

# The image model (decoupled): a prompt in, one encoded image per response.
NEGATIVE_PROMPT = "negative_prompt"
NUM_IMAGES = "num_images"
WIDTH = "width"
HEIGHT = "height"
NUM_INFERENCE_STEPS = "num_inference_steps"
GUIDANCE_SCALE = "guidance_scale"
OUTPUT_FORMAT = "output_format"  # png, jpeg, webp
IMAGE = "image"  # encoded image bytes

# The llm model's optional inputs beside the prompt (and the ensemble's and, LoRA apart, the
# vision model's): what a generation job's sampling and LoRA adapter become.
GENERATION_PARAMETERS = (
    MAX_PROMPT_TOKENS,
    MAX_TOKENS,
    STREAM,
    TEMPERATURE,
    TOP_P,
    TOP_K,
    MIN_P,
    SEED,
    FREQUENCY_PENALTY,
    PRESENCE_PENALTY,
    REPETITION_PENALTY,
    MIN_TOKENS,
    IGNORE_EOS,
    STOP_WORDS,
    STOP_TOKEN_IDS,
    INCLUDE_STOP_STR_IN_OUTPUT,
    SKIP_SPECIAL_TOKENS,
    MIN_LENGTH,
    RANDOM_SEED,
    EXCLUDE_INPUT_IN_OUTPUT,
    GUIDE_TYPE,
    GUIDE,
    RETURN_LOG_PROBS,
    TOP_LOGPROBS,
    LOGIT_BIAS_TOKEN_IDS,
    LOGIT_BIAS_VALUES,
    LORA_NAME,
    LORA_PATH,
    LORA_UNLOAD,
)

# The llm model's prompt (and the vision model's, which also takes images): text_input,
# messages (+ tools, template variables) or input_ids (+ input_lengths), one of them.
PROMPT_INPUTS = (
    TEXT_INPUT,
    MESSAGES,
    TOOLS,
    ADD_SPECIAL_TOKENS,
    ADD_GENERATION_PROMPT,
    CONTINUE_FINAL_MESSAGE,
    CHAT_TEMPLATE_KWARGS,
    INPUT_IDS,
    INPUT_LENGTHS,
)

# Every tensor of every model and the Triton data type it has (config.pbtxt's TYPE_<type>): one
# name has one type wherever it appears. The frontend packs inputs by this table
# (triton_openai.frontend.triton.tensors); a unit test holds every config.pbtxt to it.
INT32, UINT64, FP32, BOOL, STRING = "INT32", "UINT64", "FP32", "BOOL", "STRING"
TENSOR_TYPES: dict[str, str] = {
    # prompts, tokenization, detokenization
    TEXT_INPUT: STRING,
    MESSAGES: STRING,
    TOOLS: STRING,
    ADD_SPECIAL_TOKENS: BOOL,
    ADD_GENERATION_PROMPT: BOOL,
    CONTINUE_FINAL_MESSAGE: BOOL,
    CHAT_TEMPLATE_KWARGS: STRING,
    RETURN_TOKEN_STRS: BOOL,
    INPUT_IDS: INT32,
    INPUT_LENGTHS: INT32,
    RENDERED_PROMPT: STRING,
    TOKEN_STRS: STRING,
    IMAGES: STRING,
    # generation parameters
    MAX_PROMPT_TOKENS: INT32,
    MAX_TOKENS: INT32,
    STREAM: BOOL,
    TEMPERATURE: FP32,
    TOP_P: FP32,
    TOP_K: INT32,
    MIN_P: FP32,
    SEED: UINT64,
    FREQUENCY_PENALTY: FP32,
    PRESENCE_PENALTY: FP32,
    REPETITION_PENALTY: FP32,
    MIN_TOKENS: INT32,
    IGNORE_EOS: BOOL,
    STOP_WORDS: STRING,
    STOP_TOKEN_IDS: INT32,
    INCLUDE_STOP_STR_IN_OUTPUT: BOOL,
    SKIP_SPECIAL_TOKENS: BOOL,
    MIN_LENGTH: INT32,
    RANDOM_SEED: UINT64,
    EXCLUDE_INPUT_IN_OUTPUT: BOOL,
    GUIDE_TYPE: STRING,
    GUIDE: STRING,
    RETURN_LOG_PROBS: BOOL,
    TOP_LOGPROBS: INT32,
    LOGIT_BIAS_TOKEN_IDS: INT32,
    LOGIT_BIAS_VALUES: FP32,
    LORA_NAME: STRING,
    LORA_PATH: STRING,
    LORA_UNLOAD: BOOL,
    # generation outputs
    TEXT_OUTPUT: STRING,
    OUTPUT_IDS: INT32,
    FINISH_REASON: STRING,
    NUM_INPUT_TOKENS: INT32,
    NUM_OUTPUT_TOKENS: INT32,
    LOGPROBS: STRING,
    NUM_CACHED_TOKENS: INT32,
    STOP_REASON: STRING,
    STOP_TOKEN_ID: INT32,
    # embeddings
    TRUNCATE_PROMPT_TOKENS: INT32,
    DIMENSIONS: INT32,
    EMBEDDING: FP32,
    # whisper
    AUDIO: STRING,
    LANGUAGE: STRING,
    PROMPT: STRING,
    TASK: STRING,
    WORD_TIMESTAMPS: BOOL,
    TRANSCRIPTION_EVENT: STRING,
    # tts
    VOICE: STRING,
    RESPONSE_FORMAT: STRING,
    SPEED: FP32,
    AUDIO_CHUNK: STRING,
    AUDIO_SECONDS: FP32,
    # image
    NEGATIVE_PROMPT: STRING,
    NUM_IMAGES: INT32,
    WIDTH: INT32,
    HEIGHT: INT32,
    NUM_INFERENCE_STEPS: INT32,
    GUIDANCE_SCALE: FP32,
    OUTPUT_FORMAT: STRING,
    IMAGE: STRING,
}

# Keys of the `parameters` block of a served model's ensemble config.pbtxt.
PARAM_OPENAI_KIND = "openai_kind"  # one of KINDS
KIND_LLM = "llm"  # chat and completions
KIND_EMBEDDINGS = "embeddings"
KIND_TRANSCRIPTION = "transcription"  # speech to text (transcriptions, translations)
KIND_SPEECH = "speech"  # text to speech
KIND_IMAGE = "image"  # image generation
KINDS = (KIND_LLM, KIND_EMBEDDINGS, KIND_TRANSCRIPTION, KIND_SPEECH, KIND_IMAGE)
PARAM_INPUT_MODALITIES = "input_modalities"  # comma-separated: text, image
MODALITY_IMAGE = "image"
PARAM_DEFAULT_SIZE = "default_size"  # an image model's size for size "auto": WIDTHxHEIGHT
PARAM_IMAGE_DEFAULT_STEPS = "image_default_steps"  # its denoising steps when a request sets none (ImageSettings)
PARAM_EMBEDDING_DIM = "embedding_dim"
PARAM_MAX_INPUT_TOKENS = "max_input_tokens"
PARAM_MAX_BATCH_SIZE = "max_batch_size"
PARAM_VOICES = "voices"  # comma-separated voice names (aliases included)
PARAM_LANGUAGES = "languages"  # comma-separated ISO 639-1 codes
PARAM_HAS_CHAT_TEMPLATE = "has_chat_template"
PARAM_MAX_CHARS_PER_TOKEN = "max_chars_per_token"  # a bound for refusing over-long prompts untokenized
PARAM_REASONING_PARSER = "reasoning_parser"  # "think": the chat template speaks <think>...</think>
PARAM_MAX_MODEL_LEN = "max_model_len"
PARAM_SYSTEM_FINGERPRINT = "system_fingerprint"
PARAM_CREATED = "created"
# The ensemble's parts. The frontend calls them directly rather than the ensemble:
# Triton 2.51 does not pass a cancelled stream on to an ensemble's composing models.
PARAM_PREPROCESSING_MODEL = "preprocessing_model"
PARAM_LLM_MODEL = "llm_model"

INVALID_REQUEST_TAG = "invalid_request"
CONTEXT_LENGTH_TAG = "context_length_exceeded"  # an invalid request: the prompt does not fit
OVERLOADED_TAG = "overloaded"
_TAGGED = re.compile(r"\[(invalid_request|context_length_exceeded|overloaded)\]\s*(.*)", re.DOTALL)


def tag_error(tag: str, message: str) -> str:
    return f"[{tag}] {message}"


def parse_tagged_error(message: str) -> tuple[str | None, str]:
    """(tag, message without the tag and Triton's prefixes), or (None, message)."""
    match = _TAGGED.search(message)
    if match is None:
        return None, message
    return match.group(1), match.group(2).strip()
