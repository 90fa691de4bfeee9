"""Model-side logic that Triton's Python-backend models run (`model_repository/*/1/model.py`).

Plain Python, testable without Triton: `llm` (the LLM engines and what they share), the
embedding, speech-to-text, text-to-speech and image-generation models, audio codecs, and
`python_backend` (reading inputs, tagged errors and response writers for every model.py).
Nothing here is imported by the frontend; both sides share `triton_openai.contract`.
"""
