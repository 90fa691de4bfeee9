"""Running Triton: the `triton-openai` command (`serve`, `build`, `add-user`), the embedded
tritonserver of the nvidia-pytriton wheel, and the frontend's uvicorn workers beside it."""
