-- Stored responses of /v1/responses (triton_openai.frontend.response_store.postgres_store).
-- json, not jsonb: the objects come back with their keys in the order they were stored.
CREATE TABLE responses (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    response JSON NOT NULL,
    input_items JSON NOT NULL,
    context JSON NOT NULL,
    seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE
);
CREATE INDEX responses_by_age ON responses (created_at);
