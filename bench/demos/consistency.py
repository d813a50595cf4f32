"""`mmbench demo consistency`: what do Cassandra's consistency levels buy, and what do they cost,
when a node fails?

On the local 3-node ring (`mmbench up cassandra --nodes 3`; every row on all three nodes,
replication factor 3), reads (`variant_by_id`) and writes (`add_variants`) run at `ONE`, `QUORUM`
and `ALL`: first with the three nodes up, then with node 2 stopped (a clean stop: the others know
at once). Each request is timed whether it succeeds or fails; the table says how many succeeded,
how many failed and with what error, and their latency. A level needs that many replicas to
answer: ONE one, QUORUM two of three, ALL three.

Then hinted handoff: while node 2 is still down, writes at `ONE` succeed on the other two, and each
coordinator keeps a *hint* for node 2 (files in its hints directory, written out every 10 s). Node 2
is started again; the demo times how long until the others have delivered their hints (no hint
file left), and reads those writes at `ONE` served by node 2 itself (the trace of `explain` names
the replica that read), before the hints arrived if it catches that moment, and after; then at
`ALL`. A read at ONE served by node 2 before the hints arrive misses the writes: ONE for writes
and ONE for reads do not overlap (1 + 1 is not more than 3).

The demo leaves the ring as it found it (node 2 started again, also when it fails part-way). Its
data lives in the namespace `demo_consistency` of the ring, never of the single node on 127.0.0.1.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, ClassVar

from backends.base import Backend
from bench.demos.base import ROUNDS, Context, Demo, DemoResult, Measured, compared
from bench.stats import Latencies
from bench.timing import time_calls, time_outcomes, wait_until
from bench.uncertainty import Buckets, estimate, interval, replicates, rng_for
from models.catalog import Q
from models.entities import Variant
from models.errors import MMBenchError, UsageError, first_line
from models.seed import seed_dataset

LEVELS = ("ONE", "QUORUM", "ALL")
NODES = 3
STOPPED = 2          # the node the demo stops
OPS = 60             # requests per level, operation and phase (fewer with a smaller Context.ops)
HINTED = 20          # writes at ONE while node 2 is down
WARMUP = 5
HINT_FLUSH_S = 30.0  # hints reach disk every 10 s (hints_flush_period)
HANDOFF_S = 180.0    # hints are delivered within this (the dispatcher looks every 10 s)
SERVED_TRIES = 5     # explained reads of one key until node 2 serves it (the driver may not see it up yet)
EARLY_S = 20.0       # seconds to get a read served by node 2 before its hints arrive
SERVED_CANDIDATES = 400  # fresh keys tried to find HINTED whose reads node 2 serves (about one in three)
READ_ROWS = re.compile(r"Read (\d+) live rows?")
COLUMNS = ["phase", "level", "operation", "ok", "failed", "p50 µs", "p99 µs", "result"]


class Consistency(Demo):
    name: ClassVar[str] = "consistency"
    question: ClassVar[str] = ("Which reads and writes survive a node failing at consistency ONE, QUORUM and ALL, "
                               "what do they cost, and how does a returning node catch up?")
    backends: ClassVar[tuple[str, ...]] = ("cassandra",)
    needs: ClassVar[str] = "the 3-node Cassandra ring: mmbench up cassandra --nodes 3"

    def run(self, ctx: Context) -> DemoResult:
        if ctx.backend_override not in (None, "cassandra"):
            raise UsageError("demo consistency runs on the Cassandra ring only: it takes no other --backend")
        ring = _ring()
        from backends.column.settings import CassandraSettings

        n = max(1, min(ctx.ops, OPS))
        backends = {level: ctx.open("cassandra", CassandraSettings(contact_points=ring.contact_points,
                                                                   consistency=level)) for level in LEVELS}
        options = dict(backends["QUORUM"].engine_info().options)
        ctx.load(backends["QUORUM"], seed_dataset())
        ids = [v.variant_id for v in seed_dataset().variants()]
        rows: list[dict[str, Any]] = []
        found: dict[tuple[str, str, str], Cell] = {}
        fresh = iter(range(10**9))

        def cells(phase: str) -> None:
            ctx.say(f"cassandra ring: {phase}: {n} reads and {n} writes at each of {', '.join(LEVELS)}")
            for level in LEVELS:
                b = backends[level]
                for op, calls in (("read", _reads(b, ids, n)), ("write", _writes(b, phase, level, fresh, n))):
                    cell = Cell.of(phase, level, op, time_outcomes(calls))
                    found[(phase, level, op)] = cell
                    rows.append(cell.row())

        with ctx.namespaced():
            for level, b in backends.items():  # statements prepared, connections open: untimed
                time_outcomes(_reads(b, ids, WARMUP) + _writes(b, "warmup", level, fresh, WARMUP))
            cells("3 of 3 nodes up")
            hinted = _served_by(backends["ONE"], ring.node(STOPPED).host, HINTED)
            stopped = False
            try:
                ctx.say(f"cassandra ring: stopping node {STOPPED} (a clean stop)")
                ring.stop_node(STOPPED)
                stopped = True
                cells(f"node {STOPPED} stopped")
                handoff = _handoff(ctx, ring, backends, hinted, rows)
                stopped = False
            finally:
                if stopped and ring.node(STOPPED).pid() is None:
                    ctx.say(f"cassandra ring: starting node {STOPPED} again")
                    ring.start_node(STOPPED)
        plot = _plot(ctx, found)
        return DemoResult(self.name, self.question, COLUMNS, rows, _takeaway(found, handoff),
                          plots=[plot] if plot else [], notes=_notes(found),
                          data={"ops_per_cell": n, "cassandra_options": options, "handoff": handoff})


def _ring() -> Any:
    """The local 3-node ring, every node up; a one-line error saying how to get there otherwise."""
    from bench.engines.cassandra import CassandraRing

    ring = CassandraRing.existing()
    start = "start it with `mmbench up cassandra --nodes 3` (about 1 GB of memory per node, a minute or two)"
    if ring is None or not any(s.up for s in ring.status()):
        raise MMBenchError(f"demo consistency needs the local {NODES}-node Cassandra ring, which is not running: {start}")
    if ring.size != NODES:
        raise MMBenchError(f"demo consistency needs a {NODES}-node ring, the local one has {ring.size}: "
                           f"`mmbench down cassandra`, remove it, then {start}")
    down = [i for i, s in enumerate(ring.status(), 1) if not s.up]
    if down:
        raise MMBenchError(f"demo consistency needs every node of the ring up; down: node {', '.join(map(str, down))}: "
                           f"`mmbench node start cassandra {down[0]}`")
    return ring


def _reads(b: Backend, ids: list[str], n: int) -> list[tuple[Callable[..., Any], dict[str, Any]]]:
    return [(b.variant_by_id, {"variant_id": ids[i % len(ids)]}) for i in range(n)]


def _variant(tag: str, i: int) -> Variant:
    return Variant(f"consistency-{tag}-{i}", "1", 1_000_000 + i, "A", "G", "AG", 30.0, 20, None)


def _writes(b: Backend, phase: str, level: str, fresh: Any, n: int) -> list[tuple[Callable[..., Any], dict[str, Any]]]:
    tag = f"{phase.split()[0]}-{level.lower()}"
    return [(b.add_variants, {"variants": [_variant(tag, next(fresh))]}) for _ in range(n)]


class Cell:
    """One phase, level and operation: what succeeded, what failed (and how), their latencies."""

    def __init__(self, phase: str, level: str, op: str, ok_ns: list[int], failed_ns: list[int],
                 errors: dict[str, int]) -> None:
        self.phase, self.level, self.op = phase, level, op
        self.ok_ns, self.failed_ns, self.errors = ok_ns, failed_ns, errors

    @classmethod
    def of(cls, phase: str, level: str, op: str, outcomes: list[tuple[int, BaseException | None]]) -> Cell:
        errors: dict[str, int] = {}
        for _, exc in outcomes:
            if exc is not None:
                key = _error(exc)
                errors[key] = errors.get(key, 0) + 1
        return cls(phase, level, op, [ns for ns, exc in outcomes if exc is None],
                   [ns for ns, exc in outcomes if exc is not None], errors)

    @property
    def label(self) -> str:
        return f"{self.op} at {self.level}, {self.phase}"

    def latencies(self) -> Latencies:
        """Of the requests that succeeded, or of the failures when none did (how fast it fails)."""
        return Latencies.from_ns(self.ok_ns or self.failed_ns)

    def measured(self) -> Measured | None:
        if len(self.ok_ns) < ROUNDS:
            return None
        n = len(self.ok_ns)
        rounds = [Latencies.from_ns(self.ok_ns[k * n // ROUNDS:(k + 1) * n // ROUNDS]) for k in range(ROUNDS)]
        buckets = [Buckets.of(r.hist) for r in rounds]
        lo, hi = interval(replicates(buckets, 50, rng_for(self.label, "cassandra")))
        return Measured(self.label, "cassandra", estimate(buckets, 50), lo, hi, estimate(buckets, 99), n,
                        _rounds=buckets)

    def row(self) -> dict[str, Any]:
        lat = self.latencies().summary()
        result = "all succeeded" if not self.failed_ns else "; ".join(
            f"{k}" + (f" ({v}×)" if v != len(self.failed_ns) else "") for k, v in self.errors.items())
        if self.failed_ns and not self.ok_ns:
            result = f"all failed, in {lat['p50_us']:,.0f} µs (p50): {result}"
        return {"phase": self.phase, "level": self.level, "operation": self.op, "ok": len(self.ok_ns),
                "failed": len(self.failed_ns), "p50 µs": round(lat["p50_us"], 1), "p99 µs": round(lat["p99_us"], 1),
                "result": result}


SERVER_ERROR = re.compile(r'(?P<kind>\w+): Error from server: code=\w+ \[.*?\] message="(?P<message>.*?)"'
                          r"(?: info=\{.*'required_\w+': (?P<required>\d+), 'alive_\w+': (?P<alive>\d+)\})?")


def _error(exc: BaseException) -> str:
    """The error a student should read: the kind and the server's message, without the driver's wrapping
    (`Unavailable: Cannot achieve consistency level ALL (3 replicas required, 2 alive)`)."""
    text = first_line(exc).removeprefix("cassandra: ")
    m = SERVER_ERROR.search(text)
    if m is None:
        return text
    counts = f" ({m['required']} replicas required, {m['alive']} alive)" if m["required"] else ""
    return f"{m['kind']}: {m['message']}{counts}"


def _read_at_one(b: Backend, variant_id: str) -> tuple[set[str], int]:
    """Read one variant at ONE through `explain`: the replicas that read it (from the trace) and
    whether it was found (1 or 0)."""
    e = b.explain(Q.VARIANT_BY_ID, {"variant_id": variant_id})
    readers = {ev["source"] for p in e.plan or [] for ev in p.get("events") or []
               if READ_ROWS.search(ev.get("activity") or "")}
    return readers, e.work.answer


def _served_by(b: Backend, host: str, n: int) -> list[str]:
    """`n` fresh variant ids whose reads at ONE `host` serves: the driver sends a request to the
    replica owning the key's token, and that replica reads its own copy."""
    ids: list[str] = []
    for k in range(SERVED_CANDIDATES):
        vid = _variant("hinted", k).variant_id
        if _read_at_one(b, vid)[0] == {host}:
            ids.append(vid)
            if len(ids) == n:
                break
    if not ids:
        raise MMBenchError(f"demo consistency: no read at ONE of {SERVED_CANDIDATES} keys was served by {host}: "
                           "does the driver see that node?")
    return ids


