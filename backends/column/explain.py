"""explain() for Cassandra: every request as sent, its query trace as the plan, and the work
counted from the trace.

While explaining, the backend sends each request on its own (no concurrency) with tracing on
(`trace=True`) and records it here: the CQL as prepared (with its `?` markers) and the values
bound, the rows the server returned, and the trace of every page. The trace is the only plan
Cassandra gives: the events each replica logged while serving the request, such as
`Executing single-partition query on variants`, `Executing read on ks.variants using index
variants_depth_sai`, `Read 4 live rows and 0 tombstone cells`, `Adding to variants memtable`.

From it:
- `examined`: the sum of `Read N live rows` over all events (every replica that read counts:
  at QUORUM on three replicas, two of them read);
- `cost`: the tombstone cells read alongside, the partitions read (`Executing single-partition
  query` events) and the sstables merged, in Cassandra's own terms;
- `server_us`: the sum of the traces' durations (the coordinator's time per request);
- `plan_summary`: one line per distinct access (`variants: SAI index variants_depth_sai, 4
  partitions, 4 rows read`; `variants: single-partition read on 2 replicas, 2 rows read` at
  QUORUM on a ring), repeated accesses counted (`3 × variants_by_region: ...`).
Trace events are written asynchronously by the server, and its tracing queue holds 1,000 events
(more are dropped: an index query over thousands of partitions logs three per partition); a
read whose trace lacks its `Read N live rows` event makes `examined` and `cost` null, with the
reason. Tracing costs the server work per event, so `server_us` of a large trace overstates the
untraced request's time. `plan` keeps the first 100 and last 20 events of each trace.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass, field
from typing import Any

from cassandra.cluster import ResponseFuture
from cassandra.query import BatchStatement, BatchType, PreparedStatement, QueryTrace, TraceUnavailable

from backends.base import Statement, Work

READ_ROWS = re.compile(r"Read (\d+) live rows? and (\d+) tombstone cells?")
PARTITION = re.compile(r"Executing single-partition query on (\w+)")
INDEX = re.compile(r"Executing read on [\w.]+ using index (\w+)")
SEQ_SCAN = re.compile(r"Executing seq scan across (\d+) sstables")
MERGED = re.compile(r"Merged data from memtables and (\d+) sstables")
WRITE = re.compile(r"Adding to (\w+) memtable")
TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE)\s+\w+\.(\w+)", re.IGNORECASE)
TRACE_WAIT = 5.0
"""Seconds to wait for one trace to be complete (its session's duration written)."""
EVENT_RETRIES = 4
FULL_TRACE = 900
"""A trace with this many events may have lost some: Cassandra's tracing stage queues at most
1,000 and drops the rest (an index query over thousands of partitions logs three per partition)."""
PLAN_EVENTS = (100, 20)
"""Events of one trace kept in `plan`: the first 100 and the last 20 (all are counted)."""


class Batch:
    """A batch the backend sends, kept as (prepared statement, values) pairs so that an
    explanation can show it as written."""

    __slots__ = ("items", "kind")

    def __init__(self, kind: BatchType, items: list[tuple[PreparedStatement, Any]]) -> None:
        self.kind, self.items = kind, items

    def statement(self, consistency_level: int) -> BatchStatement:
        batch = BatchStatement(batch_type=self.kind, consistency_level=consistency_level)
        for stmt, values in self.items:
            batch.add(stmt, values)
        return batch


def describe(request: PreparedStatement | Batch, values: Any) -> Statement:
    """A request as sent: its CQL with `?` markers and the values bound (JSON-ready)."""
    if isinstance(request, Batch):
        kind = "LOGGED" if request.kind == BatchType.LOGGED else "UNLOGGED"
        text = "\n".join([f"BEGIN {kind} BATCH", *(f"  {s.query_string};" for s, _ in request.items), "APPLY BATCH"])
        return Statement("cql", text, [jsonable(v) for _, v in request.items])
    return Statement("cql", request.query_string, jsonable(values))


def jsonable(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if value is None or isinstance(value, (int, float, str, bool)):
        return value
    return str(value)  # cassandra.util.Date and the like


@dataclass
class Sent:
    """One request sent while explaining."""

    statement: Statement
    rows: int                               # rows the server returned (all pages)
    traces: list[QueryTrace | None]         # one per page; None: the trace never became available
    is_read: bool


@dataclass
class Recorder:
    sent: list[Sent] = field(default_factory=list)

    def add(self, statement: Statement, rows: int, future: ResponseFuture) -> None:
        """Record a request that ran with trace=True (one trace per page of its result)."""
        is_read = statement.text.lstrip().upper().startswith("SELECT")
        traces = [_complete(QueryTrace(trace_id, future.session), is_read) for trace_id in future.get_query_trace_ids()]
        self.sent.append(Sent(statement, rows, traces, is_read))

    # -- what the recorded requests add up to

    def statements(self) -> list[Statement]:
        return [s.statement for s in self.sent]

    def plan(self) -> list[dict[str, Any]]:
        plan = []
        for i, sent in enumerate(self.sent):
            for page, trace in enumerate(sent.traces):
                if trace is None:
                    plan.append({"statement": i, "page": page, "trace": None})
                    continue
                head, tail = PLAN_EVENTS
                events = list(trace.events)
                kept = events if len(events) <= head + tail else [*events[:head], *events[-tail:]]
                plan.append({
                    "statement": i, "page": page, "coordinator": str(trace.coordinator),
                    "request": trace.request_type, "duration_us": _us(trace.duration),
                    "events": [{"source": str(e.source), "elapsed_us": _us(e.source_elapsed),
                                "thread": e.thread_name, "activity": e.description} for e in kept],
                    "events_omitted": len(events) - len(kept),
                })
        return plan

    def summary(self) -> list[str]:
        """One line per distinct access, in order; repeated accesses counted, their rows added up."""
        seen: dict[str, list[int | None]] = {}  # access -> [times, rows read (None: not in a trace)]
        for sent in self.sent:
            access, rows = _access(sent)
            times, total = seen.setdefault(access, [0, 0])
            seen[access] = [times + 1, None if rows is None or total is None else total + rows]
        lines = []
        for access, (times, rows) in seen.items():
            if access.startswith(("write into", "batch into")):  # writes read nothing
                lines.append(access if times == 1 else f"{times} × {access}")
                continue
            read = "rows read not in the trace" if rows is None else f"{rows} rows read"
            lines.append(f"{access}, {read}" if times == 1 else f"{times} × {access}, {read} in all")
        return lines

    def server_us(self) -> float | None:
        durations = [_us(t.duration) for s in self.sent for t in s.traces if t is not None]
        if not durations or any(d is None for d in durations) or len(durations) < self.round_trips():
            return None
        return float(sum(d for d in durations if d is not None))

    def round_trips(self) -> int:
        return sum(max(1, len(s.traces)) for s in self.sent)

    def work(self, answer: int) -> Work:
        work = Work(answer=answer, returned=sum(s.rows for s in self.sent), round_trips=self.round_trips())
        live = tombstones = partitions = sstables = 0
        incomplete: list[tuple[int, int]] = []  # (statement, events it has)
        for i, sent in enumerate(self.sent):
            events = [e.description for t in sent.traces if t is not None for e in t.events]
            reads = [m for d in events if (m := READ_ROWS.search(d))]
            if sent.is_read and not reads:
                incomplete.append((i, len(events)))
            live += sum(int(m.group(1)) for m in reads)
            tombstones += sum(int(m.group(2)) for m in reads)
            partitions += sum(1 for d in events if PARTITION.search(d))
            sstables += sum(int(m.group(1)) for d in events if (m := MERGED.search(d) or SEQ_SCAN.search(d)))
        lossy = self.lossy()
        if incomplete:
            i, n = incomplete[0]
            why = (f"the trace of statement {i} lacks its 'Read N live rows' event: " + (
                f"Cassandra drops trace events once its tracing queue is full (this one kept {n})"
                if n >= FULL_TRACE else "the server had not written it yet"))
            work.reasons["examined"] = why
            work.reasons["cost"] = why  # partitions and tombstones would be undercounted
            return work
        work.examined = live
        work.cost = {"tombstone_cells": float(tombstones), "sstables_read": float(sstables)}
        if lossy:
            work.reasons["cost"] = (f"partitions_read left out: the trace of statement {lossy[0][0]} has "
                                    f"{lossy[0][1]} events, and Cassandra drops trace events once its tracing "
                                    "queue is full")
        else:
            work.cost["partitions_read"] = float(partitions)
        return work

    def lossy(self) -> list[tuple[int, int]]:
        """(statement, events) of every trace big enough to have lost events."""
        return [(i, len(t.events)) for i, sent in enumerate(self.sent) for t in sent.traces
                if t is not None and len(t.events) >= FULL_TRACE]


def _complete(trace: QueryTrace, is_read: bool) -> QueryTrace | None:
    """The trace, populated; for a read, waited on until its `Read N live rows` event is there
    (events arrive after the session's duration). None if it never became available."""
    try:
        trace.populate(max_wait=TRACE_WAIT)
        for attempt in range(EVENT_RETRIES):
            if not is_read or len(trace.events) >= FULL_TRACE or any(
                    READ_ROWS.search(e.description) for e in trace.events):
                break
            time.sleep(0.1 * 2**attempt)
            trace.populate(max_wait=TRACE_WAIT)
    except TraceUnavailable:
        return None
    return trace


def _access(sent: Sent) -> tuple[str, int | None]:
    """What one request did (`variants: SAI index variants_depth_sai, 4 partitions`) and the rows
    it read (None if its trace lacks the count)."""
    tables = TABLE.findall(sent.statement.text)
    table = ", ".join(dict.fromkeys(tables)) or "?"
    events = [e.description for t in sent.traces if t is not None for e in t.events]
    if not events:
        return f"{table}: no trace", None
    reads = [int(m.group(1)) for d in events if (m := READ_ROWS.search(d))]
    if not sent.is_read:
        written = list(dict.fromkeys(m.group(1) for d in events if (m := WRITE.search(d))))
        kind = "batch" if sent.statement.text.startswith("BEGIN") else "write"
        return f"{kind} into {', '.join(written) or table}", sum(reads)
    rows = sum(reads) if reads else None
    indexes = list(dict.fromkeys(m.group(1) for d in events if (m := INDEX.search(d))))
    replicas = len({str(e.source) for t in sent.traces if t is not None for e in t.events
                    if READ_ROWS.search(e.description)})
    on = f" on {replicas} replicas" if replicas > 1 else ""
    if indexes:
        partitions = sum(1 for d in events if PARTITION.search(d))
        counted = "" if len(events) >= FULL_TRACE else f", {partitions} partitions"
        return f"{table}: SAI index {', '.join(indexes)}{on}{counted}", rows
    if any(SEQ_SCAN.search(d) or d.startswith("Computing ranges to query") for d in events):
        return f"{table}: range scan over all token ranges{on}", rows
    return f"{table}: single-partition read{on}", rows


def _us(delta: dt.timedelta | None) -> float | None:
    return None if delta is None else delta / dt.timedelta(microseconds=1)
