import pytest


@pytest.fixture(scope="session")
def loaded(model_dir):
    """The default model loaded for the torch engine, once for all engine tests."""
    from triton_openai.models.llm.model_loader import load_model

    return load_model(model_dir, device="cpu")


@pytest.fixture(scope="session")
def hf_model(model_dir):
    """The same folder in transformers, the reference for the engine's decoder."""
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()


@pytest.fixture(scope="session")
def gguf_loaded(prepared_model):
    """The default model as the server runs it: the GGUF's own blocks."""
    from triton_openai.models.llm.model_loader import load_model

    return load_model(str(prepared_model.model_dir), device="cpu", weights_file=prepared_model.gguf_file)
