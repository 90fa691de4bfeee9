import pytest


@pytest.fixture(scope="session")
def loaded(model_dir):
    """The default model loaded for the torch engine, once for all engine tests."""
    from triton_openai.models.llm.model_loader import load_model

    return load_model(model_dir, device="cpu")
