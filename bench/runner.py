"""The runner: load each backend, then warm up and time every phase (a query or a workload).

For each backend, for each data set: `reset()`, a timed load (`bench.loading.timed_load`),
then the phases in a fixed order: the read queries, then the write queries, then the mixed
workloads. Reads therefore measure exactly the loaded data set; writes and workloads then
run on data that the earlier writes grew by the same operations on every backend.

A phase (see `bench.workloads`) is a deterministic stream of operations. Position 0 is the
one `--verify` checks against the reference; the next `warmup` positions warm up; the next
`ops` are timed. With `--workers N`, N processes (each with its own connection) take
positions round-robin and start the timed part together (a barrier); their histograms merge.
Every write takes its fresh ids from its position, so nothing collides across workers.

The timed loop is kept tight: operations are built and their methods looked up before
timing, each latency is one `perf_counter_ns` difference appended to an array, and the
array goes into the HdrHistogram after the loop. Closed loop (default): the next operation
starts when the previous one ends. Open loop (`--rate R`): operation i is due at
start + i/R whatever happened before; its latency is measured from that due time, so an
engine that stalls is charged for the queue it causes (no coordinated omission). The time
spent serving each operation is kept too (`service_time`). The data sets the runner holds are
frozen out of the garbage collector (`gc.freeze`), so its full collections do not scan them
while timing.

Failures: three consecutive errors abort a phase (recorded `failed` with the error); then a
cheap read probes the backend, and if it does not answer, its remaining phases are recorded
`failed` with that error while the other backends go on. Ctrl-C stops the run; what was
measured so far is returned (and written by the caller).
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from functools import partial
from itertools import islice
from multiprocessing.connection import Connection, wait
from typing import Any

from backends import REGISTRY, open_backend
from backends.base import Backend, BackendError, Tier, run_query
from bench.datasets import make_dataset
from bench.loading import timed_load
from bench.results import ResultsDoc
from bench.stats import Latencies
from bench.workloads import OPERATIONS, QUERY_PHASES, WORKLOADS, Op, Phase, Workload, bind
from models.catalog import CATALOG, READS, WRITES, Q
from models.dataset import Dataset, MemoryDataset
from models.errors import UsageError
from models.errors import first_line as message_of  # runner.first_line adds the type
from models.reference import Reference
from models.sampling import SampleSource

MAX_CONSECUTIVE_ERRORS = 3
DURATION_OPS_CAP = 1_000_000    # positions reserved per writing phase when timing by --duration
CHUNK = 4096                    # closed loop: operations built per timed segment
SPIN_NS = 100_000               # open loop: sleep until this close to the due time, then spin
WARMUP_TIME_SHARE = 0.25        # warmup stops after this share of the phase's time cap
MATERIALIZE_MAX_SCALE = 5       # synthetic data sets up to this scale are generated once and kept
WORKER_GRACE_S = 120.0          # a worker silent this long past its phase's time cap is stopped


# ---------------------------------------------------------------- settings and targets

@dataclass(frozen=True)
class RunSettings:
    """Every option of a run (all of it goes into the results file)."""

    datasets: tuple[str, ...] = ("seed", "synthetic")
    scale: int = 1
    seed: int = 42
    queries: tuple[Q, ...] = (*READS, *WRITES)
    workloads: tuple[str, ...] = ()
    ops: int = 500
    duration_s: float | None = None
    max_time_s: float = 0.5
    warmup: int = 20
    workers: int = 1
    rate: float | None = None
    keys: str = "uniform"
    verify: bool = False
    batch_size: int = 5000

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["queries"] = [q.value for q in self.queries]
        out["order"] = "per data set: reset, load, read queries, write queries, workloads"
        out["mode"] = "open loop" if self.rate else "closed loop"
        return out

    @property
    def time_cap_s(self) -> float:
        """How long a phase may time: --duration; else --max-time (open loop: at least twice
        the schedule of its --ops, so a slow engine shows its queue instead of being cut off)."""
        if self.duration_s is not None:
            return self.duration_s
        return max(self.max_time_s, 2 * self.ops / self.rate) if self.rate else self.max_time_s

    @property
    def ops_cap(self) -> int:
        """Timed operations per phase: --ops, or as many as --duration (at --rate) allows."""
        if self.duration_s is None:
            return self.ops
        return int(self.rate * self.duration_s) + 1 if self.rate else DURATION_OPS_CAP

    def phases(self) -> list[Phase]:
        reads = [QUERY_PHASES[q] for q in self.queries if not CATALOG[q].is_write]
        writes = [QUERY_PHASES[q] for q in self.queries if CATALOG[q].is_write]
        return [*reads, *writes, *(WORKLOADS[w] for w in self.workloads)]


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


# ---------------------------------------------------------------- one phase, one worker

@dataclass(frozen=True)
class PhaseSpec:
    """What a worker needs to measure one phase (picklable)."""

    phase: Phase
    source: SampleSource
    seed: str
    base_index: int
    warmup: int
    ops: int
    time_cap_s: float
    rate: float | None = None
    workers: int = 1
    keys: str = "uniform"

    def stream(self) -> Iterator[Op]:
        return self.phase.ops(self.source, self.seed, self.base_index, self.keys)

    def first_op(self) -> Op:
        """Position 0: the operation `--verify` checks (never timed)."""
        return next(self.stream())

    def counts(self, worker: int) -> tuple[int, int]:
        """(warmup, timed) operations of `worker`: positions 1.. taken round-robin."""
        warm = len(range(1 + worker, 1 + self.warmup, self.workers))
        total = len(range(1 + worker, 1 + self.warmup + self.ops, self.workers))
        return warm, total - warm

    @property
    def span(self) -> int:
        """Positions (so write indices) this phase may use."""
        return 1 + self.warmup + self.ops


class _Aborted(Exception):
    """Too many consecutive errors: the phase stops."""


@dataclass
class _Errors:
    count: int = 0
    positions: list[int] = field(default_factory=list)
    first: str | None = None

    def add(self, position: int, exc: BaseException) -> None:
        """Note a failed operation; raise _Aborted after MAX_CONSECUTIVE_ERRORS in a row."""
        self.count += 1
        self.positions.append(position)
        if self.first is None:
            self.first = first_line(exc)
        last = self.positions[-MAX_CONSECUTIVE_ERRORS:]
        if len(last) == MAX_CONSECUTIVE_ERRORS and last[-1] - last[0] == MAX_CONSECUTIVE_ERRORS - 1:
            raise _Aborted(self.first)


def phase_seed(seed: int, dataset_key: str, phase: str) -> str:
    """The seed of a phase's parameter stream: the same questions on every backend and run."""
    return f"{seed}:{dataset_key}:{phase}"


