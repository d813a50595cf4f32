"""`mmbench demo staleness`: how often does a read on a replica miss a write the primary has just
committed, and what does it cost the write to make sure it never does?

PostgreSQL streams its write-ahead log to the replica of `mmbench up postgres --replica`. Each
sample writes one diagnosis on the primary (`add_diagnosis`) and, the moment the commit returns,
reads the patient on the replica (`patient_by_id`): the read is **stale** if the new diagnosis is
not in it. The read is then repeated until the diagnosis appears: "seen after" is the time
from the commit's return to the end of the first read that saw it (for a read that saw it at
once, one read's time; it bounds the replication lag from above). The same backend does this
under three values of `synchronous_commit` (what a commit waits for), interleaved sample by sample
so that they share the machine's noise:

- `local`: the commit waits for the primary's own disk only: asynchronous replication;
- `on`: it also waits until the replica has written the WAL to disk (synchronous replication), not
  until it has applied it: a read on the replica can still miss the write;
- `remote_apply`: it waits until the replica has applied it: a read on the replica sees it.

The replica must be the primary's synchronous standby (`MMBENCH_POSTGRES_REPLICATION=sync`, the
default) for `on` and `remote_apply` to wait at all; the demo says so when it is not. With
`MMBENCH_POSTGRES_READ_URL` set, the reads go there instead (a replica elsewhere).

DynamoDB's half of the question (`consistent_reads`): every seed variant read by key (GetItem) and
every seed patient (a Query of its item collection) with `ConsistentRead` false (DynamoDB's default)
and true (`MMBENCH_DYNAMODB_CONSISTENT_READ`), and the read units each is billed, from the
requests' consumed capacity (`explain`): half a unit per 4 KB eventually consistent, one strongly
consistent. The local DynamoDB emulators are always consistent, so only the billing differs here;
stale reads themselves need Amazon DynamoDB. Its result is in the notes, the takeaway and
`data.dynamodb`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any, ClassVar

from bench.demos.base import ROUNDS, Context, Demo, DemoResult, Measured, compared
from bench.stats import Latencies
from bench.timing import write_then_read
from bench.uncertainty import Buckets, estimate, interval, replicates, rng_for
from models.catalog import Q
from models.errors import MMBenchError, UsageError
from models.seed import seed_dataset

MODES: tuple[tuple[str, str], ...] = (
    ("asynchronous", "local"),
    ("sync, flushed", "on"),
    ("sync, applied", "remote_apply"),
)
"""(label, synchronous_commit) of each alternative."""
WARMUP = 5           # untimed samples per mode first
TIMEOUT_S = 10.0     # a write not seen on the replica within this is counted as never seen
FIRST_ID = 900_000_000  # diagnosis ids of the demo's writes (the seed data's are small)
CODE = "Z00.00"
COLUMNS = ["replication", "synchronous_commit", "writes", "stale reads", "stale %", "95% interval",
           "write p50 µs", "write p99 µs", "seen after p50 µs", "p99 µs", "max µs"]


class Staleness(Demo):
    name: ClassVar[str] = "staleness"
    question: ClassVar[str] = ("How often does a read on a PostgreSQL replica miss a write just committed on the "
                               "primary, and what does waiting for the replica cost the write?")
    backends: ClassVar[tuple[str, ...]] = ("postgres",)
    needs: ClassVar[str] = "the PostgreSQL replica: mmbench up postgres --replica"

    def run(self, ctx: Context) -> DemoResult:
        from backends.sql.settings import PostgresSettings, read_settings

        if ctx.backend_override not in (None, "postgres"):
            raise UsageError("demo staleness runs on postgres (its replica) only: it takes no other --backend")
        base = read_settings(PostgresSettings, "postgres", "MMBENCH_POSTGRES_")
        notes: list[str] = []
        if not base.read_url.strip():
            notes += _local_replica()
        samples = max(10, ctx.ops)
        backends = {commit: ctx.open("postgres", base.model_copy(update={
            "read_replica": not base.read_url.strip(), "synchronous_commit": commit})) for _, commit in MODES}
        first = backends[MODES[0][1]]
        options = dict(first.engine_info().options)
        ctx.load(first, seed_dataset())  # returns once the replica has replayed the load
        patients = [p.patient_id for p in seed_dataset().patients()]
        ctx.say(f"postgres: {samples} writes per mode, each read back on the replica at once "
                f"({', '.join(c for _, c in MODES)}, interleaved)")
        found: dict[str, list[tuple[int, int | None, int]]] = {commit: [] for _, commit in MODES}
        counter = iter(range(FIRST_ID, FIRST_ID + 10**8))
        with ctx.namespaced():
            for i in range(WARMUP + samples):
                order = MODES[i % len(MODES):] + MODES[:i % len(MODES)]  # each mode first in turn
                for _, commit in order:
                    outcome = _sample(backends[commit], next(counter), patients[i % len(patients)])
                    if i >= WARMUP:
                        found[commit].append(outcome)
        rows, measured = [], {}
        for label, commit in MODES:
            row, m = _row(label, commit, found[commit])
            rows.append(row)
            measured[commit] = m
            if row["never seen"]:
                notes.append(f"{label}: {row['never seen']} writes were not seen on the replica within {TIMEOUT_S:.0f} s")
        plot = _plot(ctx, found)
        dynamodb = consistent_reads(ctx)
        notes += dynamodb["notes"]
        return DemoResult(
            self.name, self.question, COLUMNS, rows, " ".join([_takeaway(rows, measured), dynamodb["takeaway"]]).strip(),
            plots=[plot] if plot else [],
            notes=notes, data={"samples_per_mode": samples, "postgres_options": options,
                               "samples": {c: [{"write_ns": w, "visible_ns": v, "reads": r} for w, v, r in xs]
                                           for c, xs in found.items()}, "dynamodb": dynamodb})


def consistent_reads(ctx: Context) -> dict[str, Any]:
    """DynamoDB's half: the seed's variants (GetItem) and patients (Query) read with ConsistentRead false
    and true, and the read units billed for each (the requests' consumed capacity, via explain).
    Returns {"rows", "notes", "takeaway", "options"}; a DynamoDB that does not answer is a note."""
    from backends.kv.settings import DynamoDBSettings
    from bench.demos.common import ensure_loaded, try_open

    try:
        base = DynamoDBSettings.from_env()
    except MMBenchError as exc:
        return {"rows": [], "notes": [f"DynamoDB ConsistentRead not measured: {exc}"], "takeaway": "", "options": {}}
    sides = {}
    for consistent in (False, True):
        backend, why = try_open(ctx, "dynamodb", base.model_copy(update={"consistent_read": consistent}))
        if backend is None:
            return {"rows": [], "notes": [f"DynamoDB ConsistentRead not measured: {why}"], "takeaway": "", "options": {}}
        sides[consistent] = backend
    seed = seed_dataset()
    loaded = ensure_loaded(ctx, sides[False], seed)
    info = sides[False].engine_info()
    reads = ((Q.VARIANT_BY_ID, "GetItem", [{"variant_id": v.variant_id} for v in seed.variants()]),
             (Q.PATIENT_BY_ID, "Query", [{"patient_id": p.patient_id} for p in seed.patients()]))
    rows: list[dict[str, Any]] = []
    for q, request, params in reads:
        for consistent, backend in sides.items():
            ctx.say(f"dynamodb: {q.value} x{len(params)} with ConsistentRead {str(consistent).lower()}")
            with ctx.namespaced():
                explained = [backend.explain(q, p) for p in params]
            sent = [json.loads(s.text.partition(" ")[2] or "{}") for e in explained for s in e.statements]
            rcu = sum(e.work.cost.get("rcu", 0.0) for e in explained)
            rows.append({"query": q.value, "request": request, "ConsistentRead": consistent, "reads": len(params),
                         "items read": sum(e.work.examined or 0 for e in explained), "rcu": rcu,
                         "rcu per read": round(rcu / len(params), 3),
                         "sent with ConsistentRead": sum(1 for r in sent if r.get("ConsistentRead"))})
    by = {(r["query"], r["ConsistentRead"]): r for r in rows}
    said = []
    for q, request, params in reads:
        eventual, strong = by[(q.value, False)], by[(q.value, True)]
        said.append(f"{len(params)} {q.value} reads ({request}, {eventual['items read']} items) were billed "
                    f"{eventual['rcu']:g} read units eventually consistent and {strong['rcu']:g} with ConsistentRead "
                    f"({eventual['rcu per read']:g} vs {strong['rcu per read']:g} per read)")
    emulated = (f" on {info.product} {info.version}, an emulator that is always consistent, so only the billing differs "
                "here (stale reads need Amazon DynamoDB)" if info.emulator else "")
    takeaway = f"DynamoDB{emulated}: " + "; ".join(said) + "."
    notes = [(f"DynamoDB ConsistentRead: {loaded}; each read explained with ConsistentRead false and true "
             "(MMBENCH_DYNAMODB_CONSISTENT_READ); a read request is billed its items' size rounded up to 4 KB, half a "
             "unit per 4 KB eventually consistent, one strongly consistent")]
    return {"rows": rows, "notes": notes, "takeaway": takeaway, "emulator": info.emulator,
            "options": {f"ConsistentRead {str(c).lower()}": dict(b.engine_info().options) for c, b in sides.items()}}


def _local_replica() -> list[str]:
    """Refuse to run without the local replica; notes about how it replicates."""
    from bench.engines.postgres import Replica

    replica = Replica()
    status = replica.status()
    if not status.up:
        raise MMBenchError(f"demo staleness needs the PostgreSQL replica on {replica.address}, which does not answer: "
                           "start it with `mmbench up postgres --replica` (a copy of the local PostgreSQL, seconds)")
    state = replica.sync_state()
    if state != "sync":
        return [(f"the replica is not the primary's synchronous standby (the primary sees it as {state or 'absent'}): "
                "synchronous_commit on and remote_apply wait for nothing here; restart it with "
                "MMBENCH_POSTGRES_REPLICATION=sync (mmbench down postgres; mmbench up postgres --replica)")]
    return []


def _sample(backend: Any, diagnosis_id: int, patient_id: int) -> tuple[int, int | None, int]:
    """Write one diagnosis on the primary, read its patient on the replica until it shows."""
    def fresh(record: Any) -> bool:
        return record is not None and any(d.diagnosis_id == diagnosis_id for d in record.diagnoses)

    return write_then_read(
        (backend.add_diagnosis, {"diagnosis_id": diagnosis_id, "patient_id": patient_id, "code": CODE,
                                 "diagnosed_on": dt.date(2024, 1, 1)}),
        (backend.patient_by_id, {"patient_id": patient_id}), fresh, TIMEOUT_S)


def measured_from(label: str, samples_ns: list[int]) -> Measured:
    """Latencies taken in order, as ROUNDS consecutive rounds (the rounds carry the drift)."""
    n = len(samples_ns)
    rounds = [Latencies.from_ns(samples_ns[k * n // ROUNDS:(k + 1) * n // ROUNDS]) for k in range(ROUNDS)]
    buckets = [Buckets.of(r.hist) for r in rounds]
    lo, hi = interval(replicates(buckets, 50, rng_for(label, "postgres")))
    return Measured(label, "postgres", estimate(buckets, 50), lo, hi, estimate(buckets, 99), n, _rounds=buckets)


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% interval of a proportion k/n (Wilson's score interval: sound at 0 and at n)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _row(label: str, commit: str, xs: list[tuple[int, int | None, int]]) -> tuple[dict[str, Any], Measured]:
    writes = [w for w, _, _ in xs]
    seen = Latencies.from_ns([v for _, v, _ in xs if v is not None]).summary()
    stale = sum(1 for _, _, reads in xs if reads > 1)
    lo, hi = wilson(stale, len(xs))
    m = measured_from(f"write {commit}", writes)
    write = Latencies.from_ns(writes).summary()
    return {
        "replication": label, "synchronous_commit": commit, "writes": len(xs), "stale reads": stale,
        "stale %": round(100 * stale / len(xs), 1), "95% interval": f"{100 * lo:.1f}–{100 * hi:.1f}%",
        "write p50 µs": round(m.p50_us, 1), "write p99 µs": round(write["p99_us"], 1),
        "seen after p50 µs": round(seen["p50_us"], 1), "seen after p90 µs": round(seen["p90_us"], 1),
        "p99 µs": round(seen["p99_us"], 1), "max µs": round(seen["max_us"], 1),
        "never seen": sum(1 for _, v, _ in xs if v is None),
    }, m


def _takeaway(rows: list[dict[str, Any]], measured: dict[str, Measured]) -> str:
    by = {r["synchronous_commit"]: r for r in rows}
    a, on, apply_ = by["local"], by["on"], by["remote_apply"]

    def stale(r: dict[str, Any]) -> str:
        return f"{r['stale reads']} of {r['writes']} reads ({r['stale %']:g}%, 95% interval {r['95% interval']})"

    parts = [(f"Asynchronous: {stale(a)} on the replica right after the commit missed the write; a reader had seen it "
              f"{a['seen after p50 µs']:,.0f} µs after the commit returned at the median, {a['max µs']:,.0f} µs at worst.")]
    parts.append(f"Synchronous with synchronous_commit=on (the replica has the WAL on disk, not yet applied): {stale(on)} "
                 "missed it" + (" — synchronous replication alone does not make the replica's reads fresh."
                                if on["stale reads"] else "."))
    parts.append(f"remote_apply: {stale(apply_)} missed it" + (
        " — every read saw the write." if apply_["stale reads"] == 0 else
        " — not zero: is the replica the primary's synchronous standby? (see the notes)"))
    cost = compared("a write under remote_apply", "an asynchronous write",
                    measured["remote_apply"].versus(measured["local"]))
    parts.append(f"What the writer pays for it: {cost}; p50 {apply_['write p50 µs']:,.0f} µs against "
                 f"{a['write p50 µs']:,.0f} µs.")
    return " ".join(parts)


def _plot(ctx: Context, found: dict[str, list[tuple[int, int | None, int]]]) -> str | None:
    path = ctx.plot_path("lag")
    if path is None:
        return None
    import numpy as np

    from bench.report import _log_axis, _pyplot, fmt_tick_us

    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    for label, commit in MODES:
        xs = found[commit]
        for axis, values in ((left, [v for _, v, _ in xs if v is not None]), (right, [w for w, _, _ in xs])):
            us = np.sort(np.asarray(values, dtype=float) / 1000)
            if us.size:
                axis.step(us, np.arange(1, us.size + 1) / us.size, where="post", label=f"{label}")
    for axis, title in ((left, "after the commit returned, a reader on the replica saw it after"),
                        (right, "the commit took")):
        axis.set_xscale("log")
        _log_axis(axis.xaxis, fmt_tick_us)
        axis.set_ylabel("share of samples")
        axis.set_title(title)
    left.legend(loc="lower right", fontsize=8)
    fig.suptitle("PostgreSQL replica: staleness and its price")
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)
    return str(path)


DEMO = Staleness
