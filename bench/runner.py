"""The orchestration of a run: load every backend, then measure every phase in rounds.

Per data set: every backend is loaded (a timed, atomic replace: `bench.loading`), or with
`--no-load` asked what it holds. Then the phase groups run in order — the read queries, the
write queries, the workloads — so reads always see exactly the loaded data set. Each group
runs `--repeat` rounds; a round measures every backend once, in an order shuffled with the
run's seed, so the machine's drift is spread over all of them (A B C, B C A, ...).

One phase on one backend in one round: explain its first question (round 1, untimed), verify
it (`--verify`, round 1), then warm up and time it (`bench.timing`), in this process or in
the backend's worker pool (`bench.pool`). The engine's CPU time is read around it (psutil, for
engines `mmbench up` started), the workers read their own. After the last round, each
(backend, data set, phase) becomes one results entry: the rounds, their merged histogram,
and the uncertainty of p50 / p99 with the verdict against the fastest backend
(`bench.uncertainty`).

Failures: three consecutive errors abort a phase (recorded `failed`); then a cheap read probes
the backend, and if it does not answer, its remaining phases are `failed` with that error
while the other backends go on. Ctrl-C stops the run; what was measured so far is returned
(and written by the caller), and a load it interrupted is recorded as interrupted.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from backends import REGISTRY, open_backend
from backends.base import Backend, NotLoaded, Tier, run_query
from bench.datasets import make_dataset
from bench.loading import timed_load
from bench.pool import WorkerPool
from bench.results import ResultsDoc
from bench.schema import PhaseResult
from bench.settings import PhaseSpec, RunSettings, shuffled
from bench.stats import Latencies
from bench.timing import Outcome, first_line, measure, wall_clock
from bench.uncertainty import Buckets, estimate, interval, ratio, replicates, rng_for, samples_beyond
from bench.verify import verify
from bench.workloads import OPERATIONS, Phase, Workload, phase_by_name
from models.catalog import CATALOG, Q
from models.dataset import Dataset, MemoryDataset
from models.errors import UsageError
from models.reference import Reference
from models.sampling import SampleSource

MATERIALIZE_MAX_SCALE = 5       # synthetic data sets up to this scale are generated once and kept
EXPLAIN_SAMPLES = 3             # questions explained per query phase for the engine's server time

__all__ = ["MATERIALIZE_MAX_SCALE", "PhaseSpec", "Prepared", "RunSettings", "Runner", "Stop", "Target",
           "combine", "default_targets", "phase_seed", "phase_tier", "prepare_dataset"]


# ---------------------------------------------------------------- targets and data sets

@dataclass(frozen=True)
class Target:
    """A backend to measure: its name and how to connect (picklable, for worker processes)."""

    name: str
    factory: Callable[[], Backend]
    requested: bool = True  # asked for by name: an unreachable engine is a failure, not a skip

    @classmethod
    def registered(cls, name: str, requested: bool = True) -> Target:
        return cls(name, partial(open_backend, name), requested)


def default_targets() -> list[Target]:
    """sqlite, then every registered server backend (those that do not answer are skipped)."""
    return [Target.registered(name, requested=not reg.server) for name, reg in REGISTRY.items()]


@dataclass
class Prepared:
    """A data set ready for every backend: the data, its parameter source, its description."""

    key: str
    data: Dataset
    source: SampleSource
    describe: dict[str, Any]
    _memory: MemoryDataset | None = None

    def reference(self) -> Reference:
        """A fresh oracle holding the data set (fresh: write verification mutates it)."""
        if self._memory is None:
            self._memory = self.data if isinstance(self.data, MemoryDataset) else self.data.materialize()
        return Reference(self._memory)


def prepare_dataset(name: str, scale: int, seed: int) -> Prepared:
    data = make_dataset(name, scale=scale, seed=seed)
    if not isinstance(data, MemoryDataset) and scale <= MATERIALIZE_MAX_SCALE:
        data = data.materialize()
    synthetic = name == "synthetic"
    describe = {**data.describe(), "scale": scale if synthetic else None, "seed": seed if synthetic else None}
    return Prepared(name, data, SampleSource.from_dataset(data, seed), describe)


def phase_seed(seed: int, dataset_key: str, phase: str) -> str:
    """The seed of a phase's parameter stream: the same questions on every backend and run."""
    return f"{seed}:{dataset_key}:{phase}"