def first_line(exc: BaseException) -> str:
    """One line for a results file: our own errors as they are, others with their type."""
    text = message_of(exc)
    name = type(exc).__name__
    return text if isinstance(exc, BackendError) or text == name else f"{name}: {text}"


def closed_loop(calls: list[tuple[Callable[..., Any], dict[str, Any]]], lat: list[int],
                errors: _Errors, deadline_ns: int) -> bool:
    """Run `calls` back to back, appending each latency (ns) to `lat`; False once past the deadline."""
    clock = time.perf_counter_ns
    append = lat.append
    for fn, kw in calls:
        t0 = clock()
        try:
            fn(**kw)
        except Exception as exc:  # noqa: BLE001 - any driver error counts as a failed operation
            errors.add(len(lat), exc)
        t1 = clock()
        append(t1 - t0)
        if t1 > deadline_ns:
            return False
    return True


def open_loop(calls: list[tuple[Callable[..., Any], dict[str, Any]]], lat: list[int], service: list[int],
              errors: _Errors, deadline_ns: int, start_ns: int, period_ns: float, offset: int, stride: int) -> None:
    """Run call k at its due time start + (offset + k*stride) * period; latency counts from the due time.

    Stopped by the deadline, the calls already due but never started still count, with the
    time they waited so far as their latency (a lower bound): the slowest ones are not dropped."""
    clock, sleep = time.perf_counter_ns, time.sleep
    append, append_service = lat.append, service.append
    i = offset
    for k, (fn, kw) in enumerate(calls):
        due = start_ns + int(i * period_ns)
        i += stride
        now = clock()
        if now < due:
            if due - now > SPIN_NS:
                sleep((due - now - SPIN_NS) / 1e9)
            while clock() < due:
                pass
        t0 = clock()
        try:
            fn(**kw)
        except Exception as exc:  # noqa: BLE001
            errors.add(len(lat), exc)
        t1 = clock()
        append(t1 - due)
        append_service(t1 - t0)
        if t1 > deadline_ns:
            for j in range(len(calls) - k - 1):
                waiting_since = start_ns + int((i + j * stride) * period_ns)
                if waiting_since > t1:
                    break
                append(t1 - waiting_since)
            return


