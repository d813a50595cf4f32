"""What `explain()` needs from pymongo and from MongoDB: the commands as sent, and plans read.

- `CommandLog` is a pymongo command listener: every command the client sends to our database
  and the documents its replies carry (cursor batches). It is registered only on the client
  that explains (store.py), never on the one that answers timed queries.
- `statement()` renders a command as the `mongo` statement text: the command document as
  Extended JSON (relaxed: dates as `{"$date": ...}`), without the driver's bookkeeping fields
  (`$db`, `lsid`, `$clusterTime`, `$readPreference`, `txnNumber`, API version) — what remains
  is the command name, the collection, and the filter, projection, sort, pipeline or documents.
- `plan_summary()` and `counts()` read an answer of MongoDB's `explain` (executionStats
  verbosity) of one command: its access paths, and the documents and index keys it examined and
  its execution time. Both walk the whole answer, so they read classic and slot-based (SBE)
  plans, aggregation stages (`$cursor`, and `$lookup` with its own totals) and sharded answers
  (one entry per shard), never rejected plans.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from bson import json_util
from bson.json_util import JSONMode, JSONOptions
from pymongo import monitoring

from backends.base import Statement

BOOKKEEPING = frozenset({"$db", "lsid", "$clusterTime", "$readPreference", "txnNumber", "autocommit",
                         "startTransaction", "apiVersion", "apiStrict", "apiDeprecationErrors"})
"""Fields the driver adds to every command: sessions, cluster time, routing, API version."""

EXPLAINABLE = frozenset({"find", "aggregate", "update", "delete", "count", "distinct", "findAndModify"})
"""Commands MongoDB's `explain` accepts (not insert, getMore, killCursors, listCollections)."""

_JSON = JSONOptions(json_mode=JSONMode.RELAXED, tz_aware=False)
_SKIP_IN_PLANS = ("rejectedPlans", "allPlansExecution", "command", "originalCommand", "parsedQuery")


@dataclass
class Sent:
    """One command as sent, and what its reply carried."""

    name: str
    command: dict[str, Any]
    returned: int = 0          # documents in the reply's cursor batch
    ok: bool | None = None     # None: no reply seen


@dataclass
class CommandLog(monitoring.CommandListener):
    """Records the commands sent to `database` (others, e.g. `admin` pings, are left out)."""

    database: str
    sent: list[Sent] = field(default_factory=list)
    _by_request: dict[int, Sent] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.database_name != self.database:
            return
        command = {k: v for k, v in event.command.items() if k not in BOOKKEEPING}
        with self._lock:
            self._by_request[event.request_id] = entry = Sent(event.command_name, command)
            self.sent.append(entry)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        with self._lock:
            entry = self._by_request.pop(event.request_id, None)
        if entry is not None:
            entry.ok, entry.returned = True, returned_documents(event.reply)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        with self._lock:
            entry = self._by_request.pop(event.request_id, None)
        if entry is not None:
            entry.ok = False

    def take(self) -> list[Sent]:
        """The commands recorded since the last call, in the order sent."""
        with self._lock:
            sent, self.sent = self.sent, []
            self._by_request.clear()
        return sent


def returned_documents(reply: Mapping[str, Any]) -> int:
    """Documents in a reply's cursor batch (find, aggregate, getMore), values of a `distinct`;
    0 for other replies."""
    if isinstance(reply.get("values"), list):
        return len(reply["values"])
    cursor = reply.get("cursor")
    if not isinstance(cursor, Mapping):
        return 0
    batch = cursor.get("firstBatch", cursor.get("nextBatch"))
    return len(batch) if isinstance(batch, list) else 0


def statement(command: Mapping[str, Any]) -> Statement:
    """A command as the `mongo` statement the explanation shows (values inside the text)."""
    return Statement("mongo", json_util.dumps(command, json_options=_JSON))


def to_json(value: Any) -> Any:
    """A BSON answer (explain output) as plain JSON-ready data."""
    return json_util.loads(json_util.dumps(value, json_options=_JSON))


# -- reading MongoDB's explain answers

def _walk(node: Any) -> Iterator[Mapping[str, Any]]:
    """Every mapping in an explain answer, depth first, skipping rejected plans and echoes."""
    if isinstance(node, Mapping):
        yield node
        for key, value in node.items():
            if key not in _SKIP_IN_PLANS:
                yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def plan_summary(explained: Mapping[str, Any]) -> list[str]:
    """The access paths in an `explain` answer, in the order found: index names (including the
    `indexesUsed` of `$lookup` stages), "COLLSCAN" where a collection is scanned, "IDHACK" for
    MongoDB's `_id` fast path."""
    found: list[str] = []
    for node in _walk(explained):
        names = [node.get("indexName"), *(node.get("indexesUsed") or ())]
        stage = node.get("stage")
        if stage in ("COLLSCAN", "IDHACK"):
            names.insert(0, stage)
        found.extend(n for n in names if isinstance(n, str) and n not in found)
    return found


@dataclass(frozen=True)
class Counts:
    docs_examined: int
    keys_examined: int
    millis: float | None    # the execution time MongoDB reports for itself (None: not reported)

    @property
    def examined(self) -> int:
        """Records read: an index scan that fetches what it reads counts once, a collection scan
        its documents, a covered index scan its keys."""
        return max(self.docs_examined, self.keys_examined)


def counts(explained: Mapping[str, Any]) -> Counts:
    """Documents and keys examined and the execution time of one `explain` answer.

    The examined figures are the `totalDocsExamined` / `totalKeysExamined` of every cursor,
    `$lookup` stage and shard, summed; a node that carries totals is not looked into further
    (a sharded answer's top-level totals already sum its shards'). The time is the largest
    `executionTimeMillis` (or a stage's `executionTimeMillisEstimate`, which includes the
    stages before it): the root of the plan."""
    docs = keys = 0
    millis: float | None = None

    def totals(node: Any) -> None:
        nonlocal docs, keys
        if isinstance(node, Mapping):
            if "totalDocsExamined" in node or "totalKeysExamined" in node:
                docs += int(node.get("totalDocsExamined") or 0)
                keys += int(node.get("totalKeysExamined") or 0)
                return
            for key, value in node.items():
                if key not in _SKIP_IN_PLANS:
                    totals(value)
        elif isinstance(node, list):
            for value in node:
                totals(value)

    totals(explained)
    for node in _walk(explained):
        for key in ("executionTimeMillis", "executionTimeMillisEstimate"):
            value = node.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool) and (millis is None or value > millis):
                millis = float(value)
    return Counts(docs, keys, millis)