def _served_by_node(b: Backend, host: str, variant_ids: list[str]) -> dict[str, Any]:
    """Read `variant_ids` at ONE (each until `host` serves it, at most SERVED_TRIES times): how many
    reads `host` served, and how many of those found their variant."""
    served = found = tries = 0
    for vid in variant_ids:
        for _ in range(SERVED_TRIES):
            tries += 1
            readers, answer = _read_at_one(b, vid)
            if readers == {host}:
                served += 1
                found += answer
                break
    return {"served_by_node": served, "found": found, "explained": tries}


def _handoff(ctx: Context, ring: Any, backends: dict[str, Backend], ids: list[str],
             rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Writes at ONE while node 2 is down (of keys whose reads node 2 serves), node 2 restarted,
    hints delivered, and reads served by node 2 before and after."""
    node = ring.node(STOPPED)
    others = [i for i in range(1, ring.size + 1) if i != STOPPED]
    before = sum(ring.hint_files()[i] for i in others)
    variants = [Variant(vid, "1", 2_000_000 + k, "A", "G", "AG", 30.0, 20, None) for k, vid in enumerate(ids)]
    ctx.say(f"cassandra ring: {len(ids)} writes at ONE while node {STOPPED} is down (the others keep hints for it)")
    cell = Cell.of(f"node {STOPPED} stopped", "ONE", "write (node 2 misses it)", time_outcomes(
        [(backends["ONE"].add_variants, {"variants": [v]}) for v in variants]))
    flushed_ns = wait_until(lambda: sum(ring.hint_files()[i] for i in others) > before, HINT_FLUSH_S, 0.5)
    files = {i: ring.hint_files()[i] for i in others}
    row = cell.row()
    row["result"] = (f"{row['result']}; hint files on node {', '.join(f'{i}: {files[i]}' for i in others)}"
                     + (f" ({flushed_ns / 1e9:.1f} s after the writes)" if flushed_ns is not None else ""))
    rows.append(row)

    ctx.say(f"cassandra ring: starting node {STOPPED} again")
    (restart_ns,) = time_calls([(ring.start_node, {"index": STOPPED})])
    restart_s = round(restart_ns / 1e9, 1)
    rows.append({"phase": f"node {STOPPED} restarted", "level": "-", "operation": "restart", "result":
                 f"up, and seen by the other nodes, {restart_s} s after it was started"})
    ctx.say(f"cassandra ring: waiting for the driver to see node {STOPPED} up")
    driver_ns = wait_until(lambda: backends["ONE"].engine_info().options.get("nodes", "").startswith(f"{ring.size} up"),
                           30.0, 0.1) or 0
    pending = sum(ring.hint_files()[i] for i in others)
    early: dict[str, Any] | None = None
    early_ns = 0
    if pending:  # a read served by node 2 before any hint is delivered, if the driver sends one there in time
        tries: list[tuple[set[str], int]] = []

        def served_or_delivered() -> bool:
            tries.append(_read_at_one(backends["ONE"], ids[0]))
            return tries[-1][0] == {node.host} or sum(ring.hint_files()[i] for i in others) < pending

        early_ns = wait_until(served_or_delivered, EARLY_S, 0.2) or 0
        if tries[-1][0] == {node.host} and sum(ring.hint_files()[i] for i in others) == pending:
            early = {"served_by_node": 1, "found": tries[-1][1], "explained": len(tries)}
    if early is not None:
        rows.append({"phase": f"node {STOPPED} restarted", "level": "ONE",
                     "operation": f"read served by node {STOPPED}, hints not delivered yet",
                     "ok": early["served_by_node"], "failed": 0,
                     "result": f"{early['found']} of {early['served_by_node']} found the write"})
    ctx.say(f"cassandra ring: waiting for the hints to reach node {STOPPED}")
    waited_ns = wait_until(lambda: sum(ring.hint_files()[i] for i in others) == 0, HANDOFF_S, 0.25)
    handoff_s = None if waited_ns is None else (driver_ns + early_ns + waited_ns) / 1e9  # since node 2 was back
    rows.append({"phase": "hinted handoff", "level": "-", "operation": "hints delivered", "result": (
        f"no hint file left on the other nodes {round(handoff_s, 1)} s after node {STOPPED} was back"
        if handoff_s is not None else f"hint files still waiting after {HANDOFF_S:.0f} s")})
    late = _served_by_node(backends["ONE"], node.host, ids)
    rows.append({"phase": "after the handoff", "level": "ONE", "operation": f"read served by node {STOPPED}",
                 "ok": late["served_by_node"], "failed": 0,
                 "result": f"{late['found']} of {late['served_by_node']} found the write"})
    outcomes = time_outcomes([(backends["ALL"].variant_by_id, {"variant_id": vid}) for vid in ids])
    all_cell = Cell.of("after the handoff", "ALL", "read", outcomes)
    row = all_cell.row()
    got = sum(1 for vid in ids if backends["QUORUM"].variant_by_id(variant_id=vid) is not None)
    row["result"] = f"{row['result']}; {got} of {len(ids)} writes there"
    rows.append(row)
    return {"writes_at_one": len(cell.ok_ns), "hint_files": files,
            "hint_files_after_s": None if flushed_ns is None else round(flushed_ns / 1e9, 2),
            "restart_s": restart_s, "handoff_s": None if handoff_s is None else round(handoff_s, 1),
            "pending_at_restart": pending, "before_handoff": early,
            "after_handoff": late, "read_at_all_after": len(all_cell.ok_ns), "writes_found": got}


def _takeaway(found: dict[tuple[str, str, str], Cell], handoff: dict[str, Any]) -> str:
    down = f"node {STOPPED} stopped"
    up = "3 of 3 nodes up"
    parts = []
    up_failed = [c.label for k, c in found.items() if k[0] == up and c.failed_ns]
    parts.append("With all three nodes up, " + ("every request succeeded at every level." if not up_failed else
                                                 f"some requests failed: {', '.join(up_failed)}."))
    one, quorum = found[(up, "ONE", "read")].measured(), found[(up, "QUORUM", "read")].measured()
    if one and quorum:
        parts.append(f"Reads at QUORUM wait for two replicas: {compared('QUORUM', 'ONE', quorum.versus(one))}.")
    survived = [f"{lvl} {op}s" for lvl in LEVELS for op in ("read", "write")
                if not found[(down, lvl, op)].failed_ns]
    failed = [c for k, c in found.items() if k[0] == down and c.failed_ns]
    if failed:
        what = ", ".join(f"{c.level} {c.op}s ({len(c.failed_ns)} of {len(c.failed_ns) + len(c.ok_ns)}, "
                         f"in {c.latencies().summary()['p50_us']:,.0f} µs)" for c in failed)
        first = next(iter(failed[0].errors))
        parts.append(f"With node {STOPPED} stopped, these failed: {what} — {first}. The coordinator knows the node is "
                     "down and refuses at once rather than wait.")
    parts.append(f"Still succeeding with node {STOPPED} down: {', '.join(survived) or 'nothing'}.")
    h = handoff
    if h.get("handoff_s") is not None:
        before = h.get("before_handoff")
        early = (f" Read at ONE from node {STOPPED} before its hints arrived, {before['found']} of "
                 f"{before['served_by_node']} reads found the write: node {STOPPED} was up but stale."
                 if before and before["served_by_node"] else "")
        late = h["after_handoff"]
        parts.append(f"Hinted handoff: {h['writes_at_one']} writes at ONE while node {STOPPED} was down were kept as "
                     f"hints; node {STOPPED} was back {h['restart_s']:.1f} s after its start, and the hints reached "
                     f"it {h['handoff_s']:.1f} s later.{early} Afterwards {late['found']} of {late['served_by_node']} "
                     f"reads served by node {STOPPED} found the writes.")
    else:
        parts.append(f"Hinted handoff did not finish within {HANDOFF_S:.0f} s in this run.")
    return " ".join(parts)


def _notes(found: dict[tuple[str, str, str], Cell]) -> list[str]:
    notes = [(f"replication factor {NODES}: every row is on all three nodes; ONE needs 1 replica to answer, "
             "QUORUM 2, ALL 3"),
             (f"node {STOPPED} was stopped cleanly (it told the others); a crashed node (kill -9) is noticed by "
             "failure detection some seconds later, and until then requests that need it time out instead of "
             "failing at once")]
    slow = [c.label for c in found.values() if c.failed_ns and c.ok_ns]
    if slow:
        notes.append(f"mixed outcomes (some succeeded, some failed): {', '.join(slow)}")
    return notes


def _plot(ctx: Context, found: dict[tuple[str, str, str], Cell]) -> str | None:
    path = ctx.plot_path("levels")
    if path is None:
        return None
    from bench.report import _log_axis, _pyplot, fmt_tick_us

    plt = _pyplot()
    phases = list(dict.fromkeys(k[0] for k in found))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    width = 0.8 / len(phases)
    for axis, op in zip(axes, ("read", "write"), strict=True):
        for j, phase in enumerate(phases):
            xs, heights, marks = [], [], []
            for i, level in enumerate(LEVELS):
                cell = found[(phase, level, op)]
                xs.append(i + (j - (len(phases) - 1) / 2) * width)
                heights.append(max(cell.latencies().summary()["p50_us"], 1.0))
                marks.append(not cell.ok_ns)
            bars = axis.bar(xs, heights, width, label=phase, hatch=None)
            for bar, failed in zip(bars, marks, strict=True):
                if failed:
                    bar.set_hatch("//")
                    axis.annotate("failed", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                                  ha="center", va="bottom", fontsize=8)
        axis.set_xticks(range(len(LEVELS)), LEVELS)
        axis.set_yscale("log")
        axis.set_title(f"{op}s: p50 (hatched: every request failed; its bar is the time to fail)")
        axis.title.set_fontsize(8)
    _log_axis(axes[0].yaxis, fmt_tick_us)
    axes[0].legend(fontsize=8)
    fig.suptitle("Cassandra ring, replication factor 3: consistency levels with a node down")
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)
    return str(path)


DEMO = Consistency
