"""Model-side runtime that Triton's Python-backend models run.

Plain Python, testable without Triton: the torch engine (continuous batching over a
Hugging Face causal LM), sampling, incremental detokenization, stop strings and
tokenization / chat templates. `model_repository/*/1/model.py` files only glue these
to `triton_python_backend_utils`. Nothing here is imported by the frontend except
`engine.tensors` (the tensor names of the Triton contract).
"""
