import json

import pytest

from engine.params import InvalidRequest
from engine.prompts import PromptTokenizer


@pytest.fixture(scope="module")
def prompts(model_dir):
    return PromptTokenizer(model_dir)


def test_chat_uses_the_model_template(prompts, tokenizer):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    ids = prompts.encode_chat(json.dumps(messages))
    expected = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=False)
    assert ids == list(expected)
    assert tokenizer.decode(ids).endswith("<|im_start|>assistant\n")


def test_bad_messages_are_invalid_requests(prompts):
    with pytest.raises(InvalidRequest):
        prompts.encode_chat("not json")
    with pytest.raises(InvalidRequest):
        prompts.encode_chat("[]")
