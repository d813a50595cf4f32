"""What the SQL engines did for one query: the statements captured at the DBAPI level, and the
engine's plan read back as counts.

- `Recorder` stands in for the backend's DBAPI cursor while a query is explained: every
  `execute` / `executemany` goes to the real cursor unchanged and is recorded exactly as sent
  (text with its placeholders, bound parameters), with the rows it returned.
- PostgreSQL: each recorded statement is run again under `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)`
  (in a transaction that is rolled back). `examined` sums the scan nodes' actual rows x loops
  plus rows removed by filter or index recheck (function scans count the array elements they
  unnest), and the calls of foreign-key triggers (each reads one row); `cost` is the shared buffers hit / read; `server_us` the Execution Time.
- SQLite: `EXPLAIN QUERY PLAN` per statement, and SQLite's own statement counters (the
  `sqlite_stmt` virtual table: full-scan steps, VM steps, sorts, automatic indexes) as `cost`.
  SQLite counts no rows per loop, so `examined` is derived from the plan and real counts (see
  `sqlite_examined`) and is null, with the reason, where it cannot be.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Call:
    """One statement the query sent: `params` is one row, or a list of rows for an executemany."""

    sql: str
    params: Any
    many: bool = False
    returned: int = 0

    def param_rows(self) -> list[Sequence[Any]]:
        return list(self.params) if self.many else [self.params]


class Recorder:
    """A DBAPI cursor that records what goes through it (explain only; never on the timed path)."""

    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor
        self.calls: list[Call] = []

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Recorder:
        self.calls.append(Call(sql, tuple(params)))
        self.cursor.execute(sql, params)
        return self

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Recorder:
        rows = [tuple(r) for r in rows]
        self.calls.append(Call(sql, rows, many=True))
        self.cursor.executemany(sql, rows)
        return self

    def fetchall(self) -> list[Any]:
        rows = self.cursor.fetchall()
        self.calls[-1].returned += len(rows)
        return rows

    def fetchone(self) -> Any:
        row = self.cursor.fetchone()
        self.calls[-1].returned += row is not None
        return row


def jsonable(value: Any) -> Any:
    """`value` in a JSON-ready form: dataclasses as dicts, dates as ISO text, tuples as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def named(names: Sequence[str] | None, row: Sequence[Any]) -> Any:
    """One parameter row as {name: value} when the names are known, else as a list."""
    if names is not None and len(names) == len(row):
        return {n: jsonable(v) for n, v in zip(names, row, strict=True)}
    return jsonable(list(row))


# -- PostgreSQL

PG_SCANS = frozenset({"Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan", "Tid Scan",
                      "Tid Range Scan", "Sample Scan", "Function Scan"})
"""Nodes that read records: relation scans, and function scans (the elements `jsonb_array_elements`
unnests from a document, e.g. its embedded diagnoses)."""


@dataclass
class PgWork:
    examined: int = 0
    shared_hit: int = 0
    shared_read: int = 0
    server_ms: float = 0.0
    trigger_calls: int = 0
    summary: list[str] = field(default_factory=list)

    def add(self, explained: Mapping[str, Any]) -> None:
        """Add one `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` result (the object inside its list)."""
        root = explained["Plan"]
        self.examined += pg_examined(root)
        self.shared_hit += int(root.get("Shared Hit Blocks", 0))
        self.shared_read += int(root.get("Shared Read Blocks", 0))
        self.server_ms += float(explained.get("Execution Time", 0.0))
        calls = sum(int(t.get("Calls", 0)) for t in explained.get("Triggers", ()))
        self.trigger_calls += calls
        self.examined += calls
        for line in pg_summary(root):
            if line not in self.summary:
                self.summary.append(line)


def pg_examined(node: Mapping[str, Any]) -> int:
    """Rows the scan nodes read: (actual rows + removed by filter / recheck) x loops, over the tree.
    PostgreSQL reports per-loop averages (rounded), so an inner loop's figure is as exact as those."""
    total = 0
    if node.get("Node Type") in PG_SCANS:
        per_loop = (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
                    + node.get("Rows Removed by Index Recheck", 0))
        total += round(per_loop * node.get("Actual Loops", 1))
    for child in node.get("Plans", ()):
        total += pg_examined(child)
    return total


def pg_label(node: Mapping[str, Any]) -> str:
    label = str(node.get("Node Type", "?"))
    if node.get("Strategy") and label in ("Aggregate", "SetOp"):
        label = f"{node['Strategy']} {label}".replace("Hashed", "Hash").replace("Sorted", "Group")
    if node.get("Join Type") not in (None, "Inner"):
        label += f" ({str(node['Join Type']).lower()})"
    if node.get("Index Name"):
        label += f" using {node['Index Name']}"
    if node.get("Relation Name"):
        alias = node.get("Alias")
        label += f" on {node['Relation Name']}" + (f" {alias}" if alias and alias != node["Relation Name"] else "")
    return label


def pg_summary(root: Mapping[str, Any], limit: int = 8) -> list[str]:
    """The plan's operators, top down (pre-order), at most `limit`."""
    out: list[str] = []

    def walk(node: Mapping[str, Any]) -> None:
        if len(out) < limit:
            out.append(pg_label(node))
            for child in node.get("Plans", ()):
                walk(child)

    walk(root)
    return out


# -- SQLite

SQLITE_COUNTERS = ("nscan", "nstep", "nsort", "naidx")
COST_NAMES = {"nscan": "fullscan_steps", "nstep": "vm_steps", "nsort": "sorts", "naidx": "auto_indexes"}
_LOOP = re.compile(r"^(SCAN|SEARCH) (\S+)(?: USING .*?)?(?: \((.*)\))?$")


def sqlite_loops(details: Sequence[str]) -> list[tuple[str, str, str | None]]:
    """(SCAN|SEARCH, table or alias, index constraint) for each loop of an EXPLAIN QUERY PLAN."""
    loops = []
    for d in details:
        m = _LOOP.match(d)
        if m and m.group(2) != "CONSTANT":
            loops.append((m.group(1), m.group(2), m.group(3)))
    return loops


def sqlite_examined(details: Sequence[str], n_params: int, returned: int,
                    table_rows: Mapping[str, int]) -> tuple[int | None, str]:
    """Rows SQLite read for one statement, derived from its plan and real counts, or None and why.

    SQLite counts rows per statement only for full scans, not per loop, and this build has no
    scan-status counters, so: a plan of ONE loop that is a full scan (`SCAN t`, also of a covering
    index) read every row of `t` (its COUNT(*)); a plan of ONE loop that is an index search whose
    constraint binds every parameter of the statement read exactly the rows it returned (the index
    range holds nothing else). Anything else (joins, subqueries, a residual filter) is not counted."""
    loops = sqlite_loops(details)
    if not loops:
        return 0, "no loop in the plan"
    if len(loops) > 1:
        return None, (f"{len(loops)} nested loops (a join or subquery): SQLite reports no per-loop row counts "
                      "(no scan-status counters in this build)")
    kind, table, constraint = loops[0]
    if kind == "SCAN":
        if table in table_rows:
            return table_rows[table], f"full scan of {table}: its COUNT(*)"
        return None, f"full scan of {table}, whose row count is not known here"
    if (constraint or "").count("?") == n_params:
        return returned, "one index search binding every parameter: it reads exactly the rows it returns"
    return None, "an index search with a residual filter: SQLite does not count the rows it filters out"
