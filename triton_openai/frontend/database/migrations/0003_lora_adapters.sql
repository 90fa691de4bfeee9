-- LoRA adapters loaded at run time (triton_openai.frontend.lora_postgres), served by every frontend.
CREATE TABLE lora_adapters (
    name TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    base TEXT,
    created_at BIGINT NOT NULL
);
