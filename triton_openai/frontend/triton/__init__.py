"""The frontend's only way to Triton: the Engine protocol and its gRPC implementation."""
