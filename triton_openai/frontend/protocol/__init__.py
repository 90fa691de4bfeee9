"""OpenAI wire types: one module per API family, all on the bases in `common`."""
