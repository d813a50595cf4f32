"""What a DynamoDB query did: every request exactly as sent, and the counts DynamoDB returns.

DynamoDB has no query plan: a request IS the plan (GetItem reads one item; Query reads one
partition's key range of the table or an index; Scan reads every item). So the explanation
is the list of requests, captured with botocore's own event hooks while `explain` runs:
`before-call` gives the operation and the JSON body as serialized for the wire, `after-call`
the parsed answer, with `ScannedCount` (items read: `examined`), `Count` (items sent back:
`returned`), `LastEvaluatedKey` (another page follows) and `ConsumedCapacity` (the cost in
read / write capacity units). The hooks are registered only while `explain` runs, so the timed
path pays nothing for them.

The cost as DynamoDB bills it (on-demand, eventually consistent reads): a read request costs
its items' summed size rounded up to 4 KB, half a unit per 4 KB (a whole one for a strongly
consistent read), at least one 4 KB step per request; a write costs 1 unit per 1 KB of the item,
rounded up, again for every GSI the item lands in, twice in a transaction. dynalite reports
these figures itself (without the index writes); moto reports a fixed placeholder, so for moto
the figures are computed here from the items' sizes (`billed_*`), and the notes say so.
"""

from __future__ import annotations

import base64
import json
import math
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from backends.kv.codec import AttributeValue, Item

READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})
_PLACEHOLDER = re.compile(r"[#:][A-Za-z0-9_]+")


@dataclass
class Call:
    """One request as sent, and what came back."""

    operation: str
    text: str                          # "<Operation> <JSON body as sent>"
    request: dict[str, Any]            # the same body, parsed
    answered: bool = False
    count: int | None = None           # items sent back (Count; 1 or 0 for GetItem)
    scanned: int | None = None         # items read (ScannedCount; 1 or 0 for GetItem)
    more: bool = False                 # LastEvaluatedKey present: another page follows
    capacity: list[dict[str, Any]] = field(default_factory=list)  # ConsumedCapacity as reported
    error: str | None = None

    def answer(self, parsed: Mapping[str, Any]) -> None:
        self.answered = True
        if "Error" in parsed:
            self.error = str(parsed["Error"].get("Code", "error"))
            return
        if self.operation in ("Query", "Scan"):
            self.count, self.scanned = int(parsed.get("Count", 0)), int(parsed.get("ScannedCount", 0))
            self.more = "LastEvaluatedKey" in parsed
        elif self.operation == "GetItem":
            self.count = self.scanned = int("Item" in parsed)
        elif self.operation == "BatchGetItem":
            self.count = self.scanned = sum(len(v) for v in (parsed.get("Responses") or {}).values())
        reported = parsed.get("ConsumedCapacity") or []
        self.capacity = [reported] if isinstance(reported, dict) else list(reported)

    @property
    def table(self) -> str:
        return str(self.request.get("TableName", ""))


class Recorder:
    """Records the requests of one client while `recording()` is active (from every thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[Call] = []

    @contextmanager
    def recording(self, client: Any) -> Iterator[list[Call]]:
        events = client.meta.events
        self._calls = []
        events.register("before-call.dynamodb", self._sent, unique_id="mmbench-explain-sent")
        events.register("after-call.dynamodb", self._answered, unique_id="mmbench-explain-answered")
        try:
            yield self._calls
        finally:
            events.unregister("before-call.dynamodb", unique_id="mmbench-explain-sent")
            events.unregister("after-call.dynamodb", unique_id="mmbench-explain-answered")

    def _sent(self, model: Any, params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
        body = params.get("body") or b"{}"
        text = body.decode("utf-8") if isinstance(body, bytes | bytearray) else str(body)
        call = Call(model.name, f"{model.name} {text}", json.loads(text or "{}"))
        context["mmbench_call"] = call
        with self._lock:
            self._calls.append(call)

    @staticmethod
    def _answered(parsed: Mapping[str, Any], context: Mapping[str, Any], **_: Any) -> None:
        call = context.get("mmbench_call")
        if isinstance(call, Call):
            call.answer(parsed)


# -- sizes and capacity as DynamoDB bills them


def number_size(text: str) -> int:
    """Bytes of a number: 1 per two significant digits, plus 1."""
    try:
        digits = len(Decimal(text).normalize().as_tuple().digits)
    except InvalidOperation:
        digits = len(text)
    return (digits + 1) // 2 + 1


def value_size(value: AttributeValue | Mapping[str, Any]) -> int:
    ((tag, x),) = value.items()
    if tag == "S":
        return len(x.encode("utf-8"))
    if tag == "N":
        return number_size(x)
    if tag == "B":
        return len(base64.b64decode(x)) if isinstance(x, str) else len(x)
    if tag in ("BOOL", "NULL"):
        return 1
    if tag == "SS":
        return sum(len(s.encode("utf-8")) for s in x)
    if tag == "NS":
        return sum(number_size(n) for n in x)
    if tag == "BS":
        return sum(len(base64.b64decode(b)) if isinstance(b, str) else len(b) for b in x)
    if tag == "L":
        return 3 + sum(1 + value_size(v) for v in x)
    if tag == "M":
        return 3 + sum(len(k.encode("utf-8")) + 1 + value_size(v) for k, v in x.items())
    return 0


def item_size(item: Mapping[str, Any]) -> int:
    """An item's size as DynamoDB counts it: attribute names plus values."""
    return sum(len(name.encode("utf-8")) + value_size(v) for name, v in item.items())


def read_units(size: int, consistent: bool = False) -> float:
    """Read units of one request that read `size` bytes (at least one 4 KB step)."""
    return max(1, math.ceil(size / 4096)) * (1.0 if consistent else 0.5)


