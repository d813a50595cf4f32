"""Which data generation is current: the pointer row of a namespace's fixed keyspace.

Cassandra has no multi-statement transactions and cannot rename a keyspace or a table, so a
load cannot be made atomic in place. Instead every load fills a fresh generation keyspace
(`mmbench7`, `mmbench7_lecture`; see `schema.py`) and the switch is one row:

    <fixed>.current  (id text PRIMARY KEY, generation int, claimed int, holdings text)
    <fixed>.writes   (generation int PRIMARY KEY, n counter)

where `<fixed>` is `<base>[_<namespace>]` (`mmbench`, `mmbench_lecture`). Every write of the
`current` row is a lightweight transaction (Paxos), every read of it is SERIAL, so all clients
agree on the current generation whatever their consistency settings:

- `claim()` takes the next generation number (`claimed + 1`, compare-and-set): two loads never
  fill the same keyspace;
- `switch(n, holdings)` makes generation n current together with its Holdings JSON, only if
  the current one is older (`IF generation < n`): of two concurrent loads the newer wins, the
  older one fails with a one-line error and drops its own keyspace;
- `sweep(n)` then drops every generation of this namespace numbered below n (the previous one,
  and orphans of loads killed mid-way), and tables of the layout before generations.

`writes` counts the writes added since the load (`record_writes`), per generation, so a new load
starts from zero. It is a counter table (an atomic increment, no read-modify-write).

A namespace never loaded has no fixed keyspace, or a pointer at generation 0: NotLoaded.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from cassandra import ConsistencyLevel, InvalidRequest
from cassandra.cluster import Session
from cassandra.query import PreparedStatement

from backends.base import BackendError, Holdings, namespace
from backends.column.schema import literal_map

MAX_GENERATION = 999_999
"""Six digits: with a 16-character base and a 24-character namespace the name stays within
Cassandra's 48."""
META_TABLES = ("current", "writes")
ROW = "data"  # the key of the pointer row


def keyspace_names(base: str, ns: str) -> tuple[str, str]:
    """The namespace's fixed keyspace (`mmbench`, `mmbench_lecture`: the pointer and the Holdings)
    and the pattern of its generations (`mmbench{n}`, `mmbench{n}_lecture`)."""
    return (f"{base}_{ns}", f"{base}{{n}}_{ns}") if ns else (base, f"{base}{{n}}")


@dataclass(frozen=True)
class Pointer:
    generation: int        # 0: nothing loaded yet
    claimed: int           # the last generation number handed out
    holdings: str | None   # the Holdings JSON of the current generation (None after reset)


