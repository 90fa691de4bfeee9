-- The document index (triton_openai.frontend.documents.pgvector_index): each file's ingestion status per
-- owner and collection, and its chunks with their embeddings (any dimension; one per collection).
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE document_files (
    owner TEXT NOT NULL,
    collection TEXT NOT NULL,
    file_id TEXT NOT NULL,
    filename TEXT NOT NULL,
    status TEXT NOT NULL,
    chunks_done INTEGER NOT NULL,
    chunks_total INTEGER NOT NULL,
    error TEXT,
    dimension INTEGER,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (owner, collection, file_id)
);
CREATE INDEX document_files_by_id ON document_files (owner, file_id);
CREATE TABLE document_chunks (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner TEXT NOT NULL,
    collection TEXT NOT NULL,
    file_id TEXT NOT NULL,
    chunk_index INTEGER NOT NULL,
    text TEXT NOT NULL,
    embedding vector NOT NULL,
    FOREIGN KEY (owner, collection, file_id) REFERENCES document_files ON DELETE CASCADE
);
CREATE INDEX document_chunks_by_file ON document_chunks (owner, collection, file_id, chunk_index);