def phase_tier(backend: type[Backend] | Backend, phase: Phase) -> Tier:
    """client if any query the phase calls is answered client-side on this backend."""
    return Tier.CLIENT if any(backend.tier(q) is Tier.CLIENT for q in phase.queries) else Tier.NATIVE


# ---------------------------------------------------------------- combining outcomes

def combine(phase: Phase, outcomes: list[Outcome], tier: Tier) -> dict[str, Any]:
    """One round's results from the workers' outcomes: merged histograms and statistics."""
    per_label = [Latencies.merged(Latencies.from_wire(o.labels[k]) for o in outcomes) for k in range(len(phase.labels))]
    total = Latencies.merged(per_label)
    states = {o.state for o in outcomes}
    state = "failed" if "failed" in states else "interrupted" if "interrupted" in states else "ok"
    lost = [o.error for o in outcomes if o.lost]
    errors_by_worker = [o.error for o in outcomes if o.error]
    real = lost or [e for e in errors_by_worker if e != "another worker failed"]
    elapsed = max((o.elapsed_ns for o in outcomes), default=0) / 1e9
    cost: dict[str, float] = {}
    for o in outcomes:
        for k, v in (o.cost or {}).items():
            cost[k] = cost.get(k, 0.0) + v
    service = None
    if outcomes and outcomes[0].service is not None:
        service = Latencies.merged(Latencies.from_wire(o.service) for o in outcomes if o.service is not None)
    return {"status": state, "error": (real or errors_by_worker or [None])[0], "tier": tier.value,
            "ops": total.count, "errors": sum(o.errors for o in outcomes), "elapsed_s": elapsed,
            "total": total, "per_label": per_label, "service": service, "cost": cost,
            "cpu_ns": sum(o.cpu_ns for o in outcomes)}


# ---------------------------------------------------------------- CPU of the local engine

def engine_process(name: str, address: str) -> tuple[Any, str | None]:
    """(the psutil process of the local engine serving backend `name`, None) — or (None, why not)."""
    reg = REGISTRY.get(name.removesuffix("+api"))
    if reg is None or reg.engine is None:
        return None, "embedded: the engine runs in the client process, whose CPU includes it"
    try:
        import psutil

        from bench.engines import get_engine

        engine = get_engine(reg.engine)
        pid = engine.pid()
        if pid is None or f":{engine.port}" not in address:
            return None, f"the engine at {address} was not started here by `mmbench up`"
        return psutil.Process(pid), None
    except Exception as exc:  # noqa: BLE001 - CPU accounting must never fail a run
        return None, f"cannot read the engine's CPU time ({first_line(exc)})"


def tree_cpu_s(proc: Any) -> float | None:
    """CPU seconds of a process and its children (PostgreSQL serves each connection in a child)."""
    try:
        total = sum(proc.cpu_times()[:2])
        for child in proc.children(recursive=True):
            try:
                total += sum(child.cpu_times()[:2])
            except Exception:  # noqa: BLE001 - a child may exit meanwhile
                pass
        return total
    except Exception:  # noqa: BLE001
        return None


# ---------------------------------------------------------------- the run

class Stop(Exception):
    """Ctrl-C: stop the run, keep what was measured."""


Say = Callable[[str], None]
Tick = Callable[[int, str], None]


def _quiet(*_: Any) -> None:
    """Say nothing."""


@dataclass
class Slot:
    """One backend during a run: its connection, worker pool and state."""

    target: Target
    backend: Backend
    info: Any
    pool: WorkerPool | None = None
    dead: str | None = None        # why the backend stopped answering, once it has
    unusable: str | None = None    # why the current data set's phases cannot run on it
    engine: Any = None             # psutil process of its local engine, if any
    engine_reason: str | None = None

    @property
    def name(self) -> str:
        return self.target.name


@dataclass
class Acc:
    """The rounds of one (backend, data set, phase), accumulated until the last round."""

    entry: dict[str, Any]
    rounds: list[dict[str, Any]] = field(default_factory=list)
    totals: list[Latencies] = field(default_factory=list)
    labels: list[Latencies] | None = None
    service: Latencies | None = None
    cost: dict[str, float] = field(default_factory=dict)
    client_cpu_ns: int = 0
    server_cpu_s: float | None = 0.0


