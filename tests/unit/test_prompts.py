import json
import subprocess
import sys

import pytest

from triton_openai.models.llm.params import InvalidRequest
from triton_openai.models.llm.prompts import PromptInput, PromptTokenizer


@pytest.fixture(scope="module")
def prompts(model_dir):
    return PromptTokenizer(model_dir)


def test_chat_uses_the_model_template(prompts, tokenizer):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    ids = prompts.tokenize(PromptInput(messages_json=json.dumps(messages)))[1]
    expected = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=False)
    assert ids == list(expected)
    assert tokenizer.decode(ids).endswith("<|im_start|>assistant\n")


def test_a_text_is_tokenized_as_it_is_and_token_ids_pass_through(prompts, tokenizer):
    assert prompts.tokenize(PromptInput(text="Hi there")) == ("Hi there", tokenizer.encode("Hi there"))
    plain = prompts.tokenize(PromptInput(text="Hi", add_special_tokens=False))[1]
    assert plain == tokenizer.encode("Hi", add_special_tokens=False)
    assert prompts.tokenize(PromptInput(token_ids=(5, 6))) == ("", [5, 6])
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hel"}]
    prompt = PromptInput(messages_json=json.dumps(messages), add_generation_prompt=False, continue_final_message=True)
    assert prompts.tokenize(prompt)[0].endswith("<|im_start|>assistant\nHel")


def test_bad_messages_are_invalid_requests(prompts):
    with pytest.raises(InvalidRequest):
        prompts.tokenize(PromptInput(messages_json="not json"))
    with pytest.raises(InvalidRequest):
        prompts.tokenize(PromptInput(messages_json="[]"))


def test_tools_and_tool_history_render_for_a_template_without_tools(prompts):
    assert not prompts.template_knows_tools  # SmolLM2's template has no tools section
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "18C"},
    ]  # fmt: skip
    text = prompts.render_chat(json.dumps(messages), json.dumps(tools))
    assert text.startswith("<|im_start|>system\nYou can call functions")
    assert '"name": "get_weather"' in text and "<tools>" in text
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>' in text
    assert "<|im_start|>tool\n<tool_response>\n18C\n</tool_response><|im_end|>" in text


def test_a_processor_template_gets_every_content_as_parts(tmp_path):
    from transformers import AutoProcessor

    from tests.tiny_models import make_tiny_vlm

    prompts = PromptTokenizer(processor=AutoProcessor.from_pretrained(make_tiny_vlm(tmp_path / "vlm")))
    assert prompts.has_chat_template and not prompts.template_knows_tools
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is it?"}]},
    ]
    tools = [{"type": "function", "function": {"name": "zoom", "parameters": {"type": "object"}}}]
    text = prompts.render_chat(json.dumps(messages), json.dumps(tools))
    assert text.startswith("<|im_start|>system\nBe brief.\n\nYou can call functions")  # string content: joined
    assert "<|im_start|>user\n<image>What is it?<|im_end|>" in text
    assert text.endswith("<|im_start|>assistant\n")


def test_the_preprocessing_models_tokenizer_loads_without_torch(model_dir, tokenizer):
    # The preprocessing model's process imports these and loads the tokenizer: no torch (some
    # 230 MiB), and the tokenizer is the one AutoTokenizer gives the llm model.
    script = (
        "import sys, json\n"
        "from triton_openai.models.llm import request_inputs\n"
        "from triton_openai.models import python_backend\n"
        "from triton_openai.models.llm.prompts import PromptInput, PromptTokenizer\n"
        f"prompts = PromptTokenizer({model_dir!r})\n"
        "messages = json.dumps([{'role': 'user', 'content': 'Hi there'}])\n"
        "print(json.dumps([prompts.tokenize(PromptInput(messages_json=messages))[1], 'torch' in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    ids, imported_torch = json.loads(out.strip().splitlines()[-1])
    assert not imported_torch
    messages = [{"role": "user", "content": "Hi there"}]
    assert ids == list(tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=False))
