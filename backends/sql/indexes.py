"""Dropping and recreating the secondary indexes of a loaded SQL backend (the `index` demo).

The indexes are the ones the backend's design declares (`METADATA`, e.g. `ix_variants_depth`);
the data stays as loaded. Each change is one transaction on the backend's OWN connection (the
DDL, then ANALYZE of the table, so the planner's statistics describe what is there: SQLite
forgets a dropped index's `sqlite_stat1` rows and needs them for a new one). The same
connection matters for SQLite: a schema change made there expires every statement it has
prepared, whereas after a change made by another connection an `EXPLAIN QUERY PLAN` it
prepared before (and Python's sqlite3 caches statements by their text) goes on describing the
old schema, because it never opens a read transaction that would notice. PostgreSQL
invalidates its cached plans on any connection.

`dropped()` always recreates what it dropped, also when the body fails; `restore()` creates
every declared index that is missing (after a process was killed inside `dropped()`).
Index and table names come from the design's metadata, never from user input.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Index, inspect
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateIndex, DropIndex

from backends.base import BackendError
from backends.sql.engine import SQLBackend, qualified


def declared(backend: SQLBackend) -> dict[str, Index]:
    """Every secondary index the design declares, by name."""
    return {str(ix.name): ix for table in backend.METADATA.tables.values() for ix in table.indexes}


def index_of(backend: SQLBackend, name: str) -> Index:
    try:
        return declared(backend)[name]
    except KeyError:
        raise BackendError(f"{backend.name}: the design declares no index {name!r}; "
                           f"it has {', '.join(sorted(declared(backend))) or 'none'}") from None


def present(backend: SQLBackend, table: str) -> set[str]:
    """The names of the indexes the engine holds on `table` now (primary key excluded)."""
    with _connection(backend) as conn:
        return {str(ix["name"]) for ix in inspect(conn).get_indexes(table, schema=backend.schema)}


def drop(backend: SQLBackend, name: str) -> None:
    """Drop the declared index `name` (which must exist), then ANALYZE its table."""
    _ddl(backend, index_of(backend, name), DropIndex)


def create(backend: SQLBackend, name: str) -> None:
    """Create the declared index `name` (which must not exist), then ANALYZE its table."""
    _ddl(backend, index_of(backend, name), CreateIndex)


@contextmanager
def dropped(backend: SQLBackend, name: str) -> Iterator[None]:
    """The body runs without index `name`; it is recreated afterwards, whatever happened."""
    drop(backend, name)
    try:
        yield
    finally:
        create(backend, name)


def restore(backend: SQLBackend) -> list[str]:
    """Create every declared index the engine does not hold; the names created."""
    made = []
    by_table: dict[str, set[str]] = {}
    for name, ix in declared(backend).items():
        table = str(ix.table.name)  # type: ignore[union-attr]
        if table not in by_table:
            by_table[table] = present(backend, table)
        if name not in by_table[table]:
            create(backend, name)
            made.append(name)
    return made


@contextmanager
def _connection(backend: SQLBackend) -> Iterator[Connection]:
    with backend._errors(), backend.engine.connect() as conn:
        yield conn.execution_options(schema_translate_map={None: backend.schema}) if backend.schema else conn


def _ddl(backend: SQLBackend, index: Index, statement: Any) -> None:
    """`statement(index)` and ANALYZE of its table, in one transaction on the backend's connection."""
    schema = backend.schema
    ddl = str(statement(index).compile(dialect=backend.engine.dialect, schema_translate_map={None: schema} if schema
                                       else None, render_schema_translate=bool(schema)))
    table = qualified(backend.engine, schema, str(index.table.name))  # type: ignore[union-attr]
    with backend._errors(), backend._tx():
        backend._cur.execute(ddl)
        backend._cur.execute(f"ANALYZE {table}")