class Generations:
    """The pointer row and the write counter of one namespace (statements run on `session`;
    the caller turns driver errors into one-line messages)."""

    def __init__(self, session: Session, base: str, timeout: float) -> None:
        self.session, self.base, self.timeout = session, base, timeout
        self.namespace = ns = namespace()  # fixed for this backend's life, whatever the environment says later
        self.fixed, self._pattern = keyspace_names(base, ns)
        self._prepared: dict[str, PreparedStatement] = {}
        self._mine = re.compile(rf"{re.escape(base)}(\d+)" + (f"_{re.escape(ns)}" if ns else ""))

    def _run(self, cql: str, params: tuple[Any, ...] = (), level: int = ConsistencyLevel.QUORUM) -> Any:
        """One statement on the fixed keyspace (`{ks}`), prepared once, values bound (`?`)."""
        stmt = self._prepared.get(cql)
        if stmt is None:
            stmt = self._prepared[cql] = self.session.prepare(cql.format(ks=self.fixed))
            stmt.serial_consistency_level = ConsistencyLevel.SERIAL
        bound = stmt.bind(params)
        bound.consistency_level = level
        return self.session.execute(bound, timeout=self.timeout)

    def keyspace(self, generation: int) -> str:
        """The keyspace of generation n of this namespace."""
        return self._pattern.format(n=generation)

    # -- reading

    def pointer(self) -> Pointer | None:
        """The pointer row, read at SERIAL (sees every committed switch); None if the namespace
        has no fixed keyspace or no pointer row yet. Driver errors propagate."""
        try:
            row = self._run("SELECT generation, claimed, holdings FROM {ks}.current WHERE id = ?", (ROW,),
                            ConsistencyLevel.SERIAL).one()
        except InvalidRequest as exc:
            if "does not exist" in str(exc) or "unconfigured table" in str(exc):
                return None
            raise
        return None if row is None else Pointer(int(row[0] or 0), int(row[1] or 0), row[2])

    def writes_since(self, generation: int) -> int:
        row = self._run("SELECT n FROM {ks}.writes WHERE generation = ?", (generation,)).one()
        return int(row[0]) if row and row[0] is not None else 0

    def holdings(self, pointer: Pointer) -> Holdings | None:
        if pointer.holdings is None:
            return None
        held = Holdings.from_dict(json.loads(pointer.holdings))
        return Holdings(**{**held.to_dict(), "writes_since": self.writes_since(pointer.generation)})

    # -- the load protocol

    def ensure(self, replication: dict[str, str], schema_timeout: float) -> None:
        """The fixed keyspace, its two tables and the pointer row (generation 0), if missing."""
        ks = self.fixed
        for ddl in (f"CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = {literal_map(replication)}",
                    (f"CREATE TABLE IF NOT EXISTS {ks}.current (id text PRIMARY KEY, generation int, claimed int,"
                     " holdings text) WITH comment = 'mmbench: the current data generation and its holdings'"),
                    (f"CREATE TABLE IF NOT EXISTS {ks}.writes (generation int PRIMARY KEY, n counter)"
                     " WITH comment = 'mmbench: writes added since each generation was loaded'")):
            self.session.execute(ddl, timeout=schema_timeout)
        self._run("INSERT INTO {ks}.current (id, generation, claimed) VALUES (?, 0, 0) IF NOT EXISTS", (ROW,))

    def claim(self) -> int:
        """A generation number nobody else has or will have (compare-and-set on `claimed`)."""
        for _ in range(100):
            pointer = self.pointer()
            assert pointer is not None, "ensure() first"
            n = max(pointer.claimed, pointer.generation, *self.existing()) + 1
            if n > MAX_GENERATION:
                raise BackendError(f"cassandra: keyspace {self.fixed} has used every generation number up to "
                                   f"{MAX_GENERATION}; drop it to start again")
            if self._run("UPDATE {ks}.current SET claimed = ? WHERE id = ? IF claimed = ?",
                         (n, ROW, pointer.claimed)).was_applied:
                return n
        raise BackendError(f"cassandra: could not claim a generation in {self.fixed}: too many concurrent loads")

    def switch(self, generation: int, holdings: Holdings | None) -> bool:
        """Make `generation` current with `holdings`, unless a newer one already is (False)."""
        text = None if holdings is None else json.dumps(holdings.to_dict())
        return bool(self._run("UPDATE {ks}.current SET generation = ?, holdings = ? WHERE id = ?"
                              " IF generation < ?", (generation, text, ROW, generation)).was_applied)

    def existing(self) -> list[int]:
        """The numbers of this namespace's generation keyspaces that exist now."""
        rows = self.session.execute("SELECT keyspace_name FROM system_schema.keyspaces", timeout=self.timeout)
        return sorted(int(m.group(1)) for (name, *_) in rows if (m := self._mine.fullmatch(name)))

    def sweep(self, current: int, schema_timeout: float) -> list[str]:
        """Drop this namespace's generations older than `current`, their write counters, and any
        table of the fixed keyspace that is not ours (the layout before generations); the names
        dropped."""
        dropped = []
        for n in self.existing():
            if n < current:
                name = self.keyspace(n)
                self.session.execute(f"DROP KEYSPACE IF EXISTS {name}", timeout=schema_timeout)
                self._run("DELETE FROM {ks}.writes WHERE generation = ?", (n,))
                dropped.append(name)
        tables = self._run("SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?", (self.fixed,),
                           ConsistencyLevel.ONE)
        for (table, *_) in tables:
            if table not in META_TABLES:
                self.session.execute(f"DROP TABLE IF EXISTS {self.fixed}.{table}", timeout=schema_timeout)
                dropped.append(f"{self.fixed}.{table}")
        return dropped

    def add_writes(self, generation: int, n: int) -> None:
        self._run("UPDATE {ks}.writes SET n = n + ? WHERE generation = ?", (n, generation))
