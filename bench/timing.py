"""The only place that takes time: the timed loops and the measurement of one phase by one worker.

Everything else in the harness prepares work for this module or reads what it returns.
Operations are drawn and their methods bound BEFORE timing, in chunks (`CHUNK`) between
timed segments; each latency is one `perf_counter_ns` difference appended to a flat list;
the list goes into an HdrHistogram after the loop (`bench.stats`).

- Closed loop (default): the next operation starts when the previous one ends.
- Open loop (`rate`): operation i is due at start + i/rate whatever happened before; its
  latency is measured from that due time, so an engine that stalls is charged for the queue it
  causes (no coordinated omission). The time spent serving each operation is kept too.

A worker also reads its own CPU time (`process_time_ns`) around its share of a phase, drawing
included: the client's CPU per operation in every results file (#21).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice, repeat
from typing import Any

from backends.base import Backend, BackendError
from bench.settings import PhaseSpec
from bench.stats import Latencies
from bench.workloads import Op, bind
from models.errors import first_line as message_of

MAX_CONSECUTIVE_ERRORS = 3
CHUNK = 4096                    # closed loop: operations drawn per timed segment
READ_POOL = 16_384              # a read phase draws at most this many questions per worker, then cycles them
SPIN_NS = 100_000               # open loop: sleep until this close to the due time, then spin
WARMUP_TIME_SHARE = 0.25        # warmup stops after this share of the phase's time cap
WORKER_GRACE_S = 120.0          # a worker silent this long past its phase's time cap is stopped

Call = tuple[Callable[..., Any], dict[str, Any]]


def first_line(exc: BaseException) -> str:
    """One line for a results file: our own errors as they are, others with their type."""
    text = message_of(exc)
    name = type(exc).__name__
    return text if isinstance(exc, BackendError) or text == name else f"{name}: {text}"


class Aborted(Exception):
    """Too many consecutive errors: the phase stops."""


@dataclass
class Errors:
    count: int = 0
    positions: list[int] = field(default_factory=list)
    first: str | None = None

    def add(self, position: int, exc: BaseException) -> None:
        """Note a failed operation; raise Aborted after MAX_CONSECUTIVE_ERRORS in a row."""
        self.count += 1
        self.positions.append(position)
        if self.first is None:
            self.first = first_line(exc)
        last = self.positions[-MAX_CONSECUTIVE_ERRORS:]
        if len(last) == MAX_CONSECUTIVE_ERRORS and last[-1] - last[0] == MAX_CONSECUTIVE_ERRORS - 1:
            raise Aborted(self.first)


@dataclass
class Outcome:
    """One worker's measurement of one phase, as it travels between processes."""

    state: str                    # ok, failed, interrupted
    error: str | None
    errors: int
    elapsed_ns: int               # wall time of the timed part
    cpu_ns: int                   # this worker's CPU time for its share (drawing included)
    cost: dict[str, float]        # engine-reported cost (take_cost)
    labels: list[dict[str, Any]]  # per operation type: Latencies.to_wire() of the good operations
    service: dict[str, Any] | None = None  # open loop: service times
    lost: bool = False            # the worker died or hung

    @classmethod
    def lost_worker(cls, n_labels: int, state: str, error: str) -> Outcome:
        empty = Latencies().to_wire()
        return cls(state, error, 0, 0, 0, {}, [empty] * n_labels, None, lost=True)


def closed_loop(calls: list[Call], lat: list[int], errors: Errors, deadline_ns: int) -> bool:
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


def open_loop(calls: list[Call], lat: list[int], service: list[int], errors: Errors, deadline_ns: int,
              start_ns: int, period_ns: float, offset: int, stride: int) -> None:
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


def prepare(backend: Backend, ops: Iterator[Op], n: int, labels: list[int],
            bound: dict[str, Callable[..., Any]]) -> list[Call]:
    """The next `n` operations as (bound method, params), their labels appended to `labels`."""
    out = []
    for label, call, params in islice(ops, n):
        fn = bound.get(call)
        if fn is None:
            fn = bound[call] = bind(backend, call)
        out.append((fn, params))
        labels.append(label)
    return out