def _prepare(backend: Backend, ops: Iterator[Op], n: int, labels: list[int],
             bound: dict[str, Callable[..., Any]]) -> list[tuple[Callable[..., Any], dict[str, Any]]]:
    """The next `n` operations as (bound method, params), their labels appended to `labels`."""
    out = []
    for label, call, params in islice(ops, n):
        fn = bound.get(call)
        if fn is None:
            fn = bound[call] = bind(backend, call)
        out.append((fn, params))
        labels.append(label)
    return out


def measure(backend: Backend, spec: PhaseSpec, worker: int = 0, barrier: Any = None) -> dict[str, Any]:
    """Warm up, then time this worker's share of `spec` on `backend`. Never raises for a failing
    engine or Ctrl-C: the outcome (partial if so) says what happened."""
    clock = time.perf_counter_ns
    n_warm, n_timed = spec.counts(worker)
    ops = islice(spec.stream(), 1 + worker, None, spec.workers)
    bound: dict[str, Callable[..., Any]] = {}
    lat: list[int] = []
    service: list[int] = []
    labels: list[int] = []
    errors = _Errors()
    state, elapsed_ns, cost = "ok", 0, {}
    cap_ns = int(spec.time_cap_s * 1e9)
    try:
        warm_errors = _Errors()
        closed_loop(_prepare(backend, ops, n_warm, [], bound), [], warm_errors,
                    clock() + int(cap_ns * WARMUP_TIME_SHARE))
        # Operations are built before the workers start together: an open-loop schedule is
        # one for all, and building must not eat a closed loop's time cap.
        calls = _prepare(backend, ops, n_timed if spec.rate else min(n_timed, CHUNK), labels, bound)
        if barrier is not None:
            barrier.wait(timeout=spec.time_cap_s + WORKER_GRACE_S)
        backend.take_cost()  # forget the warmup's cost
        if spec.rate:
            start = clock()
            try:
                open_loop(calls, lat, service, errors, start + cap_ns, start, 1e9 / spec.rate, worker, spec.workers)
            finally:
                elapsed_ns = clock() - start
        else:
            deadline, left, more = clock() + cap_ns, n_timed, True
            while calls and more:
                left -= len(calls)
                start = clock()
                try:
                    more = closed_loop(calls, lat, errors, deadline)
                finally:
                    elapsed_ns += clock() - start
                calls = _prepare(backend, ops, min(left, CHUNK), labels, bound) if left > 0 and more else []
    except _Aborted as exc:
        state, errors.first = "failed", str(exc)
        if barrier is not None:
            barrier.abort()
    except threading.BrokenBarrierError:
        state, errors.first = "failed", errors.first or "another worker failed"
    except KeyboardInterrupt:
        state = "interrupted"
    except Exception as exc:  # noqa: BLE001 - building parameters or binding failed
        state, errors.first = "failed", first_line(exc)
        if barrier is not None:
            barrier.abort()
    try:
        cost = backend.take_cost()
    except Exception:  # noqa: BLE001 - the engine may be gone
        cost = {}
    return _outcome(spec, lat, service, labels, errors, state, elapsed_ns, cost)


def _outcome(spec: PhaseSpec, lat: list[int], service: list[int], labels: list[int], errors: _Errors,
             state: str, elapsed_ns: int, cost: dict[str, float]) -> dict[str, Any]:
    """A worker's measurements on the wire: per label an encoded histogram of the good operations."""
    failed = set(errors.positions)
    by_label: list[list[int]] = [[] for _ in spec.phase.labels]
    for i, ns in enumerate(lat):
        if i not in failed:
            by_label[labels[i]].append(ns)
    good_service = [ns for i, ns in enumerate(service) if i not in failed]
    return {"state": state, "error": errors.first, "errors": errors.count, "elapsed_ns": elapsed_ns,
            "cost": cost, "labels": [Latencies.from_ns(v).to_wire() for v in by_label],
            "service": Latencies.from_ns(good_service).to_wire() if spec.rate else None}