class Runner:
    """Runs the comparison and fills a ResultsDoc; `run()` returns it (also after Ctrl-C)."""

    def __init__(self, settings: RunSettings, targets: list[Target], *, say: Say = _quiet,
                 after_phase: Callable[[dict[str, Any]], None] | None = None, tick: Tick = _quiet) -> None:
        self.settings, self.targets, self.say, self.tick = settings, targets, say, tick
        self.after_phase = after_phase or _quiet
        self.doc = ResultsDoc(settings.to_dict())
        self.prepared: dict[str, Prepared] = {}
        self.slots: list[Slot] = []
        self.acc: dict[tuple[str, str, str], Acc] = {}

    def total_steps(self) -> int:
        """Progress steps of the whole run: a load per (data set, backend), then every phase of
        every round on every backend."""
        s = self.settings
        per_dataset = len(self.targets) * (1 + s.repeat * len(s.phases()))
        return len(s.datasets) * per_dataset

    def run(self) -> ResultsDoc:
        interrupted = False
        try:
            for key in self.settings.datasets:
                self.say(f"preparing data set {key}")
                self.prepared[key] = p = prepare_dataset(key, self.settings.scale, self.settings.seed)
                self.doc.data["datasets"][key] = {**p.describe, "rows": None}
            gc.collect()
            gc.freeze()  # the data sets held here stay out of every later garbage collection
            self.slots = [s for s in (self._open(t) for t in self.targets) if s is not None]
            for prepared in self.prepared.values():
                self._run_dataset(prepared)
        except (KeyboardInterrupt, Stop):
            interrupted = True
            self.say("interrupted: writing what was measured so far")
        finally:
            gc.unfreeze()
            for slot in self.slots:
                self._close(slot)
        self._finish_all()
        self.doc.finish(interrupted)
        return self.doc

    # -- backends

    def _open(self, target: Target) -> Slot | None:
        entry = self.doc.backend(target.name)
        entry["requested"] = target.requested
        reg = REGISTRY.get(target.name.removesuffix("+api"))  # `<backend>+api`: the backend through the HTTP API
        entry["model"] = reg.model if reg else None
        entry["design"] = reg.design if reg else None
        backend = None
        try:
            backend = target.factory()
            info = backend.engine_info()
        except Exception as exc:  # noqa: BLE001 - EngineUnavailable, DriverMissing, or a driver error
            if backend is not None:
                backend.close()
            entry.update(status="unavailable", error=first_line(exc))
            self.say(f"{target.name}: skipped: {first_line(exc)}")
            self.tick(len(self.prepared) * (1 + self.settings.repeat * len(self.settings.phases())), "")
            return None
        entry["engine"] = {"product": info.product, "version": info.version, "emulator": info.emulator,
                           "address": info.address, "options": dict(info.options),
                           "differences": list(info.differences)}
        entry["driver"] = info.driver
        engine, why = engine_process(target.name, info.address)
        return Slot(target, backend, info, engine=engine, engine_reason=why)

    def _close(self, slot: Slot) -> None:
        if slot.pool is not None:
            slot.pool.close()
            slot.pool = None
        try:
            slot.backend.close()
        except Exception:  # noqa: BLE001 - the engine may be gone
            pass

    def _fail_backend(self, slot: Slot, why: str) -> None:
        slot.dead = slot.unusable = why
        self.doc.backend(slot.name).update(status="failed", error=why)
        self.say(f"  {why}")

    # -- one data set

    def _run_dataset(self, prepared: Prepared) -> None:
        s = self.settings
        for slot in self.slots:
            slot.unusable = slot.dead or (self._load(slot, prepared) if s.load else self._check_holdings(slot, prepared))
            self.tick(1, f"{slot.name} · {prepared.key} · load")
        references = {slot.name: prepared.reference() if s.verify and slot.unusable is None else None
                      for slot in self.slots}
        next_base = 0
        for group in s.phase_groups():
            bases: dict[str, int] = {}
            for phase in group:
                bases[phase.name] = next_base
                if phase.writes:
                    next_base += s.repeat * (1 + s.warmup + s.ops_cap)
            for round_no in range(1, s.repeat + 1):
                for position, slot in enumerate(shuffled(self.slots, s.seed, round_no)):
                    for phase in group:
                        base = bases[phase.name] + (round_no - 1) * (1 + s.warmup + s.ops_cap)
                        spec = PhaseSpec(phase, prepared.source, phase_seed(s.seed, prepared.key, phase.name), base,
                                         s.warmup, s.ops_cap, s.time_cap_s, s.rate, s.workers, s.keys)
                        self._phase_round(slot, prepared, spec, round_no, position, references[slot.name])
                        self.tick(1, f"{slot.name} · {prepared.key} · {phase.name} · round {round_no}/{s.repeat}")
        for slot in self.slots:
            for phase in s.phases():
                self._finish(slot.name, prepared.key, phase)

    def _load(self, slot: Slot, prepared: Prepared) -> str | None:
        """Load (an atomic replace); None on success, else why this data set cannot be measured."""
        entry = self.doc.backend(slot.name)
        self.say(f"{slot.name} · {prepared.key} · load")
        try:
            timing = timed_load(slot.backend, prepared.data, batch_size=self.settings.batch_size)
        except KeyboardInterrupt:
            entry["loads"][prepared.key] = {"status": "interrupted", "error": "interrupted during the load"}
            entry.update(status="failed", error=f"load of {prepared.key} interrupted (the data held before is kept)")
            raise Stop from None
        except Exception as exc:  # noqa: BLE001
            why = f"load of {prepared.key} failed: {first_line(exc)}"
            entry["loads"][prepared.key] = {"status": "failed", "error": first_line(exc)}
            entry.update(status="failed", error=why)
            self.say(f"  {why}")
            return why
        entry["loads"][prepared.key] = {"status": "ok", **timing.to_dict()}
        self.doc.data["datasets"][prepared.key]["rows"] = {k: v.rows for k, v in timing.kinds.items()}
        return None

    def _check_holdings(self, slot: Slot, prepared: Prepared) -> str | None:
        """--no-load: measure what the backend holds, if it is the data set asked for."""
        entry = self.doc.backend(slot.name)
        entry["loads"][prepared.key] = {"status": "not loaded"}
        try:
            held = slot.backend.holdings()
        except NotLoaded as exc:
            why = str(exc)
        except Exception as exc:  # noqa: BLE001
            why = f"cannot ask what it holds: {first_line(exc)}"
        else:
            want = prepared.describe
            entry["holdings"] = held.to_dict() if held else None
            if held is None:
                why = "it records no data set (reset, or loaded by an older mmbench): load it once"
            elif (held.dataset, held.scale or None, held.seed if held.dataset == "synthetic" else None) != (
                    want.get("name"), want.get("scale"), want.get("seed")):
                why = f"--no-load: it holds {held.describe()}, not the data set asked for"
            else:
                if held.writes_since:
                    self.say(f"  {slot.name} holds {held.describe()}")
                return None
        entry.update(status="failed", error=why)
        self.say(f"{slot.name}: {why}")
        return why

    # -- one phase on one backend in one round

    def _phase_round(self, slot: Slot, prepared: Prepared, spec: PhaseSpec, round_no: int, position: int,
                     reference: Reference | None) -> None:
        phase = spec.phase
        key = (slot.name, prepared.key, phase.name)
        acc = self.acc.get(key)
        if acc is None:
            acc = self.acc[key] = Acc({"backend": slot.name, "dataset": prepared.key, "phase": phase.name,
                                       "kind": phase.kind, "queries": [q.value for q in phase.queries],
                                       "tier": phase_tier(type(slot.backend), phase).value, "status": "ok",
                                       "error": None, "verified": None, "verify_error": None, "wall_s": 0.0})
        entry = acc.entry
        if entry["status"] in ("failed", "skipped"):
            return
        if slot.unusable is not None:
            entry.update(status="failed", error=slot.unusable)
            return
        started = wall_clock()
        try:
            try:
                first = spec.first_op()
            except UsageError as exc:  # e.g. no diagnoses in a VCF-only data set: nothing to ask
                entry.update(status="skipped", error=f"not applicable to {prepared.key}: {exc}")
                return
            self.say(f"{slot.name} · {prepared.key} · {phase.name}" + (f" · round {round_no}" if self.settings.repeat > 1 else ""))
            if round_no == 1 and phase.kind == "query":
                if self.settings.explain:
                    self._explain(slot, spec, entry)
                if reference is not None and not self._verify(slot.backend, reference, Q(phase.name), first.params, entry):
                    return
            cpu0 = tree_cpu_s(slot.engine) if slot.engine is not None else None
            outcomes = self._measure(slot, spec)
            cpu1 = tree_cpu_s(slot.engine) if slot.engine is not None else None
        except KeyboardInterrupt:
            entry.update(status="interrupted")
            raise Stop from None
        finally:
            entry["wall_s"] += wall_clock() - started
        if outcomes is None:
            entry.update(status="failed", error=slot.unusable)
            return
        got = combine(phase, outcomes, phase_tier(type(slot.backend), phase))
        self._add_round(acc, got, round_no, position, None if cpu0 is None or cpu1 is None else cpu1 - cpu0)
        self._report_round(slot, entry, got, round_no)
        if got["status"] == "interrupted":
            entry["status"] = "interrupted"
            raise Stop
        if got["status"] == "failed":
            entry.update(status="failed", error=got["error"])
            if slot.unusable is None:
                self._probe(slot, prepared, entry)
        elif phase.writes and got["ops"]:
            self._record_writes(slot, spec, got)

    def _measure(self, slot: Slot, spec: PhaseSpec) -> list[Outcome] | None:
        if self.settings.workers == 1:
            return [measure(slot.backend, spec)]
        if slot.pool is None or not slot.pool.healthy:
            if slot.pool is not None:
                slot.pool.close()
            slot.pool = None
            try:
                slot.pool = WorkerPool(slot.target.factory, self.settings.workers)
            except Exception as exc:  # noqa: BLE001 - a worker could not connect, or died starting
                self._fail_backend(slot, f"{slot.name}: workers could not start: {first_line(exc)}")
                return None
        return slot.pool.measure(spec)

    def _add_round(self, acc: Acc, got: dict[str, Any], round_no: int, position: int,
                   server_cpu_s: float | None) -> None:
        total: Latencies = got["total"]
        pct = total.percentiles_ns()
        acc.rounds.append({"round": round_no, "position": position, "ops": got["ops"], "errors": got["errors"],
                           "elapsed_s": got["elapsed_s"],
                           "ops_per_s": got["ops"] / got["elapsed_s"] if got["elapsed_s"] > 0 else 0.0,
                           "p50_us": pct["p50"] / 1000, "p99_us": pct["p99"] / 1000,
                           "histogram": total.encode() if total.count else None})
        acc.totals.append(total)
        if acc.labels is None:
            acc.labels = got["per_label"]
        else:
            for mine, theirs in zip(acc.labels, got["per_label"], strict=True):
                mine.merge(theirs)
        if got["service"] is not None:
            acc.service = acc.service or Latencies()
            acc.service.merge(got["service"])
        for k, v in got["cost"].items():
            acc.cost[k] = acc.cost.get(k, 0.0) + v
        acc.client_cpu_ns += got["cpu_ns"]
        acc.server_cpu_s = None if acc.server_cpu_s is None or server_cpu_s is None else acc.server_cpu_s + server_cpu_s
        if acc.entry["status"] == "ok" and got["error"] and not acc.entry.get("error"):
            acc.entry["error"] = got["error"]

    def _report_round(self, slot: Slot, entry: dict[str, Any], got: dict[str, Any], round_no: int) -> None:
        if got["status"] == "ok":
            pct = got["total"].percentiles_ns()
            rate = got["ops"] / got["elapsed_s"] if got["elapsed_s"] > 0 else 0.0
            self.say(f"  {got['ops']:,} ops, p50 {pct['p50'] / 1000:,.1f} µs, p99 {pct['p99'] / 1000:,.1f} µs, "
                     f"{rate:,.0f} ops/s" + (f", {got['errors']} errors" if got["errors"] else ""))
        elif got["status"] == "interrupted":
            self.say(f"  interrupted after {got['ops']:,} timed operations")
        else:
            self.say(f"  {got['status']}: {got['error']}")
        self.after_phase({**entry, "round": round_no, "status": got["status"]})

    def _record_writes(self, slot: Slot, spec: PhaseSpec, got: dict[str, Any]) -> None:
        """Tell the backend how many writes this round added (so `status` can say the data grew)."""
        phase = spec.phase
        if isinstance(phase, Workload):
            writes = sum(lat.count for label, lat in zip(phase.labels, got["per_label"], strict=True)
                         if any(CATALOG[q].is_write for q in OPERATIONS[label]))
        else:
            writes = got["ops"] + spec.warmup
        try:
            slot.backend.record_writes(writes)
        except Exception as exc:  # noqa: BLE001 - bookkeeping must not fail the measurement
            self.say(f"  {slot.name}: could not record the writes ({first_line(exc)})")

    def _explain(self, slot: Slot, spec: PhaseSpec, entry: dict[str, Any]) -> None:
        """Explain the phase's first questions (untimed): the first one goes into the results,
        all of them give the engine's own execution time (`server`)."""
        query = spec.phase.name
        server: list[float] = []
        stream = spec.phase.ops(spec.source, spec.seed, spec.base_index, spec.keys)
        for i in range(EXPLAIN_SAMPLES):
            try:
                e = slot.backend.explain(query, next(stream).params)
            except Exception as exc:  # noqa: BLE001 - an explanation must never fail the measurement
                entry.setdefault("explain_error", first_line(exc))
                break
            if i == 0:
                entry["explain"] = e.to_dict()
            if e.server_us is not None:
                server.append(e.server_us)
        if "explain" in entry:
            reason = None if server else (entry["explain"]["work"]["reasons"].get("server_us")
                                          or f"{slot.info.product} reports no execution time of its own")
            entry["server"] = {"samples": len(server), "server_us": sorted(server)[len(server) // 2] if server else None,
                               "reason": reason}

    def _verify(self, backend: Backend, reference: Reference, query: Q, params: dict[str, Any],
                entry: dict[str, Any]) -> bool:
        """Check position 0 against the reference; False if it could not even be asked."""
        try:
            problem = verify(backend, reference, query, params)
        except Exception as exc:  # noqa: BLE001
            entry.update(verified=False, status="failed", error=f"verification: {first_line(exc)}")
            return False
        entry.update(verified=problem is None, verify_error=problem)
        if problem:
            self.say(f"  wrong answer: {problem}")
        return True

    def _probe(self, slot: Slot, prepared: Prepared, entry: dict[str, Any]) -> None:
        """After a failed phase: does the backend still answer a simple read? If not, it is dead."""
        try:
            run_query(slot.backend, Q.PATIENT_BY_ID, {"patient_id": next(iter(prepared.source.patient_ids), 0)})
        except Exception as exc:  # noqa: BLE001
            self._fail_backend(slot, f"{slot.name} stopped answering after {entry['phase']}: {first_line(exc)}")

    # -- the results entries

    def _finish(self, backend: str, dataset: str, phase: Phase) -> None:
        acc = self.acc.get((backend, dataset, phase.name))
        if acc is None or acc.entry.get("_done"):
            return
        entry = acc.entry
        entry["_done"] = True
        total = Latencies.merged(acc.totals)
        elapsed = sum(r["elapsed_s"] for r in acc.rounds)
        entry.update(ops=total.count, errors=sum(r["errors"] for r in acc.rounds), elapsed_s=elapsed,
                     ops_per_s=total.count / elapsed if elapsed > 0 else 0.0, rounds=acc.rounds)
        if total.count:
            entry.update(latency=total.summary(), histogram=total.encode())
        if acc.service is not None and acc.service.count:
            entry.update(service_time=acc.service.summary(), service_histogram=acc.service.encode())
        if isinstance(phase, Workload) and acc.labels is not None:
            entry["operations"] = {label: {"queries": [q.value for q in OPERATIONS[label]], "ops": lat.count,
                                           "latency": lat.summary(), "histogram": lat.encode()}
                                   for label, lat in zip(phase.labels, acc.labels, strict=True) if lat.count}
        if acc.cost:
            entry["cost"] = {"total": acc.cost,
                             "per_op": {k: v / total.count for k, v in acc.cost.items()} if total.count else {}}
        if total.count:
            entry["cpu"] = self._cpu(backend, acc, total.count, entry["wall_s"])

    def _cpu(self, backend: str, acc: Acc, ops: int, wall_s: float) -> dict[str, Any]:
        """Client and server CPU per operation; client-bound when the client used more CPU than
        the engine, or more than the cores allow (it then measured itself, not the engine)."""
        slot = next((s for s in self.slots if s.name == backend), None)
        client = acc.client_cpu_ns / 1000 / ops if acc.client_cpu_ns else None
        server = acc.server_cpu_s * 1e6 / ops if acc.server_cpu_s is not None and slot and slot.engine else None
        reason = None if server is not None else (slot.engine_reason if slot else "backend closed")
        cores = os.cpu_count() or 1
        busy = acc.client_cpu_ns / 1e9 / wall_s if wall_s > 0 else 0.0
        bound = (client is not None and server is not None and client > server) or busy > cores * 0.9
        return {"client_us_per_op": client, "server_us_per_op": server, "server_reason": reason, "cores": cores,
                "client_bound": bound}

    def _finish_all(self) -> None:
        """Every accumulated phase becomes a validated results entry, with its uncertainty."""
        for (backend, dataset, phase), acc in self.acc.items():
            if not acc.entry.get("_done"):  # interrupted before its data set ended
                self._finish(backend, dataset, phase_by_name(phase))
        by_cell: dict[tuple[str, str], list[Acc]] = {}
        for (_, dataset, phase), acc in self.acc.items():
            by_cell.setdefault((dataset, phase), []).append(acc)
        for (dataset, phase), accs in by_cell.items():
            self._uncertainty(dataset, phase, accs)
        for acc in self.acc.values():
            entry = {k: v for k, v in acc.entry.items() if not k.startswith("_")}
            self.doc.results.append(PhaseResult.model_validate(entry).model_dump(mode="json"))

    def _uncertainty(self, dataset: str, phase: str, accs: list[Acc]) -> None:
        """Per backend: median of the rounds' p50/p99 with 95% intervals, and the ratio to the
        fastest (a backend known to answer wrongly is never the baseline)."""
        reps: dict[str, tuple[np.ndarray, np.ndarray, float]] = {}
        for acc in accs:
            e = acc.entry
            if e["status"] != "ok" or not acc.totals or not any(t.count for t in acc.totals):
                continue
            buckets = [Buckets.of(t.hist) for t in acc.totals if t.count]
            rng = rng_for(self.settings.seed, dataset, phase, e["backend"])
            p50 = replicates(buckets, 50, rng)
            p99 = replicates(buckets, 99, rng)
            point50, point99 = estimate(buckets, 50), estimate(buckets, 99)
            lo50, hi50 = interval(p50)
            lo99, hi99 = interval(p99)
            n = sum(t.count for t in acc.totals)
            e["stats"] = {"rounds": len(buckets),
                          "method": "hierarchical bootstrap (rounds, then latencies within each round), "
                                    f"{len(p50)} replicates, 95% percentile interval",
                          "p50_us": {"value": point50, "lo": lo50, "hi": hi50},
                          "p99_us": {"value": point99, "lo": lo99, "hi": hi99},
                          "p99_samples_beyond": samples_beyond(n, 99)}
            if e.get("verified") is not False:
                reps[e["backend"]] = (p50, p99, point50)
        if not reps:
            return
        fastest = min(reps, key=lambda b: reps[b][2])
        f50, _, fpoint = reps[fastest]
        for acc in accs:
            e = acc.entry
            if e.get("stats") and e["backend"] in reps:
                p50, _, point = reps[e["backend"]]
                e["stats"]["vs_fastest"] = ratio(p50, f50, point / fpoint if fpoint else float("nan"))
            elif e.get("stats"):  # a wrong answer: compared, but never the baseline
                buckets = [Buckets.of(t.hist) for t in acc.totals if t.count]
                p50 = replicates(buckets, 50, rng_for(self.settings.seed, dataset, phase, e["backend"], "wrong"))
                e["stats"]["vs_fastest"] = ratio(p50, f50, estimate(buckets, 50) / fpoint if fpoint else float("nan"))

