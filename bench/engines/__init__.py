"""Local database engines started natively, without Docker (see ENGINES.md).

``get_engine(name)`` returns one of the five server engines; each can ``fetch``, ``start``,
``stop`` and report ``status``. Drivers are imported only when an engine is probed, so this
package imports without any database driver installed.
"""

from __future__ import annotations

import importlib

from bench.engines.base import Engine, EngineError, EngineStatus

ENGINE_NAMES: tuple[str, ...] = ("postgres", "dynamodb", "mongodb", "cassandra", "neo4j")

_CLASSES = {
    "postgres": "bench.engines.postgres:Postgres",
    "dynamodb": "bench.engines.dynamodb:DynamoDB",
    "mongodb": "bench.engines.mongodb:MongoDB",
    "cassandra": "bench.engines.cassandra:Cassandra",
    "neo4j": "bench.engines.neo4j:Neo4j",
}


def get_engine(name: str) -> Engine:
    """The engine called ``name``; EngineError naming the valid names otherwise."""
    target = _CLASSES.get(name)
    if target is None:
        raise EngineError(f"unknown engine {name!r}; choose from: {', '.join(ENGINE_NAMES)}")
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)()


def all_engines() -> list[Engine]:
    """Every engine, in ENGINE_NAMES order."""
    return [get_engine(name) for name in ENGINE_NAMES]


__all__ = ["ENGINE_NAMES", "Engine", "EngineError", "EngineStatus", "all_engines", "get_engine"]
