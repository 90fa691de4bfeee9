"""Model preparation and model-repository rendering.

`prepare` turns model packages into Hugging Face folders in a cache (GGUF conversion
once per version), and `repository` renders `model_repository/` templates into a folder
tritonserver can load. `python -m build` / `triton-openai build` runs both.
"""
