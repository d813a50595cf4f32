"""Consumed capacity: DynamoDB's own cost of every request, summed per client.

On-demand DynamoDB bills read request units (one per 4 KB read strongly consistently, half
that eventually consistently, twice that in a transaction) and write request units (one per
1 KB written, per index the item lands in, twice in a transaction). Every request can
report what it consumed when asked with ReturnConsumedCapacity=TOTAL.

`CapacityMeter.attach(client)` hooks botocore's event system, so no call site can forget:
before each operation that accepts the parameter it sets ReturnConsumedCapacity=TOTAL,
after each call (every page of a paginated Query or Scan, every batch and every retry of
unprocessed items) it adds the reported units. `take()` returns the sums since the last
take and resets them.

dynalite computes the units from the item sizes with DynamoDB's rules (table writes only: no
units for secondary-index updates). moto (5.x) reports fixed placeholders, not costs: 0.5 per
GetItem, 1 per PutItem, Query or Scan page, 1 per table per BatchWriteItem, one per key of a
BatchGetItem, nothing for TransactWriteItems. Its numbers count requests; only Amazon
DynamoDB's are capacity.
"""

from __future__ import annotations

import threading
from typing import Any

READ_OPERATIONS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})


class CapacityMeter:
    """Thread-safe sums of the read and write capacity units reported by one client."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rcu = 0.0
        self._wcu = 0.0

    def attach(self, client: Any) -> None:
        client.meta.events.register("provide-client-params.dynamodb", self._ask)
        client.meta.events.register("after-call.dynamodb", self._count)

    def take(self) -> dict[str, float]:
        with self._lock:
            spent = {"rcu": self._rcu, "wcu": self._wcu}
            self._rcu = self._wcu = 0.0
        return spent

    def give(self, spent: dict[str, float]) -> None:
        """Add units back (what was taken aside while something untimed, e.g. explain, ran)."""
        with self._lock:
            self._rcu += spent.get("rcu", 0.0)
            self._wcu += spent.get("wcu", 0.0)

    @staticmethod
    def _ask(params: dict[str, Any], model: Any, **_: Any) -> None:
        if "ReturnConsumedCapacity" in model.input_shape.members:
            params.setdefault("ReturnConsumedCapacity", "TOTAL")

    def _count(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        reported = parsed.get("ConsumedCapacity") or []
        if isinstance(reported, dict):
            reported = [reported]
        is_read = model.name in READ_OPERATIONS
        rcu = wcu = 0.0
        for c in reported:
            if "ReadCapacityUnits" in c or "WriteCapacityUnits" in c:
                rcu += c.get("ReadCapacityUnits", 0.0)
                wcu += c.get("WriteCapacityUnits", 0.0)
            elif is_read:
                rcu += c.get("CapacityUnits", 0.0)
            else:
                wcu += c.get("CapacityUnits", 0.0)
        if rcu or wcu:
            with self._lock:
                self._rcu += rcu
                self._wcu += wcu
