"""The files store: /v1/files metadata and bytes, per owner."""
