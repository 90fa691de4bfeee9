"""Wire types: validation, and agreement with the official openai package's types."""

import json

import openai.types as sdk
import openai.types.audio as sdk_audio
import openai.types.chat as sdk_chat
import pytest
from pydantic import ValidationError

from tests.unit.sdk_fields import assert_sdk_fields
from triton_openai.frontend.protocol.audio import (
    DurationUsage,
    SpeechRequest,
    TokenUsage,
    Transcription,
    TranscriptionSegment,
    TranscriptionTextDelta,
    TranscriptionTextDone,
    TranscriptionVerbose,
    TranscriptionWord,
)
from triton_openai.frontend.protocol.chat import (
    AssistantMessage,
    ChatChoice,
    ChatChunkChoice,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatCompletionResponse,
    DeltaMessage,
)
from triton_openai.frontend.protocol.common import Usage, dump
from triton_openai.frontend.protocol.completions import CompletionChoice, CompletionRequest, CompletionResponse
from triton_openai.frontend.protocol.embeddings import Embedding, EmbeddingRequest, EmbeddingResponse
from triton_openai.frontend.protocol.models import ModelCard, ModelList
from triton_openai.frontend.protocol.tokenize import TokenizeRequest

USER = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (ChatCompletionResponse, sdk_chat.ChatCompletion),
        (ChatChoice, sdk_chat.chat_completion.Choice),
        (AssistantMessage, sdk_chat.ChatCompletionMessage),
        (ChatCompletionChunk, sdk_chat.ChatCompletionChunk),
        (ChatChunkChoice, sdk_chat.chat_completion_chunk.Choice),
        (DeltaMessage, sdk_chat.chat_completion_chunk.ChoiceDelta),
        (CompletionResponse, sdk.Completion),
        (CompletionChoice, sdk.CompletionChoice),
        (Usage, sdk.CompletionUsage),
        (ModelCard, sdk.Model),
        (EmbeddingResponse, sdk.CreateEmbeddingResponse),
        (Embedding, sdk.Embedding),
        (Transcription, sdk_audio.Transcription),
        (TranscriptionVerbose, sdk_audio.TranscriptionVerbose),
        (TranscriptionVerbose, sdk_audio.TranslationVerbose),
        (TranscriptionSegment, sdk_audio.TranscriptionSegment),
        (TranscriptionWord, sdk_audio.TranscriptionWord),
        (TranscriptionTextDelta, sdk_audio.TranscriptionTextDeltaEvent),
        (TranscriptionTextDone, sdk_audio.TranscriptionTextDoneEvent),
    ],
)
def test_our_fields_carry_the_sdk_names(ours, theirs):
    assert_sdk_fields(ours, theirs)


def test_a_response_parses_as_the_sdk_type_with_every_required_value():
    response = ChatCompletionResponse(
        id="chatcmpl-1",
        created=1,
        model="m",
        choices=[ChatChoice(index=0, message=AssistantMessage(content="hey"), logprobs=None, finish_reason="stop")],
        usage=Usage.of(3, 1),
        system_fingerprint="fp_x",
    )
    data = dump(response)
    parsed = sdk_chat.ChatCompletion.model_validate(data)
    assert parsed.object == "chat.completion" and parsed.choices[0].message.role == "assistant"
    assert parsed.usage.total_tokens == 4
    assert data["choices"][0]["logprobs"] is None  # present, as OpenAI sends it


def test_chunk_omits_unset_fields_but_keeps_explicit_nulls():
    chunk = ChatCompletionChunk(
        id="c",
        created=1,
        model="m",
        choices=[ChatChunkChoice(index=0, delta=DeltaMessage(content="x"), finish_reason=None)],
    )
    data = json.loads(chunk.model_dump_json())
    assert data["choices"][0]["delta"] == {"content": "x"}
    assert data["choices"][0]["finish_reason"] is None
    assert "usage" not in data
    sdk_chat.ChatCompletionChunk.model_validate(data)


def test_model_list_parses_as_sdk_models():
    data = dump(ModelList(data=[ModelCard(id="m", created=5, max_model_len=10)]))
    assert data["object"] == "list"
    assert sdk.Model.model_validate(data["data"][0]).owned_by == "triton-openai"