# ---------------------------------------------------------------- worker processes

def _worker_main(factory: Callable[[], Backend], index: int, conn: Connection, barrier: Any) -> None:
    """A worker process: connect, then measure each PhaseSpec it is sent until it gets None."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; it forwards SIGINT while measuring
    try:
        backend = factory()
    except Exception as exc:  # noqa: BLE001
        conn.send(("error", first_line(exc)))
        return
    conn.send(("ready", None))
    try:
        while (spec := conn.recv()) is not None:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            try:
                result = measure(backend, spec, index, barrier)
            finally:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
            conn.send(("done", result))
    except EOFError:
        pass
    finally:
        try:
            backend.close()
        except Exception:  # noqa: BLE001
            pass


class WorkerPool:
    """N processes (spawned, not forked), each with its own connection to the backend."""

    def __init__(self, factory: Callable[[], Backend], n: int) -> None:
        ctx = mp.get_context("spawn")
        self.barrier = ctx.Barrier(n)
        self.procs: list[Any] = []
        self.conns: list[Connection] = []
        try:
            for index in range(n):
                mine, theirs = ctx.Pipe()
                proc = ctx.Process(target=_worker_main, args=(factory, index, theirs, self.barrier),
                                   name=f"mmbench-worker-{index}", daemon=True)
                proc.start()
                theirs.close()
                self.procs.append(proc)
                self.conns.append(mine)
            for index, conn in enumerate(self.conns):
                try:
                    kind, detail = conn.recv()
                except EOFError:
                    kind, detail = "error", f"worker {index} died while connecting"
                if kind == "error":
                    raise BackendError(detail)
        except BaseException:
            self.close()
            raise

    def measure(self, spec: PhaseSpec) -> list[dict[str, Any]]:
        """Each worker's outcome. A worker that died or hung is a failed outcome; the others are
        released from the start barrier. On Ctrl-C every worker stops and reports what it has."""
        self.barrier.reset()
        n = len(self.conns)
        outcomes: dict[int, dict[str, Any]] = {}
        for i, conn in enumerate(self.conns):
            try:
                conn.send(spec)
            except OSError:
                self._lost(i, spec, outcomes)
        deadline = time.monotonic() + spec.time_cap_s * (1 + WARMUP_TIME_SHARE) + WORKER_GRACE_S
        interrupted = False
        while len(outcomes) < n:
            pending = [c for i, c in enumerate(self.conns) if i not in outcomes]
            try:
                ready = wait(pending, timeout=max(0.0, deadline - time.monotonic()))
            except KeyboardInterrupt:
                interrupted = True
                self.barrier.abort()  # first release the ones waiting to start, then stop the others
                self._interrupt()
                deadline = min(deadline, time.monotonic() + 30)
                continue
            if not ready:
                for i in range(n):
                    outcomes.setdefault(i, _lost(spec, "failed", f"worker {i} gave no answer; stopped"))
                self.close()
                break
            for conn in ready:
                i = self.conns.index(conn)
                try:
                    outcomes[i] = conn.recv()[1]
                except (EOFError, OSError):
                    self._lost(i, spec, outcomes)
        if interrupted:
            for outcome in outcomes.values():
                outcome["state"] = "interrupted"
        return [outcomes[i] for i in range(n)]

    def _lost(self, i: int, spec: PhaseSpec, outcomes: dict[int, dict[str, Any]]) -> None:
        """Worker i is gone: a failed outcome, and the others stop waiting for it at the barrier."""
        self.procs[i].join(timeout=5)
        outcomes[i] = _lost(spec, "failed", f"worker {i} died (exit code {self.procs[i].exitcode})")
        outcomes[i]["lost"] = True
        self.barrier.abort()

    def _interrupt(self) -> None:
        for proc in self.procs:
            if proc.is_alive() and proc.pid:
                os.kill(proc.pid, signal.SIGINT)

    @property
    def healthy(self) -> bool:
        return bool(self.procs) and all(p.is_alive() for p in self.procs)

    def close(self) -> None:
        for conn in self.conns:
            try:
                conn.send(None)
            except (OSError, ValueError):
                pass
        for proc in self.procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
        for conn in self.conns:
            conn.close()
        self.conns, self.procs = [], []


def _lost(spec: PhaseSpec, state: str, error: str) -> dict[str, Any]:
    return _outcome(spec, [], [], [], _Errors(0, [], error), state, 0, {})


# ---------------------------------------------------------------- combining outcomes

def combine(phase: Phase, outcomes: list[dict[str, Any]], tier: Tier) -> dict[str, Any]:
    """One results entry from the workers' outcomes: merged histograms and statistics."""
    per_label = [Latencies.merged(Latencies.from_wire(o["labels"][k]) for o in outcomes)
                 for k in range(len(phase.labels))]
    total = Latencies.merged(per_label)
    states = {o["state"] for o in outcomes}
    state = "failed" if "failed" in states else "interrupted" if "interrupted" in states else "ok"
    lost = [o["error"] for o in outcomes if o.get("lost")]
    errors_by_worker = [o["error"] for o in outcomes if o["error"]]
    real = lost or [e for e in errors_by_worker if e != "another worker failed"]
    elapsed = max((o["elapsed_ns"] for o in outcomes), default=0) / 1e9
    cost: dict[str, float] = {}
    for o in outcomes:
        for k, v in (o["cost"] or {}).items():
            cost[k] = cost.get(k, 0.0) + v
    entry: dict[str, Any] = {
        "status": state, "error": (real or errors_by_worker or [None])[0], "tier": tier.value,
        "ops": total.count, "errors": sum(o["errors"] for o in outcomes), "elapsed_s": elapsed,
        "ops_per_s": total.count / elapsed if elapsed > 0 else 0.0,
        "latency": total.summary(), "histogram": total.encode(),
    }
    if outcomes and outcomes[0]["service"] is not None:
        service = Latencies.merged(Latencies.from_wire(o["service"]) for o in outcomes)
        entry["service_time"] = service.summary()
        entry["service_histogram"] = service.encode()
    if isinstance(phase, Workload):
        entry["operations"] = {label: {"queries": [q.value for q in OPERATIONS[label]], "ops": lat.count,
                                       "latency": lat.summary(), "histogram": lat.encode()}
                               for label, lat in zip(phase.labels, per_label, strict=True)}
    if cost:
        entry["cost"] = {"total": cost, "per_op": {k: v / total.count for k, v in cost.items()} if total.count else {}}
    return entry


