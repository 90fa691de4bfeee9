"""Preparing a model repository: model preparation and model-repository rendering.

`prepare` turns model packages into Hugging Face folders in a cache (GGUF conversion
once per version; `trtllm` builds TensorRT-LLM engines), and `render` fills the
`model_repository/` templates into a folder tritonserver can load. `pipeline` runs both
(`triton-openai build`).
"""
