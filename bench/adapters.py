"""The adapters' own overhead: each backend against the minimal raw-driver code asking its engine
the same thing (`backends/<model>/raw.py`), side by side on the same loaded data.

`python -m bench.adapters [--backends B,...] [--calls N] [--blocks K] [--scale N]` loads the
synthetic data set into each backend that answers (namespace `adapters`, so nothing else is
touched), checks that adapter and raw code give equal answers for the same parameters, then
times them in interleaved blocks (adapter, raw, adapter, raw, ...: machine drift falls on
both) and prints, per backend and query, the median latency of each and their ratio with its
spread over the blocks. The load average is printed with the table: numbers from a busy
machine say so. With `--load`, it also compares the Neo4j adapter's bulk load of the
variants with a plain `UNWIND $rows CREATE` batch load of the same rows and indexes.
"""

from __future__ import annotations

import argparse
import importlib
import os
import random
import statistics
from collections.abc import Callable
from typing import Any

from backends import REGISTRY, open_backend
from backends.base import NAMESPACE_ENV, Backend
from bench.datasets import make_dataset
from bench.timing import Stopwatch, time_calls
from models.catalog import CATALOG, Q
from models.sampling import SampleSource

QUERIES = (Q.VARIANT_BY_ID, Q.PATIENT_BY_ID, Q.VARIANTS_IN_REGION)
NAMESPACE = "adapters"


def raw_class(backend: str) -> type | None:
    """The raw-driver twin of a backend (`RAW[name]` of `backends/<model>/raw.py`), if it has one."""
    reg = REGISTRY[backend]
    try:
        module = importlib.import_module(f"backends.{reg.target.split('.')[1]}.raw")
    except ImportError:
        return None
    return getattr(module, "RAW", {}).get(backend)


def _time_block(fn: Callable[..., Any], params: list[dict[str, Any]]) -> list[int]:
    return time_calls([(fn, p) for p in params])


def compare_backend(name: str, calls: int, blocks: int, scale: int, seed: int = 42) -> list[dict[str, Any]]:
    """Per query: medians of adapter and raw latencies, and ratio statistics over the blocks."""
    raw_cls = raw_class(name)
    if raw_cls is None:
        return []
    data = make_dataset("synthetic", scale=scale, seed=seed).materialize()
    source = SampleSource.from_dataset(data, seed)
    backend: Backend = open_backend(name)
    try:
        backend.load(data)
        raw = raw_cls.from_settings()
        try:
            rows = []
            for query in QUERIES:
                rng = random.Random(f"adapters:{query}")
                params = [CATALOG[query].sample(source, rng, i) for i in range(calls)]
                adapter_fn, raw_fn = getattr(backend, query.value), getattr(raw, query.value)
                spec = CATALOG[query]
                for p in params[: min(50, calls)]:
                    a, r = spec.canonical(adapter_fn(**p)), spec.canonical(raw_fn(**p))
                    if a != r:
                        raise AssertionError(f"{name}.{query}({p}): the adapter and the raw code answer differently")
                _time_block(adapter_fn, params[:20])
                _time_block(raw_fn, params[:20])  # warm both
                ratios, a_all, r_all = [], [], []
                for _ in range(blocks):
                    a_lat = _time_block(adapter_fn, params)
                    r_lat = _time_block(raw_fn, params)
                    ratios.append(statistics.median(a_lat) / statistics.median(r_lat))
                    a_all += a_lat
                    r_all += r_lat
                rows.append({"backend": name, "query": query.value, "adapter_us": statistics.median(a_all) / 1000,
                             "raw_us": statistics.median(r_all) / 1000, "ratio": statistics.median(ratios),
                             "ratio_min": min(ratios), "ratio_max": max(ratios), "blocks": blocks, "calls": calls})
            return rows
        finally:
            raw.close()
    finally:
        backend.close()


def compare_neo4j_load(scale: int, seed: int = 42) -> dict[str, float] | None:
    """Variants per second: the Neo4j adapter's bulk load vs a plain UNWIND CREATE of the same rows."""
    raw_cls = raw_class("neo4j")
    if raw_cls is None or not hasattr(raw_cls, "load_variants"):
        return None
    from bench.loading import timed_load

    data = make_dataset("synthetic", scale=scale, seed=seed).materialize()
    with open_backend("neo4j") as backend:
        timing = timed_load(backend, data)
    adapter = timing.kinds["variants"].rows_per_s
    raw = raw_cls.from_settings()
    try:
        if hasattr(raw, "prepare_load"):
            raw.prepare_load()  # untimed: the scratch schema
        with Stopwatch() as watch:
            n = raw.load_variants(data.variant_list)
        plain = n / watch.seconds
    finally:
        raw.close()
    return {"adapter_rows_per_s": adapter, "plain_unwind_rows_per_s": plain, "ratio": adapter / plain}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="", help="comma-separated (default: every backend with a raw twin that answers)")
    parser.add_argument("--calls", type=int, default=200, help="calls per block")
    parser.add_argument("--blocks", type=int, default=10, help="interleaved blocks per side")
    parser.add_argument("--scale", type=int, default=1, help="synthetic scale of the data loaded")
    parser.add_argument("--load", action="store_true", help="also compare the Neo4j bulk load with a plain UNWIND")
    args = parser.parse_args()
    os.environ[NAMESPACE_ENV] = NAMESPACE
    names = [n for n in args.backends.split(",") if n] or [n for n in REGISTRY if raw_class(n) is not None]
    print(f"adapter vs raw driver, synthetic scale {args.scale}, {args.blocks} interleaved blocks of {args.calls} calls; "
          f"load average at start {', '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    print(f"{'backend':12} {'query':22} {'adapter p50':>12} {'raw p50':>10} {'ratio':>7}  {'spread':>13}")
    for name in names:
        try:
            rows = compare_backend(name, args.calls, args.blocks, args.scale)
        except Exception as exc:  # noqa: BLE001 - one backend down must not hide the others
            print(f"{name:12} skipped: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
            continue
        for r in rows:
            print(f"{r['backend']:12} {r['query']:22} {r['adapter_us']:9.1f} µs {r['raw_us']:7.1f} µs "
                  f"{r['ratio']:6.2f}×  {r['ratio_min']:.2f}–{r['ratio_max']:.2f}")
    if args.load:
        got = compare_neo4j_load(args.scale)
        if got:
            print(f"neo4j variants load: adapter {got['adapter_rows_per_s']:,.0f} rows/s, plain UNWIND CREATE "
                  f"{got['plain_unwind_rows_per_s']:,.0f} rows/s ({got['ratio']:.2f}×)")
    print(f"load average at end {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