def phase_tier(backend: type[Backend] | Backend, phase: Phase) -> Tier:
    """client if any query the phase calls is answered client-side on this backend."""
    return Tier.CLIENT if any(backend.tier(q) is Tier.CLIENT for q in phase.queries) else Tier.NATIVE


# ---------------------------------------------------------------- verification

def verify(backend: Backend, reference: Reference, query: Q, params: dict[str, Any]) -> str | None:
    """None if `backend` answers like the reference (a write: applied to both, then read back);
    otherwise what differs, in one line."""
    spec = CATALOG[query]
    checks = [(query, params)]
    if spec.is_write:
        run_query(backend, query, params)
        run_query(reference, query, params)
        checks = spec.observers(params)
    for q, p in checks:
        s = CATALOG[q]
        answer, want = run_query(backend, q, p), s.canonical(run_query(reference, q, p))
        try:
            got = s.canonical(answer)
        except Exception as exc:  # noqa: BLE001 - not even the shape of an answer
            return f"{q}({_short(p)}) answered {type(answer).__name__}, not a valid answer ({first_line(exc)})"
        if got != want:
            return f"{q}({_short(p)}) answered {_size(got)}, the reference {_size(want)}; they differ"
    return None


def _size(answer: Any) -> str:
    return f"{len(answer)} rows" if isinstance(answer, list) else "none" if answer is None else "one row"


def _short(params: dict[str, Any]) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in params.items())
    return text if len(text) <= 80 else text[:77] + "..."


# ---------------------------------------------------------------- data sets

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


# ---------------------------------------------------------------- the run

class Stop(Exception):
    """Ctrl-C: stop the run, keep what was measured."""


Say = Callable[[str], None]


def _quiet(_: str) -> None:
    """Say nothing."""


