"""The deployment files (README, Deployment) hold together: the Kubernetes manifests pass the
Kubernetes schemas strictly (kubernetes-validate, offline; unknown fields fail) and carry probes
on the health endpoints, autoscalers and external services; the Compose file uses host
networking only; the Dockerfiles take their base as a build argument and copy in no secrets.
The images themselves are built by deploy/build-local.sh and the topology is checked running by
bench/compose_check.py (Docker is not part of the test suite).
"""

from __future__ import annotations

import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.32.0"


def documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def manifests() -> list[dict]:
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    return [doc for name in listed for doc in documents(K8S / name)]


def by_kind(kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in manifests() if doc["kind"] == kind}


@pytest.mark.parametrize("path", sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml"))
def test_every_manifest_passes_the_kubernetes_schema_strictly(path: str) -> None:
    for doc in documents(K8S / path):
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_schema_check_would_catch_a_mistake() -> None:
    deployment = by_kind("Deployment")["csbot-gateway"]
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/healthz"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_every_file_is_applied_but_the_example_secret() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}


def _container(deployment: dict) -> dict:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _port(container: dict, name: str) -> int:
    return next(p["containerPort"] for p in container["ports"] if p["name"] == name)


def test_probes_use_the_health_endpoints() -> None:
    deployments = by_kind("Deployment")
    gateway = _container(deployments["csbot-gateway"])
    # ready when everything behind it answers (internal /healthz); alive while the process serves
    assert gateway["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "internal"}
    assert _port(gateway, "internal") == 9180 and "tcpSocket" in gateway["livenessProbe"]
    env = {e["name"]: e.get("value") for e in gateway["env"]}
    assert env["INTERNAL_PORT"] == "9180" and env["PORT"] == str(_port(gateway, "wechat"))
    actions = _container(deployments["csbot-actions"])
    assert actions["readinessProbe"]["httpGet"]["path"] == "/health" and "livenessProbe" in actions
    rasa = _container(deployments["csbot-rasa"])
    assert rasa["readinessProbe"]["httpGet"]["path"] == "/" and "livenessProbe" in rasa and "startupProbe" in rasa


def test_gateway_and_rasa_scale_automatically() -> None:
    deployments = by_kind("Deployment")
    targets = {hpa["spec"]["scaleTargetRef"]["name"] for hpa in by_kind("HorizontalPodAutoscaler").values()}
    assert targets == {"csbot-gateway", "csbot-rasa"} and targets <= set(deployments)


def test_databases_and_the_broker_are_external_services() -> None:
    services = by_kind("Service")
    for name in ("csbot-postgres", "csbot-redis", "csbot-rabbitmq"):
        assert services[name]["spec"]["type"] == "ExternalName"


def test_every_secret_a_deployment_reads_is_in_the_example_secret() -> None:
    (secret,) = documents(K8S / "secret.example.yaml")
    keys = set(secret["stringData"])
    for doc in [*by_kind("Deployment").values(), *by_kind("Job").values()]:
        for entry in doc["spec"]["template"]["spec"]["containers"][0].get("env", []):
            ref = (entry.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                assert ref["name"] == "csbot-secrets" and ref["key"] in keys, (doc["metadata"]["name"], ref)
    # an example only: no value that could work as a secret
    secrets = [v for k, v in secret["stringData"].items() if re.search(r"TOKEN|SECRET|PASSWORD|KEY|_URL$", k)]
    assert all("CHANGE-ME" in value or value.startswith("redis://") for value in secrets)


def test_compose_uses_host_networking_only() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yml").read_text())
    for name, service in compose["services"].items():
        assert service.get("network_mode") == "host", name
        assert "ports" not in service and "networks" not in service, name
    assert "networks" not in compose


@pytest.mark.parametrize(
    ("dockerfile", "base"), [("app.Dockerfile", "python:3.12-slim"), ("rasa.Dockerfile", "python:3.10-slim")]
)
def test_dockerfiles_take_the_base_as_an_argument_and_copy_no_secrets(dockerfile: str, base: str) -> None:
    text = (ROOT / "deploy" / dockerfile).read_text()
    assert f"ARG BASE={base}" in text and "FROM ${BASE}" in text
    copied = " ".join(re.findall(r"^COPY (.+)$", text, flags=re.MULTILINE))
    assert "var/" not in copied.replace("/var/lib", "") and ".env" not in copied and ".pem" not in copied
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert "var/*" in ignored and ".venv" in ignored and ".git" in ignored
