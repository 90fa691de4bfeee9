"""Document Q&A's pure parts: when a request asks for documents, how summaries group chunks."""

from triton_openai.frontend.protocol.chat import ChatCompletionRequest
from triton_openai.frontend.serving.document_chat import _groups, _with_sources, wants_documents
from triton_openai.frontend.serving.documents import SHARED_OWNER, scope

USER = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Question?"}]


def test_which_requests_use_documents():
    assert not wants_documents(ChatCompletionRequest(messages=USER))
    assert not wants_documents(ChatCompletionRequest(messages=USER, langchain_mode="LLM"))
    assert wants_documents(ChatCompletionRequest(messages=USER, langchain_mode="UserData"))
    assert wants_documents(ChatCompletionRequest(messages=USER, langchain_mode="LLM", text_context_list=["x"]))


def test_collections_are_personal_or_shared():
    assert scope("alice", "MyData") == scope("alice", "UserData")
    assert scope("alice", "UserData").owner == "alice"
    assert scope("alice", "handbook").owner == scope("bob", "handbook").owner == SHARED_OWNER


def test_groups_fit_the_budget_and_keep_the_order():
    texts = ["a" * 40, "b" * 40, "c" * 40, "d" * 200]
    groups = _groups(texts, 100)
    assert groups == ["a" * 40 + "\n\n" + "b" * 40, "c" * 40, "d" * 100]
    assert all(len(g) <= 100 for g in groups)
    assert _groups([], 100) == [""]


def test_sources_replace_the_last_user_message_only():
    request = ChatCompletionRequest(messages=USER)
    grounded = _with_sources(request, "Sources... Question?", [])
    assert [m.text() for m in grounded.request.messages] == ["Be brief.", "Sources... Question?"]
    assert grounded.sources == [] and [m.text() for m in request.messages] == ["Be brief.", "Question?"]
