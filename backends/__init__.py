"""The backends: one folder per data model, and the registry of backend names.

The registry maps a backend name to the import path of its class and imports it only when
asked, so a missing driver only matters for the backend that needs it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from backends.base import Backend, BackendError, DriverMissing
from models.errors import UsageError


@dataclass(frozen=True)
class Registration:
    name: str
    model: str
    target: str            # "package.module:Class"
    driver_module: str     # the import that proves the driver is installed
    extra: str             # the pyproject extra that installs it
    server: bool = True    # False for embedded engines (nothing to start)
    emulated: bool = False  # the local engine is an emulator


REGISTRY: dict[str, Registration] = {r.name: r for r in (
    Registration("sqlite", "sql", "backends.sql.backend:SQLiteBackend", "sqlalchemy", "sql", server=False),
    Registration("postgres", "sql", "backends.sql.backend:PostgresBackend", "psycopg", "sql"),
    Registration("dynamodb", "kv", "backends.kv.backend:DynamoDBBackend", "boto3", "kv", emulated=True),
    Registration("mongodb", "document", "backends.document.backend:MongoBackend", "pymongo", "document", emulated=True),
    Registration("cassandra", "column", "backends.column.backend:CassandraBackend", "cassandra", "column"),
    Registration("neo4j", "graph", "backends.graph.backend:Neo4jBackend", "neo4j", "graph"),
)}


def registration(name: str) -> Registration:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UsageError(f"unknown backend {name!r}; valid: {', '.join(REGISTRY)}") from None


def driver_installed(name: str) -> bool:
    try:
        importlib.import_module(registration(name).driver_module)
    except ImportError:
        return False
    return True


def backend_class(name: str) -> type[Backend]:
    """The class of a backend, imported now; DriverMissing with pip advice if it cannot be."""
    reg = registration(name)
    if not driver_installed(name):
        raise DriverMissing(name, reg.extra, reg.driver_module)
    module, _, cls = reg.target.partition(":")
    return getattr(importlib.import_module(module), cls)


def open_backend(name: str, settings: Any = None) -> Backend:
    """A connected backend (raises EngineUnavailable naming address and how to start it)."""
    return backend_class(name).from_settings(settings)


__all__ = ["REGISTRY", "Backend", "BackendError", "Registration", "backend_class", "driver_installed",
           "open_backend", "registration"]
