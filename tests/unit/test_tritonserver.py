"""Which tritonserver the launcher starts: the nvidia-pytriton wheel's, or --tritonserver."""

import pytest

from triton_openai.frontend.settings import Settings
from triton_openai.launch import tritonserver
from triton_openai.launch.tritonserver import EmbeddedTriton


@pytest.fixture
def wheel(tmp_path, monkeypatch):
    dist, libs = tmp_path / "wheel" / "tritonserver", tmp_path / "wheel" / "nvidia_pytriton.libs"
    monkeypatch.setattr(tritonserver, "_pytriton_dirs", lambda: (dist, libs))
    monkeypatch.setattr(tritonserver, "prepare_backends", lambda cache: cache / "backends")
    return dist, libs


def triton(tmp_path, binary=None):
    return EmbeddedTriton(tmp_path / "repo", tmp_path / "cache", tmp_path / "log", 1, 2, 3, binary=binary)


def test_the_default_is_the_wheels_binary_with_its_backends_and_libraries(tmp_path, wheel):
    dist, libs = wheel
    embedded = triton(tmp_path)
    command = embedded.command()
    assert command[0] == str(dist / "bin" / "tritonserver")
    assert f"--backend-directory={tmp_path / 'cache' / 'backends'}" in command
    assert str(libs) in embedded.environment()["LD_LIBRARY_PATH"].split(":")


def test_another_binary_runs_with_its_own_backends_folder_and_libraries(tmp_path, wheel):
    _, libs = wheel
    binary = tmp_path / "opt" / "tritonserver" / "bin" / "tritonserver"
    (tmp_path / "opt" / "tritonserver" / "backends").mkdir(parents=True)
    embedded = triton(tmp_path, str(binary))
    command = embedded.command()
    assert command[0] == str(binary)
    assert f"--backend-directory={tmp_path / 'opt' / 'tritonserver' / 'backends'}" in command
    assert f"--model-repository={tmp_path / 'repo'}" in command and "--grpc-port=1" in command
    assert str(libs) not in embedded.environment()["LD_LIBRARY_PATH"].split(":")


def test_without_a_backends_folder_beside_it_triton_uses_its_default(tmp_path, wheel):
    command = triton(tmp_path, "/somewhere/bin/tritonserver").command()
    assert command[0] == "/somewhere/bin/tritonserver"
    assert not any(arg.startswith("--backend-directory") for arg in command)


def test_the_setting_defaults_to_the_wheel_and_reads_its_environment_variable(monkeypatch):
    monkeypatch.delenv("TRITON_OPENAI_TRITONSERVER", raising=False)
    assert Settings().tritonserver is None
    monkeypatch.setenv("TRITON_OPENAI_TRITONSERVER", "/opt/tritonserver/bin/tritonserver")
    assert Settings().tritonserver == "/opt/tritonserver/bin/tritonserver"
