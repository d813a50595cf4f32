"""Local database engines started natively, without Docker (see the README, "Engines without Docker").

The engines are those the registered backends name (`backends.REGISTRY`, field `engine`),
plus `SERVICES`, local services no backend needs by default. Each lives in
`bench/engines/<name>.py`, whose `ENGINE` is its `Engine` class; each can `fetch`, `start`,
`stop` and report `status`. Drivers are imported only when an engine is probed, so this
package imports without any database driver installed.
"""

from __future__ import annotations

import importlib

from backends import REGISTRY, engines
from bench.engines.base import Engine, EngineError, EngineStatus

SERVICES: tuple[str, ...] = ("moto",)
"""Engines that are not a backend's default engine: moto (the S3 and Glue APIs of the cloud hands-on,
and the DynamoDB API for `MMBENCH_DYNAMODB_ENGINE=moto`)."""

ENGINE_NAMES: tuple[str, ...] = (*engines(), *SERVICES)
ALIASES: dict[str, str] = {"s3": "moto", "glue": "moto"}
"""Other names of an engine: `mmbench up s3` starts moto, which serves S3 and Glue."""


def engine_name(name: str) -> str | None:
    """The engine behind an engine or backend name (`mongodb:referenced` -> `mongodb`); None
    for an embedded backend (sqlite); EngineError naming the valid names if unknown."""
    if name in ENGINE_NAMES:
        return name
    if name in ALIASES:
        return ALIASES[name]
    if name in REGISTRY:
        return REGISTRY[name].engine
    raise EngineError(f"unknown engine {name!r}; choose from: {', '.join(ENGINE_NAMES)}")


def get_engine(name: str) -> Engine:
    """The engine called `name` (or the engine of backend `name`); EngineError if there is none."""
    engine = engine_name(name)
    if engine is None:
        raise EngineError(f"{name} is embedded: there is no engine to start")
    return importlib.import_module(f"bench.engines.{engine}").ENGINE()


def all_engines() -> list[Engine]:
    """Every engine, in ENGINE_NAMES order."""
    return [get_engine(name) for name in ENGINE_NAMES]


__all__ = ["ENGINE_NAMES", "SERVICES", "Engine", "EngineError", "EngineStatus", "all_engines", "engine_name",
           "get_engine"]