def measure(backend: Backend, spec: PhaseSpec, worker: int = 0, barrier: Any = None) -> Outcome:
    """Warm up, then time this worker's share of `spec` on `backend`. Never raises for a failing
    engine or Ctrl-C: the outcome (partial if so) says what happened."""
    clock, cpu_clock = time.perf_counter_ns, time.process_time_ns
    n_warm, n_timed = spec.counts(worker)
    ops = spec.worker_ops(worker)
    bound: dict[str, Callable[..., Any]] = {}
    lat: list[int] = []
    service: list[int] = []
    labels: list[int] = []
    errors = Errors()
    state, elapsed_ns = "ok", 0
    cpu0: int | None = None
    cap_ns = int(spec.time_cap_s * 1e9)
    try:
        closed_loop(prepare(backend, ops, n_warm, [], bound), [], Errors(), clock() + int(cap_ns * WARMUP_TIME_SHARE))
        cpu0 = cpu_clock()
        # Operations are drawn before the workers start together: an open-loop schedule is
        # one for all, and drawing must not eat a closed loop's time cap.
        calls = prepare(backend, ops, n_timed if spec.rate else min(n_timed, CHUNK), labels, bound)
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
            pool: list[Call] = []  # a read-only query phase: its questions, drawn once and cycled
            cycle = spec.phase.kind == "query" and not spec.phase.writes and n_timed > CHUNK
            start = clock()
            deadline, left, more = start + cap_ns, n_timed, True
            try:  # elapsed: the whole timed part, the drawing of later chunks included (honest ops/s)
                while calls and more:
                    left -= len(calls)
                    more = closed_loop(calls, lat, errors, deadline)
                    if left <= 0 or not more:
                        break
                    if cycle and len(pool) + len(calls) >= READ_POOL:  # no more drawing: cycle what was drawn
                        pool += calls
                        calls = _cycled(pool, len(lat), min(left, CHUNK))
                        labels.extend(repeat(0, len(calls)))
                    else:
                        if cycle:
                            pool += calls
                        calls = prepare(backend, ops, min(left, CHUNK), labels, bound)
            finally:
                elapsed_ns = clock() - start
    except Aborted as exc:
        state, errors.first = "failed", str(exc)
        if barrier is not None:
            barrier.abort()
    except threading.BrokenBarrierError:
        state, errors.first = "failed", errors.first or "another worker failed"
    except KeyboardInterrupt:
        state = "interrupted"
    except Exception as exc:  # noqa: BLE001 - drawing parameters or binding failed
        state, errors.first = "failed", first_line(exc)
        if barrier is not None:
            barrier.abort()
    try:
        cost = backend.take_cost()
    except Exception:  # noqa: BLE001 - the engine may be gone
        cost = {}
    outcome = _outcome(spec, lat, service, labels, errors, state, elapsed_ns, cost)
    if cpu0 is not None:
        outcome.cpu_ns = cpu_clock() - cpu0  # drawing, loop and recording into histograms
    return outcome


def _cycled(pool: list[Call], done: int, n: int) -> list[Call]:
    """The next `n` calls of `pool` read as a ring, from position `done`."""
    k = done % len(pool)
    out = pool[k:k + n]
    while len(out) < n:
        out += pool[:n - len(out)]
    return out


def _outcome(spec: PhaseSpec, lat: list[int], service: list[int], labels: list[int], errors: Errors,
             state: str, elapsed_ns: int, cost: dict[str, float]) -> Outcome:
    """A worker's measurements on the wire: per label an encoded histogram of the good operations."""
    failed = set(errors.positions)
    by_label: list[list[int]] = [[] for _ in spec.phase.labels]
    if failed:
        for i, ns in enumerate(lat):
            if i not in failed:
                by_label[labels[i]].append(ns)
        good_service = [ns for i, ns in enumerate(service) if i not in failed]
    elif len(by_label) == 1:
        by_label[0], good_service = lat, service
    else:
        for label, ns in zip(labels, lat, strict=False):
            by_label[label].append(ns)
        good_service = service
    return Outcome(state, errors.first, errors.count, elapsed_ns, 0, cost,
                   [Latencies.from_ns(v).to_wire() for v in by_label],
                   Latencies.from_ns(good_service).to_wire() if spec.rate else None)


