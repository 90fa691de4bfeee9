"""Document Q&A: a file's text, cut in chunks, kept with their embeddings per owner and collection for search."""
