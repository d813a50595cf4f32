"""The harness's own cost per operation, measured with a backend that does nothing.

`python -m bench.overhead [--ops N] [--workers N]` times every catalog query on `NoopBackend` (each method
returns at once) with the same code path as `mmbench run` and prints, per operation:

- `recorded`: the latency the harness records for an operation that takes no time: the floor
  under every number in a results file (two clock reads and a method call);
- `loop`: wall time per operation of the timed loop (recorded + appending the latency + the
  loop itself): the most a closed loop can do per second; `loop CPU`: the same in CPU time
  of this process, which other programs on a busy machine do not inflate;
- `total`: everything `measure` does per operation, also building parameters before timing
  and adding latencies to the histogram after it.

NoopBackend is not in `backends.REGISTRY` (it has nothing to conform to).
"""

from __future__ import annotations

import argparse
import os
import statistics
from typing import Any, ClassVar, Self

from collections.abc import Mapping

from backends.base import Backend, EngineInfo, Explanation, Holdings, Statement, Work, answer_size, run_query
from models.catalog import CATALOG, Q
from models.dataset import EntityKind


class NoopBackend(Backend):
    """Answers every query instantly with nothing; stores nothing."""

    name: ClassVar[str] = "noop"
    model: ClassVar[str] = "none"

    @classmethod
    def from_settings(cls, settings: Any = None) -> Self:
        return cls()

    def engine_info(self) -> EngineInfo:
        return EngineInfo("no-op", "0", emulator=False, driver="none")

    def reset(self) -> None: ...

    def begin_load(self) -> None: ...

    def write_batch(self, kind: EntityKind, rows: list[Any]) -> None: ...

    def end_load(self, holdings: Holdings) -> None:
        self._holdings = holdings

    def abort_load(self) -> None: ...

    def holdings(self) -> Holdings | None:
        return getattr(self, "_holdings", None)

    def record_writes(self, n: int) -> None: ...

    def explain(self, query: Q | str, params: Mapping[str, Any]) -> Explanation:
        answer = run_query(self, query, params)
        return Explanation(self.name, str(query), dict(params), self.tier(query).value,
                           [Statement("sql", f"-- {query}: nothing is sent")], None, [],
                           Work(answer_size(answer), 0, 0, 0, reasons={}), notes=["a no-op backend: no plan"])

    def close(self) -> None: ...

    def _nothing(self, **params: Any) -> None:
        return None


for _q in Q:  # every catalog method: return at once
    setattr(NoopBackend, _q.value, NoopBackend._nothing)
NoopBackend.__abstractmethods__ = frozenset()  # the catalog methods were set just now


def harness_cost(ops: int = 200_000, query: Q = Q.PATIENT_BY_ID) -> dict[str, float]:
    """Nanoseconds per operation of harness cost on NoopBackend (see the module docstring)."""
    from bench.datasets import make_dataset
    from bench.settings import PhaseSpec
    from bench.stats import Latencies
    from bench.timing import Errors, Stopwatch, closed_loop, measure, prepare, wall_clock_ns
    from bench.workloads import QUERY_PHASES
    from models.sampling import SampleSource

    spec = PhaseSpec(QUERY_PHASES[query.value], SampleSource.from_dataset(make_dataset("seed"), 1), "overhead",
                     0, warmup=1000, ops=ops, time_cap_s=600)
    backend = NoopBackend()
    calls = prepare(backend, spec.worker_ops(0), ops, [], {})
    lat: list[int] = []
    with Stopwatch() as loop:
        closed_loop(calls, lat, Errors(), wall_clock_ns() + 600 * 10**9)
    wall, cpu = loop.wall_ns, loop.cpu_ns
    recorded = Latencies.from_ns(lat)
    with Stopwatch() as whole:
        measure(backend, spec)
    total = whole.wall_ns
    return {"recorded_p50_ns": recorded.percentiles_ns()["p50"], "recorded_mean_ns": recorded.mean_ns,
            "loop_ns": wall / ops, "loop_cpu_ns": cpu / ops, "total_ns": total / (ops + spec.warmup)}


def worker_cost(workers: int, query: Q = Q.VARIANT_BY_ID, seconds: float = 3.0) -> dict[str, float]:
    """The harness's CPU per operation with `workers` processes on NoopBackend, timed by duration
    as `mmbench run --workers N --duration S` does: each worker's own CPU time for its share of
    the phase (drawing parameters, the timed loop, recording) divided by its operations."""
    from bench.datasets import make_dataset
    from bench.pool import WorkerPool
    from bench.settings import DURATION_OPS_CAP, PhaseSpec
    from bench.workloads import QUERY_PHASES
    from models.sampling import SampleSource

    source = SampleSource.from_dataset(make_dataset("synthetic", scale=1), 1)
    spec = PhaseSpec(QUERY_PHASES[query.value], source, "overhead", 0, warmup=1000, ops=DURATION_OPS_CAP,
                     time_cap_s=seconds, workers=workers)
    pool = WorkerPool(NoopBackend, workers)
    try:
        outcomes = pool.measure(spec)
    finally:
        pool.close()
    from bench.stats import Latencies

    ops = sum(Latencies.from_wire(o.labels[0]).count for o in outcomes)
    cpu = sum(o.cpu_ns for o in outcomes)
    wall = max(o.elapsed_ns for o in outcomes)
    return {"ops": ops, "cpu_ns_per_op": cpu / ops, "ops_per_s": ops / (wall / 1e9)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=200_000, help="timed operations per query and repeat")
    parser.add_argument("--repeat", type=int, default=5, help="repeats per query; the median is shown")
    parser.add_argument("--all", action="store_true", help="every catalog query (default: four typical ones)")
    parser.add_argument("--workers", type=int, default=4, help="also measure the harness's CPU per operation "
                        "with this many worker processes (0: skip)")
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each workers measurement")
    args = parser.parse_args()
    queries = list(Q) if args.all else [Q.ALL_VARIANTS, Q.PATIENT_BY_ID, Q.LAB_HISTORY, Q.ADD_PATIENT]
    print(f"{'query':24} {'recorded p50':>13} {'recorded mean':>14} {'loop':>6} {'loop CPU':>9} {'total':>7}"
          f"   ns per operation, median of {args.repeat}")
    for q in queries:
        runs = [harness_cost(args.ops if not CATALOG[q].is_write else args.ops // 10, q) for _ in range(args.repeat)]
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(f"{q.value:24} {med['recorded_p50_ns']:13.0f} {med['recorded_mean_ns']:14.0f} {med['loop_ns']:6.0f} "
              f"{med['loop_cpu_ns']:9.0f} {med['total_ns']:7.0f}")
    if args.workers:
        print(f"\nwith {args.workers} worker processes, {args.seconds:g} s per run, median of {args.repeat} "
              "(CPU of the workers: drawing parameters, the timed loop and recording, per operation)")
        print(f"{'query':24} {'harness CPU/op':>15} {'ops/s':>12}")
        for q in (Q.VARIANT_BY_ID, Q.PATIENT_BY_ID, Q.VARIANTS_IN_REGION):
            runs = [worker_cost(args.workers, q, args.seconds) for _ in range(args.repeat)]
            print(f"{q.value:24} {statistics.median(r['cpu_ns_per_op'] for r in runs) / 1000:12.2f} µs "
                  f"{statistics.median(r['ops_per_s'] for r in runs):12,.0f}")
    print(f"load average: {', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