def time_calls(calls: list[Call]) -> list[int]:
    """Latencies (ns) of `calls` run back to back (the closed loop, for demos and sweeps); an
    error propagates: a demo's question must be answered."""
    clock = time.perf_counter_ns
    lat = []
    append = lat.append
    for fn, kw in calls:
        t0 = clock()
        fn(**kw)
        append(clock() - t0)
    return lat


def wall_clock() -> float:
    """Seconds on the monotonic clock, for progress, phase wall times and load steps."""
    return time.perf_counter()


def wall_clock_ns() -> int:
    return time.perf_counter_ns()


class Stopwatch:
    """Wall and CPU time (this process) of a block: for whole-run measurements (a bulk load, a
    raw-driver loop, the harness's own cost), where per-operation latencies are not wanted."""

    def __enter__(self) -> Stopwatch:
        self.wall_ns = self.cpu_ns = 0
        self._wall0, self._cpu0 = time.perf_counter_ns(), time.process_time_ns()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall_ns = time.perf_counter_ns() - self._wall0
        self.cpu_ns = time.process_time_ns() - self._cpu0

    @property
    def seconds(self) -> float:
        return self.wall_ns / 1e9


def run_for(seconds: float, fn: Callable[..., Any], params: list[dict[str, Any]], batch: int = 256) -> int:
    """Call `fn(**params[i])` over and over (cycling) for `seconds`; the number of calls made.
    A raw-driver loop, as lean as Python allows: the clock is read once per `batch` calls."""
    clock = time.perf_counter
    deadline = clock() + seconds
    n, k = 0, len(params)
    while clock() < deadline:
        for i in range(batch):
            fn(**params[(n + i) % k])
        n += batch
    return n


def time_outcomes(calls: list[Call]) -> list[tuple[int, BaseException | None]]:
    """Latency (ns) and outcome of each of `calls`, run back to back: the exception a call raised,
    or None if it succeeded (for demos whose question is which requests fail, and how fast)."""
    clock = time.perf_counter_ns
    out: list[tuple[int, BaseException | None]] = []
    append = out.append
    for fn, kw in calls:
        t0 = clock()
        try:
            fn(**kw)
        except Exception as exc:  # noqa: BLE001 - the failure is the measurement
            append((clock() - t0, exc))
        else:
            append((clock() - t0, None))
    return out


def write_then_read(write: Call, read: Call, fresh: Callable[[Any], bool], timeout_s: float) -> tuple[int, int | None, int]:
    """Run `write`, then `read` at once, and again until `fresh(answer)`: the write's latency (ns),
    the time from the write's return to the end of the first read that saw it (ns; None if none
    did within `timeout_s`), and the reads made (1: the first read saw it)."""
    clock = time.perf_counter_ns
    write_fn, write_kw = write
    read_fn, read_kw = read
    t0 = clock()
    write_fn(**write_kw)
    t1 = clock()
    deadline = t1 + int(timeout_s * 1e9)
    reads = 0
    while True:
        answer = read_fn(**read_kw)
        reads += 1
        now = clock()
        if fresh(answer):
            return t1 - t0, now - t1, reads
        if now > deadline:
            return t1 - t0, None, reads


def wait_until(done: Callable[[], bool], timeout_s: float, interval_s: float = 0.1) -> int | None:
    """Ask `done()` every `interval_s` until it says True: the nanoseconds until it did (None if
    not within `timeout_s`)."""
    clock = time.perf_counter_ns
    start = clock()
    deadline = start + int(timeout_s * 1e9)
    while True:
        if done():
            return clock() - start
        if clock() > deadline:
            return None
        time.sleep(interval_s)
