-- Generated images served by URL (triton_openai.frontend.files.postgres_images), until they expire.
CREATE TABLE generated_images (
    name TEXT PRIMARY KEY,
    media_type TEXT NOT NULL,
    data BYTEA NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX generated_images_by_expiry ON generated_images (expires_at);
