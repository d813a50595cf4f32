"""Throughput at saturation: `mmbench run --workers N` against a raw-driver loop in N processes.

`python -m bench.saturation [--backend postgres] [--workers 1,4] [--seconds 10] [--pairs 2]`
loads the synthetic data set (scale 1) once, then alternates, for each worker count, a closed-
loop `mmbench run` of `variant_by_id` (the full harness: parameters drawn, timed loop,
histograms) and the raw-driver twin (`backends/<model>/raw.py`) reading the same rows by
primary key in as many processes for the same time, A B A B. It prints ops/s and the CPU each
spends per operation — client (the processes' own CPU) and server (the local engine's
processes) — with the ratio of the two throughputs per pair. The target (#21): mmbench within
0.9x of the raw loop. The load average is printed: on a shared machine the client's CPU is
taken from the engine.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import statistics
from typing import Any

from backends.base import NAMESPACE_ENV
from bench.adapters import raw_class
from bench.datasets import make_dataset
from bench.runner import RunSettings, Runner, Target, engine_process, tree_cpu_s
from bench.timing import Stopwatch, run_for
from models.catalog import Q

NAMESPACE = "saturation"


def _raw_worker(backend: str, method: str, ids: list[str], seconds: float, start: Any, done: Any, out: Any) -> None:
    os.environ[NAMESPACE_ENV] = NAMESPACE
    raw = raw_class(backend).from_settings()
    try:
        params = [{"variant_id": i} for i in ids]
        getattr(raw, method)(**params[0])  # connected and warm before the start
        start.wait()
        with Stopwatch() as watch:
            n = run_for(seconds, getattr(raw, method), params)
        out.put((n, watch.cpu_ns / 1e9))
        done.wait()  # the connection stays open until the engine's CPU time is read
    finally:
        raw.close()


def raw_loop(backend: str, ids: list[str], workers: int, seconds: float, method: str = "variant_by_id") -> dict[str, float]:
    """A raw loop (`method` of the raw twin) in `workers` processes for `seconds`: ops/s and CPU
    per operation, the engine's read while every worker's connection is open."""
    ctx = mp.get_context("spawn")
    start, done, out = ctx.Barrier(workers + 1), ctx.Barrier(workers + 1), ctx.Queue()
    procs = [ctx.Process(target=_raw_worker, args=(backend, method, ids[w::workers], seconds, start, done, out))
             for w in range(workers)]
    for p in procs:
        p.start()
    engine, _ = engine_process(backend, f":{_port(backend)}")
    start.wait()
    cpu0 = tree_cpu_s(engine) if engine else None
    with Stopwatch() as watch:
        got = [out.get(timeout=seconds + 120) for _ in procs]
    wall = watch.seconds
    cpu1 = tree_cpu_s(engine) if engine else None
    done.wait()
    for p in procs:
        p.join(timeout=30)
    ops = sum(n for n, _ in got)
    return {"ops_per_s": ops / wall, "client_us": sum(c for _, c in got) * 1e6 / ops,
            "server_us": (cpu1 - cpu0) * 1e6 / ops if cpu0 is not None and cpu1 is not None else float("nan")}


def _port(backend: str) -> int:
    from backends import REGISTRY
    from bench.engines import get_engine

    return get_engine(REGISTRY[backend].engine).port


def harness(backend: str, workers: int, seconds: float) -> dict[str, float]:
    """`mmbench run --queries variant_by_id --duration S --workers N --no-load` on what is loaded."""
    settings = RunSettings(datasets=("synthetic",), scale=1, queries=(Q.VARIANT_BY_ID,), duration_s=seconds,
                           warmup=200, workers=workers, load=False, explain=False, namespace=NAMESPACE)
    doc = Runner(settings, [Target.registered(backend)]).run()
    (entry,) = [r for r in doc.results if r["phase"] == "variant_by_id"]
    if entry["status"] != "ok":
        raise RuntimeError(f"the harness run failed: {entry['error']}")
    cpu = entry.get("cpu") or {}
    return {"ops_per_s": entry["ops_per_s"],
            "client_us": cpu.get("client_us_per_op") or float("nan"),
            "server_us": cpu.get("server_us_per_op") or float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="postgres")
    parser.add_argument("--workers", default="1,4", help="comma-separated worker counts")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--pairs", type=int, default=2, help="A B pairs per worker count")
    args = parser.parse_args()
    os.environ[NAMESPACE_ENV] = NAMESPACE
    data = make_dataset("synthetic", scale=1, seed=42).materialize()
    from backends import open_backend

    with open_backend(args.backend) as b:
        b.load(data)
    ids = [v.variant_id for v in data.variant_list]
    random.Random(42).shuffle(ids)
    print(f"{args.backend}: variant_by_id at saturation, closed loop, {args.seconds:g} s per run, {args.pairs} A/B pairs; "
          f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    lean = hasattr(raw_class(args.backend), "variant_row")
    print("raw twin: the same question and the same domain objects; raw lean: one cursor reused, rows as the "
          "driver returns them (the floor of a Python client)")
    print(f"{'workers':>7} {'client':>9} {'ops/s':>10} {'client CPU/op':>14} {'server CPU/op':>14}")
    for workers in (int(w) for w in args.workers.split(",")):
        ratios: dict[str, list[float]] = {"twin": [], "lean": []}
        for _ in range(args.pairs):
            a = harness(args.backend, workers, args.seconds)
            b = raw_loop(args.backend, ids, workers, args.seconds)
            c = raw_loop(args.backend, ids, workers, args.seconds, "variant_row") if lean else None
            ratios["twin"].append(a["ops_per_s"] / b["ops_per_s"])
            if c:
                ratios["lean"].append(a["ops_per_s"] / c["ops_per_s"])
            for name, r in (("mmbench", a), ("raw twin", b), ("raw lean", c)):
                if r:
                    print(f"{workers:7d} {name:>9} {r['ops_per_s']:10,.0f} {r['client_us']:11.1f} µs {r['server_us']:11.1f} µs")
        for name, xs in ratios.items():
            if xs:
                print(f"{workers:7d} mmbench / raw {name} ops/s: median {statistics.median(xs):.2f} "
                      f"(pairs: {', '.join(f'{x:.2f}' for x in xs)})")
    print(f"load average at end {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