class Runner:
    """Runs the comparison and fills a ResultsDoc; `run()` returns it (also after Ctrl-C)."""

    def __init__(self, settings: RunSettings, targets: list[Target], *, say: Say = _quiet,
                 after_phase: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.settings, self.targets, self.say = settings, targets, say
        self.after_phase = after_phase or (lambda entry: None)
        self.doc = ResultsDoc(settings.to_dict())
        self.prepared: dict[str, Prepared] = {}
        self.pool: WorkerPool | None = None  # the current backend's worker processes (--workers > 1)
        self.dead: str | None = None  # why the current backend stopped answering, once it has
        self.unusable: str | None = None  # why the current data set's phases cannot run on it

    def run(self) -> ResultsDoc:
        interrupted = False
        try:
            for key in self.settings.datasets:
                self.say(f"preparing data set {key}")
                self.prepared[key] = p = prepare_dataset(key, self.settings.scale, self.settings.seed)
                self.doc.data["datasets"][key] = {**p.describe, "rows": None}
            gc.collect()
            gc.freeze()  # the data sets held here stay out of every later garbage collection
            for target in self.targets:
                try:
                    self._run_backend(target)
                except Stop:
                    raise
                except Exception as exc:  # noqa: BLE001 - a bug or an unforeseen error: the other backends go on
                    self.doc.backend(target.name).update(status="failed", error=first_line(exc))
                    self.say(f"{target.name}: failed: {first_line(exc)}")
        except (KeyboardInterrupt, Stop):
            interrupted = True
            self.say("interrupted: writing what was measured so far")
        finally:
            gc.unfreeze()
        self.doc.finish(interrupted)
        return self.doc

    # -- one backend

    def _open(self, target: Target) -> Backend | None:
        entry = self.doc.backend(target.name)
        entry["requested"] = target.requested
        reg = REGISTRY.get(target.name)
        entry["model"] = reg.model if reg else None
        backend = None
        try:
            backend = target.factory()
            info = backend.engine_info()
        except Exception as exc:  # noqa: BLE001 - EngineUnavailable, DriverMissing, or a driver error
            if backend is not None:
                backend.close()
            entry.update(status="unavailable", error=first_line(exc))
            self.say(f"{target.name}: skipped: {first_line(exc)}")
            return None
        entry["engine"] = {"product": info.product, "version": info.version, "emulator": info.emulator,
                           "address": info.address}
        entry["driver"] = info.driver
        return backend

    def _run_backend(self, target: Target) -> None:
        backend = self._open(target)
        if backend is None:
            return
        self.pool, self.dead = None, None
        try:
            for prepared in self.prepared.values():
                self._run_dataset(target, backend, prepared)
        finally:
            if self.pool is not None:
                self.pool.close()
            try:
                backend.close()
            except Exception:  # noqa: BLE001 - the engine may be gone
                pass

    def _run_dataset(self, target: Target, backend: Backend, prepared: Prepared) -> None:
        s = self.settings
        self.unusable = self.dead or self._load(target, backend, prepared)  # why this data set's phases cannot run
        reference = prepared.reference() if s.verify and self.unusable is None else None
        next_base = 0
        for phase in s.phases():
            spec = PhaseSpec(phase, prepared.source, phase_seed(s.seed, prepared.key, phase.name),
                             next_base if phase.writes else 0, s.warmup, s.ops_cap, s.time_cap_s,
                             s.rate, s.workers, s.keys)
            if phase.writes:
                next_base += spec.span
            entry = {"backend": target.name, "dataset": prepared.key, "phase": phase.name, "kind": phase.kind,
                     "queries": [q.value for q in phase.queries], "tier": phase_tier(type(backend), phase).value,
                     "verified": None, "verify_error": None, "ops": 0, "errors": 0}
            started = time.perf_counter()
            try:
                self._run_phase(target, backend, prepared, spec, entry, reference)
            except KeyboardInterrupt:
                entry.update(status="interrupted", error=None)
                self._record(entry)
                raise Stop from None
            finally:
                entry["wall_s"] = time.perf_counter() - started
            self._record(entry)
            if entry["status"] == "interrupted":
                raise Stop
            if entry["status"] == "failed" and self.unusable is None:
                self.dead = self.unusable = self._probe(backend, prepared, entry)

    def _run_phase(self, target: Target, backend: Backend, prepared: Prepared, spec: PhaseSpec,
                   entry: dict[str, Any], reference: Reference | None) -> None:
        """Verify, warm up and time one phase, filling in `entry`."""
        if self.unusable is not None:
            entry.update(status="failed", error=self.unusable)
            return
        try:
            spec.first_op()
        except UsageError as exc:  # e.g. no diagnoses in a VCF-only data set: nothing to ask
            entry.update(status="skipped", error=f"not applicable to {prepared.key}: {exc}")
            return
        self.say(f"{target.name} · {prepared.key} · {spec.phase.name}")
        if reference is not None and spec.phase.kind == "query" and not self._verify(backend, reference, spec, entry):
            return
        if self.settings.workers == 1:
            outcomes = [measure(backend, spec)]
        else:
            if self.pool is None or not self.pool.healthy:
                if self.pool is not None:
                    self.pool.close()
                self.pool = None
                try:
                    self.pool = WorkerPool(target.factory, self.settings.workers)
                except Exception as exc:  # noqa: BLE001 - a worker could not connect, or died starting
                    entry.update(status="failed", error=first_line(exc))
                    return
            outcomes = self.pool.measure(spec)
        entry.update(combine(spec.phase, outcomes, phase_tier(type(backend), spec.phase)))

    def _load(self, target: Target, backend: Backend, prepared: Prepared) -> str | None:
        """Reset and load; None on success, else why this data set cannot be measured (and if the
        engine does not even answer a reset after that, the backend is dead)."""
        entry = self.doc.backend(target.name)
        self.say(f"{target.name} · {prepared.key} · load")
        try:
            backend.reset()
            timing = timed_load(backend, prepared.data, batch_size=self.settings.batch_size)
        except Exception as exc:  # noqa: BLE001
            why = f"load of {prepared.key} failed: {first_line(exc)}"
            entry["loads"][prepared.key] = {"status": "failed", "error": first_line(exc)}
            entry.update(status="failed", error=why)
            self.say(f"  {why}")
            try:
                backend.reset()
            except Exception as again:  # noqa: BLE001
                self.dead = f"{target.name} stopped answering: {first_line(again)}"
            return why
        entry["loads"][prepared.key] = {"status": "ok", **timing.to_dict()}
        self.doc.data["datasets"][prepared.key]["rows"] = {k: v.rows for k, v in timing.kinds.items()}
        return None

    def _verify(self, backend: Backend, reference: Reference, spec: PhaseSpec, entry: dict[str, Any]) -> bool:
        """Check position 0 against the reference; False if it could not even be asked."""
        try:
            problem = verify(backend, reference, Q(spec.phase.name), spec.first_op().params)
        except Exception as exc:  # noqa: BLE001
            entry.update(verified=False, status="failed", error=f"verification: {first_line(exc)}", errors=1)
            return False
        entry.update(verified=problem is None, verify_error=problem)
        if problem:
            self.say(f"  wrong answer: {problem}")
        return True

    def _probe(self, backend: Backend, prepared: Prepared, entry: dict[str, Any]) -> str | None:
        """After a failed phase: does the backend still answer a simple read? If not, why."""
        try:
            backend.patient_by_id(patient_id=next(iter(prepared.source.patient_ids), 0))
        except Exception as exc:  # noqa: BLE001
            why = f"{entry['backend']} stopped answering after {entry['phase']}: {first_line(exc)}"
            self.doc.backend(entry["backend"]).update(status="failed", error=why)
            self.say(f"  {why}")
            return why
        return None

    def _record(self, entry: dict[str, Any]) -> None:
        self.doc.results.append(entry)
        if entry["status"] == "ok":
            lat = entry["latency"]
            self.say(f"  {entry['ops']:,} ops, p50 {lat['p50_us']:,.1f} µs, p99 {lat['p99_us']:,.1f} µs, "
                     f"{entry['ops_per_s']:,.0f} ops/s" + (f", {entry['errors']} errors" if entry["errors"] else ""))
        elif entry["status"] == "interrupted":
            self.say(f"  interrupted after {entry['ops']:,} timed operations")
        else:
            self.say(f"  {entry['status']}: {entry.get('error')}")
        self.after_phase(entry)
