"""The pytest-benchmark suite: the same catalog, parameters and backends as `mmbench run`.

Run it with `pytest benchmarks/` (the project's `testpaths` is `tests`, so it runs only when
asked). Each catalog query is one benchmark group, so pytest-benchmark prints one table per
query with the backends side by side; `test_load.py` times bulk loading per backend.

Environment:
  MMBENCH_BENCH_BACKENDS  comma-separated backends (default: sqlite and every engine that
                          answers; the ones that do not are named in the header)
  MMBENCH_BENCH_DATASET   seed or synthetic (default synthetic), with
  MMBENCH_BENCH_SCALE / MMBENCH_BENCH_SEED (default 1 / 42)
  MMBENCH_BENCH_ROUNDS    rounds of each write benchmark (default 50; reads are calibrated
                          by pytest-benchmark within --benchmark-max-time)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from backends import REGISTRY, open_backend
from backends.base import Backend, BackendError
from bench.runner import Prepared, prepare_dataset

DATASET = os.environ.get("MMBENCH_BENCH_DATASET", "synthetic")
SCALE = int(os.environ.get("MMBENCH_BENCH_SCALE", "1"))
SEED = int(os.environ.get("MMBENCH_BENCH_SEED", "42"))
ROUNDS = int(os.environ.get("MMBENCH_BENCH_ROUNDS", "50"))

_chosen: list[str] | None = None
_skipped: dict[str, str] = {}
_emulated: set[str] = set()


def bench_backends() -> list[str]:
    """The backends to benchmark: as asked, or sqlite plus every engine that answers now.
    Each is opened once here, to learn whether its engine is an emulator (marked in test ids)."""
    global _chosen
    if _chosen is None:
        asked = [b for b in os.environ.get("MMBENCH_BENCH_BACKENDS", "").split(",") if b]
        _chosen = []
        for name in asked or REGISTRY:
            try:
                with open_backend(name) as b:
                    if b.engine_info().emulator:
                        _emulated.add(name)
            except BackendError as exc:
                if not asked:  # asked for by name: kept, and its tests fail with this error
                    _skipped[name] = str(exc)
                    continue
            _chosen.append(name)
    return _chosen


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = [f"mmbench: backends {', '.join(bench_backends())}; data set {DATASET}"
             + (f" scale {SCALE} seed {SEED}" if DATASET != "seed" else "")]
    lines += [f"mmbench: not benchmarked: {why}" for why in _skipped.values()]
    return lines


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend_name" in metafunc.fixturenames:
        names = bench_backends()
        metafunc.parametrize("backend_name", names, scope="session",
                             ids=[f"{n}(emulator)" if n in _emulated else n for n in names])


@pytest.fixture(scope="session")
def prepared() -> Prepared:
    """The data set, its parameter source (the same seeded questions as `mmbench run`)."""
    return prepare_dataset(DATASET, SCALE, SEED)


@pytest.fixture(scope="session")
def backend(backend_name: str) -> Iterator[Backend]:
    b = open_backend(backend_name)
    yield b
    b.close()


@pytest.fixture(scope="session")
def loaded(backend: Backend, prepared: Prepared) -> Backend:
    """The backend holding the data set (reads run before writes: tests are in catalog order)."""
    backend.load(prepared.data, batch_size=5000)  # an atomic replace
    return backend


def describe(benchmark: Any, backend: Backend) -> None:
    """What the results JSON should say about the engine (emulator or not)."""
    info = backend.engine_info()
    benchmark.extra_info.update(engine=f"{info.product} {info.version}", emulator=info.emulator, driver=info.driver)
