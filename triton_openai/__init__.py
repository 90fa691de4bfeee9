"""triton-openai: an OpenAI-compatible server on NVIDIA Triton Inference Server.

One package, one folder per job:

- `frontend`: the HTTP server (FastAPI): OpenAI wire types, serving classes, routes,
  the stores, and the only Triton client (`frontend.triton`).
- `repository`: preparing a model repository: model packages into Hugging Face folders
  (GGUF conversion, TensorRT-LLM engines, cached), `model_repository/` templates rendered.
- `launch`: running Triton: the `triton-openai` command, the embedded tritonserver, and
  starting the frontend's workers beside it.
- `models`: the model-side logic that Triton's Python backend runs (`models.llm`: the LLM
  engines; the embedding, Whisper, piper and image models beside it).
- `contract`: the tensor and parameter names both sides of the Triton boundary use.
"""

__version__ = "0.1.0"
