"""Document Q&A in chat, with h2oGPT's parameters (extra_body).

- `langchain_action: Query`: the last user message is embedded, the `top_k_docs` nearest
  chunks of the `langchain_mode` collection (restricted to `document_choice`) are numbered
  and put before the question, and the model is asked to answer from them and cite [n].
  `text_context_list` gives the context directly (no retrieval).
- `langchain_action: Summarize`: map-reduce over the chosen documents' chunks: groups that
  fit the model's context are summarized one by one (not streamed), then the summaries are
  summarized together; the last step is the answer, streamed as usual.

Either way the request goes on as an ordinary chat request with a rewritten last user
message (`Grounded.request`); its sources (`Grounded.sources`) go to chat completions beside
it and come back in `choices[].message.sources` (or the first chunk's `delta.sources`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from triton_openai.frontend import errors
from triton_openai.frontend.documents.chunk import chunk_text
from triton_openai.frontend.documents.index import Hit
from triton_openai.frontend.protocol.chat import ChatCompletionRequest, ChatMessage, Source
from triton_openai.frontend.serving.documents import NO_DOCUMENTS, ServingDocuments

QUERY_PROMPT = (
    "Answer the question using the numbered sources below. Cite the sources you use as [1], [2], ... "
    "If they do not hold the answer, say so.\n\n{sources}\n\nQuestion: {question}"
)
MAP_PROMPT = "Summarize the following text in a few sentences, keeping its key facts:\n\n{text}"
REDUCE_PROMPT = "Write one summary of the following summaries of parts of the same documents:\n\n{text}"
FINAL_PROMPT = "{question}\n\nThe documents:\n\n{text}"
DEFAULT_SUMMARY_REQUEST = "Summarize the documents."
CHARS_PER_TOKEN = 3  # a safe underestimate for English text with common tokenizers
MAP_TOKENS = 256
MAX_ROUNDS = 4


@dataclass(frozen=True)
class Grounded:
    """A chat request as document Q&A made it, and the sources it put into the prompt (None: it
    asked for no documents, so the answer names no sources)."""

    request: ChatCompletionRequest
    sources: list[Source] | None = None


def wants_documents(request: ChatCompletionRequest) -> bool:
    mode = request.langchain_mode
    return bool(request.text_context_list) or (mode is not None and mode not in NO_DOCUMENTS)


class DocumentChat:
    def __init__(self, documents: ServingDocuments, chat: Any) -> None:
        self.documents = documents
        self.chat = chat  # ServingChat, for the summaries of the map step

    async def augment(self, request: ChatCompletionRequest, owner: str) -> Grounded:
        """The request with its sources in the last user message (as is without document parameters)."""
        if not wants_documents(request):
            return Grounded(request)
        question = _last_user_text(request)
        if request.langchain_action.lower() == "summarize":
            return await self._summarize(request, owner, question)
        top_k = 100 if request.top_k_docs == -1 else max(1, request.top_k_docs)
        if request.text_context_list:
            sources = [Source(index=i + 1, text=text) for i, text in enumerate(request.text_context_list[:top_k])]
        else:
            mode = str(request.langchain_mode)
            file_ids = await self.documents.file_ids(owner, mode, request.document_choice or [])
            hits = await self.documents.search(owner, mode, question, top_k, file_ids or None)
            sources = [_source(i + 1, hit) for i, hit in enumerate(hits)]
        if not sources:  # nothing to read: the question as it was, and no sources
            return Grounded(request, [])
        listing = "\n\n".join(f"[{s.index}] ({s.filename or 'context'})\n{s.text}" for s in sources)
        return _with_sources(request, QUERY_PROMPT.format(sources=listing, question=question), sources)

    async def _summarize(self, request: ChatCompletionRequest, owner: str, question: str) -> Grounded:
        if request.text_context_list:
            size = request.chunk_size or 1000
            texts = [c.text for text in request.text_context_list for c in chunk_text(text, size, size // 10)]
            sources = [Source(index=i + 1, text=text) for i, text in enumerate(request.text_context_list)]
        else:
            mode = str(request.langchain_mode)
            file_ids = await self.documents.file_ids(owner, mode, request.document_choice or [])
            hits = await self.documents.chunks(owner, mode, file_ids or None)
            if not hits:
                raise errors.InvalidRequest(f"collection {mode!r} has no processed documents", param="langchain_mode")
            texts = [hit.text for hit in hits]
            sources = _file_sources(hits)
        model = await self.chat.registry.resolve_llm(request.model, chat=True)
        budget = max(2000, ((model.max_model_len or 2048) - MAP_TOKENS - 256) * CHARS_PER_TOKEN)
        for round_ in range(MAX_ROUNDS):
            groups = _groups(texts, budget)
            if len(groups) == 1:
                break
            prompt = MAP_PROMPT if round_ == 0 else REDUCE_PROMPT
            texts = [await self._complete(request, prompt.format(text=group)) for group in groups]
        text = "\n\n".join(texts)[:budget]
        asked = question if question.strip() else DEFAULT_SUMMARY_REQUEST
        return _with_sources(request, FINAL_PROMPT.format(question=asked, text=text), sources)

    async def _complete(self, request: ChatCompletionRequest, prompt: str) -> str:
        step = ChatCompletionRequest(
            model=request.model,
            messages=[{"role": "user", "content": prompt}],
            max_tokens=MAP_TOKENS,
            temperature=0.0,
            user=request.user,
        )
        response = await self.chat.create(step)
        return response.choices[0].message.content or ""


def _last_user_text(request: ChatCompletionRequest) -> str:
    for message in reversed(request.messages):
        if message.role == "user":
            try:
                return message.text()
            except ValueError as exc:
                raise errors.InvalidRequest(str(exc), param="messages") from None
    return ""


def _with_sources(request: ChatCompletionRequest, content: str, sources: list[Source]) -> Grounded:
    messages = list(request.messages)
    last = max((i for i, m in enumerate(messages) if m.role == "user"), default=None)
    if last is None:
        messages.append(ChatMessage(role="user", content=content))
    else:
        messages[last] = messages[last].model_copy(update={"content": content})
    return Grounded(request.model_copy(update={"messages": messages}), sources)


def _source(index: int, hit: Hit) -> Source:
    return Source(
        index=index,
        text=hit.text,
        file_id=hit.file_id,
        filename=hit.filename,
        chunk_index=hit.chunk_index,
        score=round(1.0 - hit.distance, 6),
    )


def _file_sources(hits: list[Hit]) -> list[Source]:
    """One source per file a summary read (its first chunk as the text)."""
    sources: dict[str, Source] = {}
    for hit in hits:
        if hit.file_id not in sources:
            sources[hit.file_id] = Source(
                index=len(sources) + 1, text=hit.text[:200], file_id=hit.file_id, filename=hit.filename
            )
    return list(sources.values())


def _groups(texts: list[str], budget: int) -> list[str]:
    """The texts joined into groups of at most `budget` characters (a longer text is cut)."""
    groups: list[str] = []
    current = ""
    for text in texts:
        text = text[:budget]
        if current and len(current) + 2 + len(text) > budget:
            groups.append(current)
            current = ""
        current = f"{current}\n\n{text}" if current else text
    if current:
        groups.append(current)
    return groups or [""]
