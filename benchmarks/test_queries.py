"""Every catalog query on every backend, one pytest-benchmark group per query.

Parameters are the same seeded sequences `mmbench run` uses (`bench.workloads.QueryPhase`),
drawn before timing: reads cycle through a pre-drawn list inside a calibrated benchmark;
writes take fresh parameters per round from pedantic mode's untimed setup (each write needs
fresh ids). Within a backend the reads run first, so they see exactly the loaded data set.
"""

from __future__ import annotations

from itertools import cycle, islice

import pytest

from backends.base import Backend
from benchmarks.conftest import ROUNDS, SEED, describe
from bench.runner import Prepared, phase_seed
from bench.workloads import QUERY_PHASES
from models.catalog import CATALOG, READS, WRITES

PARAMS_PER_READ = 1000


@pytest.mark.parametrize("query", [q.value for q in (*READS, *WRITES)])
def test_query(benchmark, loaded: Backend, prepared: Prepared, query: str) -> None:
    phase = QUERY_PHASES[query]
    benchmark.group = query
    benchmark.extra_info["tier"] = loaded.tier(phase.query).value
    describe(benchmark, loaded)
    call = getattr(loaded, query)
    ops = phase.ops(prepared.source, phase_seed(SEED, prepared.key, query), 0)
    if CATALOG[phase.query].is_write:
        benchmark.pedantic(call, setup=lambda: ((), next(ops).params), rounds=ROUNDS, warmup_rounds=2)
    else:
        params = cycle([op.params for op in islice(ops, PARAMS_PER_READ)])
        benchmark(lambda: call(**next(params)))