def test_unknown_fields_are_ignored():
    request = ChatCompletionRequest.model_validate({"messages": USER, "brand_new_openai_field": {"x": 1}})
    assert request.messages[0].text() == "hi"


@pytest.mark.parametrize(
    "field, value",
    [
        ("temperature", 5),
        ("n", 0),
        ("max_tokens", -1),
        ("top_p", 1.5),
        ("presence_penalty", 3),
        ("stop", ["a"] * 5),
        ("stop_token_ids", [3, -5]),
        ("logit_bias", {"5": 100.5}),
        ("logit_bias", {"-1": 1}),
        ("stream_options", {"include_usage": True}),  # without stream: true, as OpenAI refuses it
        ("reasoning_effort", "extreme"),
        ("verbosity", "loud"),
    ],
)
def test_out_of_range_values_are_rejected(field, value):
    with pytest.raises(ValidationError):
        ChatCompletionRequest.model_validate({"messages": USER, field: value})


def test_empty_messages_and_unknown_role_are_rejected():
    with pytest.raises(ValidationError):
        ChatCompletionRequest.model_validate({"messages": []})
    with pytest.raises(ValidationError):
        ChatCompletionRequest.model_validate({"messages": [{"role": "robot", "content": "x"}]})


def test_messages_render_for_templates():
    request = ChatCompletionRequest.model_validate(
        {
            "messages": [
                {"role": "developer", "content": "be brief"},
                {
                    "role": "user",
                    "name": "ann",
                    "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "42"},
            ]
        }
    )
    messages = request.template_messages()
    assert messages[0] == {"role": "system", "content": "be brief"}
    assert messages[1] == {"role": "user", "content": "a\nb", "name": "ann"}
    assert messages[2]["tool_calls"][0]["function"] == {"name": "f", "arguments": {"x": 1}}
    assert messages[3] == {"role": "tool", "content": "42", "tool_call_id": "c1"}


def test_system_prompt_only_when_no_system_message():
    with_prompt = ChatCompletionRequest.model_validate({"messages": USER, "system_prompt": "You are terse."})
    assert with_prompt.template_messages()[0] == {"role": "system", "content": "You are terse."}
    own = ChatCompletionRequest.model_validate(
        {"messages": [{"role": "system", "content": "mine"}, *USER], "system_prompt": "ignored"}
    )
    assert [m["content"] for m in own.template_messages()] == ["mine", "hi"]


def test_generation_inputs_map_openai_and_extension_fields():
    request = ChatCompletionRequest.model_validate(
        {
            "messages": USER,
            "max_tokens": 10,
            "max_completion_tokens": 5,
            "stop": "\n",
            "top_k": 3,
            "repetition_penalty": 1.2,
            "min_tokens": 2,
            "ignore_eos": True,
        }
    )
    sampling = request.sampling()
    assert sampling.max_tokens == 5  # max_completion_tokens wins
    assert sampling.stop == ("\n",)
    assert (sampling.top_k, sampling.repetition_penalty, sampling.min_tokens, sampling.ignore_eos) == (3, 1.2, 2, True)
    assert sampling.temperature is None  # left to the engine's default


def test_seeds_per_choice():
    seeded = ChatCompletionRequest.model_validate({"messages": USER, "seed": 42, "n": 3})
    assert seeded.choice_seeds() == [42, 43, 44]
    for seed in (None, 0):  # h2oGPT: no seed or 0 means a fresh random seed each time
        request = ChatCompletionRequest.model_validate({"messages": USER, "seed": seed})
        assert request.choice_seeds() != request.choice_seeds()
    negative = ChatCompletionRequest.model_validate({"messages": USER, "seed": -1})
    assert negative.choice_seeds() == [2**64 - 1]


def test_min_tokens_cannot_exceed_max_tokens():
    with pytest.raises(ValidationError, match="min_tokens"):
        ChatCompletionRequest.model_validate({"messages": USER, "max_tokens": 3, "min_tokens": 4})


def test_completion_prompts_and_defaults():
    request = CompletionRequest.model_validate({"prompt": ["a", "b"]})
    assert request.prompts() == ["a", "b"] and request.max_tokens == 16
    with pytest.raises(ValidationError):
        CompletionRequest.model_validate({"prompt": []})
    assert CompletionRequest.model_validate({"prompt": [5, 6]}).prompts() == [[5, 6]]  # token ids
    assert CompletionRequest.model_validate({"prompt": [[5], [6, 7]]}).prompts() == [[5], [6, 7]]
    for bad in ([[5], []], {"prompt": [1], "echo": True}):
        with pytest.raises(ValidationError):
            CompletionRequest.model_validate(bad if isinstance(bad, dict) else {"prompt": bad})
    with pytest.raises(ValidationError, match="best_of"):
        CompletionRequest.model_validate({"prompt": "a", "n": 1, "best_of": 3})


def test_audio_responses_parse_as_sdk_types():
    segment = TranscriptionSegment(
        id=0, seek=0, start=0.0, end=1.5, text=" Hi.", tokens=[1, 2], temperature=0.0,
        avg_logprob=-0.2, compression_ratio=1.0, no_speech_prob=0.01,
    )  # fmt: skip
    verbose = TranscriptionVerbose(language="english", duration=1.5, text="Hi.", segments=[segment])
    parsed = sdk_audio.TranscriptionVerbose.model_validate(dump(verbose))
    assert parsed.segments[0].end == 1.5 and parsed.language == "english"
    done = sdk_audio.TranscriptionTextDoneEvent.model_validate(
        dump(TranscriptionTextDone(text="Hi.", usage=TokenUsage(input_tokens=75, output_tokens=3, total_tokens=78)))
    )
    assert done.usage.total_tokens == 78
    assert sdk_audio.Transcription.model_validate(dump(Transcription(text="Hi.", usage=DurationUsage(seconds=1.5))))


@pytest.mark.parametrize(
    "value, rows",
    [("one", ["one"]), (["a", "b"], ["a", "b"]), ([1, 2, 3], [[1, 2, 3]]), ([[1], [2, 3]], [[1], [2, 3]])],
)
def test_embedding_inputs_become_rows(value, rows):
    assert EmbeddingRequest(input=value).rows() == rows


@pytest.mark.parametrize("value", ["", [], ["ok", ""], [[]], ["x"] * 2049])
def test_empty_or_too_many_embedding_inputs_are_rejected(value):
    with pytest.raises(ValidationError):
        EmbeddingRequest(input=value)


def test_speech_request_limits_and_voice_objects():
    assert SpeechRequest(input="hi", voice={"id": "joe"}).voice_name == "joe"
    assert SpeechRequest(input="hi", voice="alloy").response_format == "mp3"
    for bad in ({"input": " "}, {"input": "x" * 4097}, {"input": "hi", "speed": 0.1}):
        with pytest.raises(ValidationError):
            SpeechRequest(**{"voice": "alloy", **bad})


def test_logit_bias_reasoning_effort_and_template_kwargs_reach_the_inputs():
    request = ChatCompletionRequest.model_validate(
        {
            "messages": USER,
            "logit_bias": {"5": -100, "17": 2.5},
            "reasoning_effort": "low",
            "chat_template_kwargs": {"enable_thinking": False},
        }
    )
    assert request.sampling().logit_bias == {5: -100, 17: 2.5}
    assert request.chat_prompt().template_kwargs == {"reasoning_effort": "low", "enable_thinking": False}
    assert ChatCompletionRequest.model_validate({"messages": USER}).chat_prompt().template_kwargs is None


def test_usage_details_and_reasoning_content_parse_as_sdk_types():
    usage = sdk.CompletionUsage.model_validate(dump(Usage.of(10, 4, cached_tokens=8, reasoning_tokens=3)))
    assert usage.prompt_tokens_details.cached_tokens == 8 and usage.completion_tokens_details.reasoning_tokens == 3
    message = sdk_chat.ChatCompletionMessage.model_validate(
        dump(AssistantMessage(content="4", reasoning_content="2 + 2"))
    )
    assert message.content == "4" and message.model_extra["reasoning_content"] == "2 + 2"


def test_tokenize_takes_a_prompt_or_messages():
    assert TokenizeRequest.model_validate({"prompt": "hi"}).characters() == 2
    assert TokenizeRequest.model_validate({"messages": USER}).characters() == 2
    for body in ({}, {"prompt": "hi", "messages": USER}):
        with pytest.raises(ValidationError, match="either prompt or messages"):
            TokenizeRequest.model_validate(body)
