"""The LLM models' logic, run inside Triton's Python backend.

Plain Python, testable without Triton: the torch engine (continuous batching over a
Hugging Face causal LM), the TensorRT-LLM and vision engines, sampling, incremental
detokenization, stop strings and tokenization / chat templates. `model_repository/*/1/model.py`
files only glue these to `triton_python_backend_utils`.
"""
