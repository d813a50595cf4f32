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


def test_every_registry_entry_has_its_engine_module_service_and_extra(services: dict) -> None:
    """Adding a backend = its folder + a registry entry + its engine module + its compose service:
    everything else (CLI choices, `make test`'s engines, results packages) derives from the registry."""
    import importlib
    import tomllib

    from backends import REGISTRY, engines
    from bench.engines.base import Engine

    extras = tomllib.loads((COMPOSE.parent / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for reg in REGISTRY.values():
        assert reg.extra in extras, f"{reg.name}: no pyproject extra {reg.extra!r}"
        assert reg.extra in extras["all"][0], f"{reg.name}: extra {reg.extra!r} is not in .[all]"
        importlib.import_module(reg.target.partition(":")[0])  # the backend module imports
        assert reg.packages, f"{reg.name}: no packages to record in results files"
        if reg.engine is not None:
            module = importlib.import_module(f"bench.engines.{reg.engine}")
            assert issubclass(module.ENGINE, Engine) and module.ENGINE.name == reg.engine
            assert reg.engine in services, f"{reg.name}: no docker-compose service {reg.engine!r}"
    assert set(engines()) <= set(ENGINE_NAMES)
