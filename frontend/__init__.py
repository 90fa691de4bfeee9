"""OpenAI-compatible HTTP frontend for Triton Inference Server."""

__version__ = "0.1.0"
