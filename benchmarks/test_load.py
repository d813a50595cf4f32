"""Bulk loading of the data set into every backend (each round an atomic replace of the last)."""

from __future__ import annotations

import os

from backends.base import Backend
from benchmarks.conftest import describe
from bench.runner import Prepared

LOAD_ROUNDS = int(os.environ.get("MMBENCH_BENCH_LOAD_ROUNDS", "3"))


def test_load(benchmark, backend: Backend, prepared: Prepared) -> None:
    benchmark.group = f"load {prepared.key}"
    describe(benchmark, backend)
    stats = benchmark.pedantic(lambda: backend.load(prepared.data, batch_size=5000),
                               rounds=LOAD_ROUNDS, warmup_rounds=0)
    benchmark.extra_info["rows"] = stats.total
