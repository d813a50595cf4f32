"""The backends: one folder per data model, and THE registry of backend names.

Everything else is derived from `REGISTRY`: the command line's choices and help, the local
engine `mmbench up` starts for a backend (named as a string, so `backends` never imports
`bench`), the pyproject extra that installs its driver, the packages whose versions go into
a results file, the docker-compose service, and `make test`'s engines. Adding a backend is:
its folder, one entry here, its engine module `bench/engines/<engine>.py` and its compose
service (README, "Adding a backend").

A schema design is a backend of its own, named `<backend>:<design>` (`mongodb:referenced`):
the same engine, another schema module and backend class. The plain name is the default
design. The registry imports a backend's class only when asked, so a missing driver only
matters for the backend that needs it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from backends.base import Backend, BackendError, DriverMissing
from models.errors import UsageError


@dataclass(frozen=True)
class Registration:
    name: str                    # "postgres", or "<backend>:<design>" for a design variant
    model: str                   # sql, kv, document, column, graph
    target: str                  # "package.module:Class"
    driver_module: str           # the import that proves the driver is installed
    extra: str                   # the pyproject extra that installs it
    engine: str | None           # the local engine (`bench/engines/<engine>.py`); None: embedded
    packages: tuple[str, ...]    # PyPI distributions whose versions a results file records
    summary: str = ""            # what this backend (design) optimises, and what it costs

    @property
    def server(self) -> bool:
        """Whether the engine is a server to start (False for embedded SQLite)."""
        return self.engine is not None

    @property
    def design(self) -> str:
        """`default`, or the design after the colon (`referenced`)."""
        return self.name.partition(":")[2] or "default"

    @property
    def base(self) -> str:
        """The backend this is a design of (its own name for a default design)."""
        return self.name.partition(":")[0]


_SQL = ("sqlalchemy",)
REGISTRY: dict[str, Registration] = {r.name: r for r in (
    Registration("sqlite", "sql", "backends.sql.backend:SQLiteBackend", "sqlalchemy", "sql", None, _SQL,
                 "normalised tables with foreign keys and secondary indexes, embedded"),
    Registration("postgres", "sql", "backends.sql.backend:PostgresBackend", "psycopg", "sql", "postgres",
                 (*_SQL, "psycopg"), "normalised tables with foreign keys and secondary indexes"),
    Registration("postgres:jsonb", "sql", "backends.sql.jsonb:PostgresJsonbBackend", "psycopg", "sql", "postgres",
                 (*_SQL, "psycopg"), "each patient one JSONB document with its diagnoses embedded; GIN and "
                 "expression indexes: the document model on a relational server"),
    Registration("dynamodb", "kv", "backends.kv.backend:DynamoDBBackend", "boto3", "kv", "dynamodb",
                 ("boto3", "moto"), "one table per entity with GSIs for the other access paths"),
    Registration("dynamodb:single-table", "kv", "backends.kv.single_table:SingleTableBackend", "boto3", "kv",
                 "dynamodb", ("boto3", "moto"), "every entity in one table with overloaded keys and GSIs: a patient's "
                 "profile, diagnoses and lab results are one item collection; more writes per item, opaque keys"),
    Registration("mongodb", "document", "backends.document.backend:MongoBackend", "pymongo", "document",
                 "mongodb", ("pymongo",), "patients embed their diagnoses; variants and lab results apart"),
    Registration("mongodb:referenced", "document", "backends.document.referenced:ReferencedMongoBackend", "pymongo",
                 "document", "mongodb", ("pymongo",),
                 "patients, diagnoses and lab results in their own collections, joined with $lookup"),
    Registration("cassandra", "column", "backends.column.backend:CassandraBackend", "cassandra", "column",
                 "cassandra", ("cassandra-driver",), "query-first tables, one per access path"),
    Registration("neo4j", "graph", "backends.graph.backend:Neo4jBackend", "neo4j", "graph", "neo4j",
                 ("neo4j", "neo4j-rust-ext"), "Patient, Diagnosis, LabResult and Variant nodes and relationships"),
    Registration("neo4j:properties", "graph", "backends.graph.properties:Neo4jPropertiesBackend", "neo4j", "graph",
                 "neo4j", ("neo4j", "neo4j-rust-ext"),
                 "diagnosis codes as list properties of the patient: one node read per patient, "
                 "but every code-anchored question scans the patients"),
)}


def registration(name: str) -> Registration:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UsageError(f"unknown backend {name!r}; valid: {', '.join(REGISTRY)}") from None


def engines() -> tuple[str, ...]:
    """The local engines the registered backends need, in registry order."""
    return tuple(dict.fromkeys(r.engine for r in REGISTRY.values() if r.engine))


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


def open_backend(name: str, settings: object = None) -> Backend:
    """A connected backend (raises EngineUnavailable naming address and how to start it)."""
    return backend_class(name).from_settings(settings)


__all__ = ["REGISTRY", "Backend", "BackendError", "Registration", "backend_class", "driver_installed",
           "engines", "open_backend", "registration"]
