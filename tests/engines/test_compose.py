"""docker-compose.yml offers every local engine, health-checked, on its default port."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bench.engines import ENGINE_NAMES, get_engine

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


@pytest.fixture(scope="module")
def services() -> dict:
    doc = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(doc, dict) and isinstance(doc.get("services"), dict), "no services: mapping"
    return doc["services"]


def published_host_ports(service: dict) -> set[int]:
    """Host ports of a service's ``ports`` (short ``[IP:]HOST:CONTAINER`` or long syntax)."""
    found: set[int] = set()
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            if "published" in entry:
                found.add(int(entry["published"]))
            continue
        parts = str(entry).split("/")[0].split(":")
        if len(parts) >= 2:
            found.add(int(parts[-2]))
    return found


@pytest.mark.parametrize("name", ENGINE_NAMES)
def test_engine_has_a_healthchecked_service(services: dict, name: str) -> None:
    assert name in services, f"docker-compose.yml has no service {name!r}"
    service = services[name]
    assert service.get("image"), f"service {name!r} has no image"
    check = service.get("healthcheck") or {}
    assert check.get("test"), f"service {name!r} has no healthcheck (needed by `docker compose up --wait`)"
    assert not check.get("disable"), f"service {name!r} disables its healthcheck"


@pytest.mark.parametrize("name", ENGINE_NAMES)
def test_engine_default_port_is_published(services: dict, name: str) -> None:
    port = get_engine(name).port
    assert port in published_host_ports(services[name]), (
        f"service {name!r} does not publish host port {port}"
    )


def test_port_parsing() -> None:
    svc = {"ports": ["127.0.0.1:8000:5000", "9042:9042/tcp", {"target": 7687, "published": "7687"}]}
    assert published_host_ports(svc) == {8000, 9042, 7687}


def test_every_registered_server_backend_has_an_engine_and_a_service(services: dict) -> None:
    from backends import REGISTRY

    server_backends = {r.name for r in REGISTRY.values() if r.server}
    assert server_backends == set(ENGINE_NAMES)
    assert server_backends <= set(services)
