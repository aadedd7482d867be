"""deploy/: the compose file and the Kubernetes manifest are valid YAML and name only what exists:
services and hosts they define, ``smartroute serve`` options, environment variables the project
reads, files in the repository; graphs/langgraph.json allow-lists the router's state types."""

from __future__ import annotations

import argparse
import json
import re
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from smartroute_graph.graph.checkpoint import ROUTER_STATE_TYPES
from smartroute_graph.serving.command import add_parser

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
# Options and extras of `smartroute serve --workers N --cache URL` built on the gateway-state
# branch (issue 17): accepted here only while this checkout lacks them; once merged they are
# checked like every other name. Delete this set after the merge.
# Variables read by programs that are not this project.
THIRD_PARTY_ENV = frozenset(
    {"PGPASSWORD", "PGDATA", "POSTGRES_USER", "POSTGRES_DB", "POSTGRES_PASSWORD", "OPENAI_API_KEY"}
)


def _serve_options() -> set[str]:
    sub = argparse.ArgumentParser().add_subparsers()
    parser = add_parser(sub)
    return {option for action in parser._actions for option in action.option_strings}


def _project_sources() -> str:
    files = [*(ROOT / "smartroute_graph").rglob("*.py"), *(ROOT / "graphs").glob("*.py")]
    return "\n".join(f.read_text(encoding="utf-8") for f in files)


def _check_command(command: list[str], options: set[str]) -> None:
    assert command[:2] == ["smartroute", "serve"], command
    for word in command[2:]:
        if word.startswith("--"):
            assert word in options, f"smartroute serve has no {word}"


def _check_env(names: Iterable[str], sources: str) -> None:
    for name in names:
        if name in THIRD_PARTY_ENV:
            continue
        read = f'"{name}"' in sources
        assert read, f"no part of the project reads {name}"


def _hosts(words: Iterable[str]) -> Iterator[str]:
    for word in words:
        for url in re.findall(r"\b(?:postgresql|redis|http)://\S+", word):
            host = urlsplit(url).hostname
            if host is not None:
                yield host


def test_compose_file_names_only_what_exists() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services: dict[str, Any] = compose["services"]
    assert {"smartroute", "postgres", "redis"} <= set(services)
    app = services["smartroute"]
    _check_command(app["command"], _serve_options())
    _check_env(app["environment"], _project_sources())
    assert set(app["depends_on"]) <= set(services)
    words = [*app["command"], *map(str, app["environment"].values())]
    for host in _hosts(words):
        assert host in services, f"{host} is not a service of the compose file"
    build = app["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).is_file(), source
    litellm = yaml.safe_load((DEPLOY / "litellm.yaml").read_text())
    (model,) = litellm["model_list"]
    assert model["model_name"] == "smartroute"
    assert urlsplit(model["litellm_params"]["api_base"]).hostname == "smartroute"
    assert model["litellm_params"]["api_key"] == "os.environ/SMARTROUTE_SERVER_TOKEN"
    assert "SMARTROUTE_SERVER_TOKEN" in services["litellm"]["environment"]


def test_kubernetes_manifest_names_only_what_exists() -> None:
    documents = [d for d in yaml.safe_load_all((DEPLOY / "kubernetes.yaml").read_text()) if d]
    by_kind: dict[str, dict[str, Any]] = {}
    for doc in documents:
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    services = by_kind["Service"]
    assert {"smartroute", "postgres", "redis"} <= set(services)
    secrets = {name: set(doc["stringData"]) for name, doc in by_kind["Secret"].items()}
    workloads = [*by_kind["Deployment"].values(), *by_kind["StatefulSet"].values()]
    labels = {}
    for workload in workloads:
        spec = workload["spec"]
        assert (
            spec["selector"]["matchLabels"].items()
            <= spec["template"]["metadata"]["labels"].items()
        )
        labels[workload["metadata"]["name"]] = spec["template"]["metadata"]["labels"]
        for container in spec["template"]["spec"]["containers"]:
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in secrets[ref["name"]], ref
    for name, service in services.items():
        selector = service["spec"]["selector"]
        assert any(selector.items() <= lab.items() for lab in labels.values()), name
    (app,) = by_kind["Deployment"]["smartroute"]["spec"]["template"]["spec"]["containers"]
    _check_command(app["args"], _serve_options())
    _check_env([e["name"] for e in app["env"]], _project_sources())
    words = [*app["args"], *(str(e.get("value", "")) for e in app["env"])]
    for host in _hosts(words):
        assert host in services, f"{host} is not a Service of the manifest"
    assert app["readinessProbe"]["httpGet"]["path"] == "/health"


def test_dockerfile_installs_declared_extras() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    extras = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    )
    (named,) = re.findall(r'"\.\[([a-z,]+)\]"', dockerfile)
    for extra in named.split(","):
        assert extra in extras, f"pyproject.toml has no extra {extra}"
    for copied in re.findall(r"^COPY (\S+)", dockerfile, flags=re.M):
        assert (ROOT / copied).exists(), copied


def test_langgraph_json_allow_lists_the_router_state_types() -> None:
    config = json.loads((ROOT / "graphs" / "langgraph.json").read_text())
    listed = [tuple(entry) for entry in config["checkpointer"]["serde"]["allowed_msgpack_modules"]]
    assert listed == list(ROUTER_STATE_TYPES)
    assert config["http"]["app"] == "graphs/http_app.py:app"


@pytest.mark.parametrize("page", ["deployment.md", "observability.md"])
def test_docs_link_what_exists(page: str) -> None:
    text = (ROOT / "docs" / page).read_text()
    for target in re.findall(r"\]\((\.\./[^)#]+|[a-z-]+\.md)", text):
        assert (ROOT / "docs" / target).resolve().exists(), target
