"""The frontend's only way to Triton: the TritonClient protocol and its gRPC implementation."""
