-- The files store (triton_openai.frontend.files.postgres_store): metadata, and the bytes in parts of 1 MiB.
CREATE TABLE files (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    filename TEXT NOT NULL,
    purpose TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE
);
CREATE INDEX files_by_owner ON files (owner, seq);
CREATE TABLE file_parts (
    file_id TEXT NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    part INTEGER NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (file_id, part)
);