def write_units(item: Mapping[str, Any], definition: Mapping[str, Any], transactional: bool = False) -> float:
    """Write units of putting `item` into the table `definition` (a CreateTable request): 1 per KB
    in the table, and again in every GSI that holds the item (it has the index's key attributes)."""
    units = max(1, math.ceil(item_size(item) / 1024))
    table_keys = [k["AttributeName"] for k in definition.get("KeySchema", [])]
    for index in definition.get("GlobalSecondaryIndexes", []):
        keys = [k["AttributeName"] for k in index["KeySchema"]]
        if not all(k in item for k in keys):
            continue  # a sparse index: the item is not in it
        projection = index.get("Projection", {})
        if projection.get("ProjectionType") == "ALL":
            projected: Mapping[str, Any] = item
        else:
            wanted = {*table_keys, *keys, *projection.get("NonKeyAttributes", [])}
            projected = {k: v for k, v in item.items() if k in wanted}
        units += max(1, math.ceil(item_size(projected) / 1024))
    return units * (2.0 if transactional else 1.0)


def written_items(call: Call) -> Iterator[tuple[str, Item, bool]]:
    """(table, item, transactional) of every item a write request puts."""
    r = call.request
    if call.operation == "PutItem":
        yield r["TableName"], r["Item"], False
    elif call.operation == "BatchWriteItem":
        for table, requests in (r.get("RequestItems") or {}).items():
            for request in requests:
                if "PutRequest" in request:
                    yield table, request["PutRequest"]["Item"], False
    elif call.operation == "TransactWriteItems":
        for action in r.get("TransactItems", []):
            if "Put" in action:
                yield action["Put"]["TableName"], action["Put"]["Item"], True


def without_filter(request: Mapping[str, Any]) -> dict[str, Any]:
    """A read request that returns every item it reads, whole: no filter, no projection, no count-only,
    and only the placeholders its remaining expressions use (DynamoDB refuses unused ones)."""
    drop = {"FilterExpression", "ProjectionExpression", "Select", "ReturnConsumedCapacity", "AttributesToGet"}
    replay = {k: v for k, v in request.items() if k not in drop}
    used = set(_PLACEHOLDER.findall(" ".join(str(replay.get(k, "")) for k in ("KeyConditionExpression",))))
    for part in ("ExpressionAttributeNames", "ExpressionAttributeValues"):
        if part in replay:
            kept = {k: v for k, v in replay[part].items() if k in used}
            if kept:
                replay[part] = kept
            else:
                del replay[part]
    return replay


def reported_units(calls: Iterable[Call]) -> dict[str, float]:
    """Capacity units the engine reported, split into reads and writes by operation."""
    rcu = wcu = 0.0
    for call in calls:
        for c in call.capacity:
            if "ReadCapacityUnits" in c or "WriteCapacityUnits" in c:
                rcu += c.get("ReadCapacityUnits", 0.0)
                wcu += c.get("WriteCapacityUnits", 0.0)
            elif call.operation in READS:
                rcu += c.get("CapacityUnits", 0.0)
            else:
                wcu += c.get("CapacityUnits", 0.0)
    return {"rcu": rcu, "wcu": wcu}


# -- the plan: the requests, grouped into pages of the same read


def describe(call: Call) -> str:
    """One line: the operation, where, and the expressions (placeholders resolved for reading)."""
    r = call.request
    where = call.table + (f" index {r['IndexName']}" if r.get("IndexName") else "")
    names = r.get("ExpressionAttributeNames") or {}

    def readable(expression: str) -> str:
        return _PLACEHOLDER.sub(lambda m: names.get(m.group(0), m.group(0)), expression)

    parts = [f"{call.operation} {where}"]
    for key, label in (("KeyConditionExpression", "key"), ("FilterExpression", "FilterExpression")):
        if r.get(key):
            parts.append(f"{label} {readable(r[key])}")
    if call.operation in ("PutItem", "BatchWriteItem", "TransactWriteItems"):
        parts.append(f"{sum(1 for _ in written_items(call))} items")
    return ", ".join(parts)


def requests_of(calls: list[Call]) -> list[list[Call]]:
    """The calls grouped into requests: a Query or Scan with its following pages (same request,
    with the ExclusiveStartKey of the previous page), anything else alone."""
    requests: list[list[Call]] = []
    open_reads: dict[str, list[Call]] = {}
    for call in calls:
        same = json.dumps({k: v for k, v in call.request.items() if k != "ExclusiveStartKey"}, sort_keys=True)
        if "ExclusiveStartKey" in call.request and same in open_reads:
            open_reads[same].append(call)
        else:
            requests.append([call])
            if call.operation in ("Query", "Scan"):
                open_reads[same] = requests[-1]
    return requests


def plan_of(calls: list[Call]) -> tuple[list[dict[str, Any]], list[str]]:
    """The raw per-request records, and one summary line per request (its pages folded together;
    requests that read the same way with other values folded into one line, `x N`)."""
    plan = [{"operation": c.operation, "table": c.table, "index": c.request.get("IndexName"),
             "count": c.count, "scanned_count": c.scanned, "last_evaluated_key": c.more,
             "consumed_capacity": c.capacity, "error": c.error} for c in calls]
    lines: dict[str, int] = {}
    for pages in requests_of(calls):
        line = describe(pages[0])
        if pages[0].operation in ("Query", "Scan"):
            n = len(pages)
            line += (f": {n} page{'s' if n > 1 else ''}, examined {sum(c.scanned or 0 for c in pages)}, "
                     f"returned {sum(c.count or 0 for c in pages)}")
        lines[line] = lines.get(line, 0) + 1
    return plan, [line if n == 1 else f"{line} (x{n})" for line, n in lines.items()]
