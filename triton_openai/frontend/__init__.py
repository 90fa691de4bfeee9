"""The OpenAI-compatible HTTP server: it serves the API and talks to Triton over gRPC; it
never runs a model, prepares a repository or starts tritonserver."""
