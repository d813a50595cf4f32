"""Shared fixtures: which backends to test, data sets, and a loaded backend per (backend, data set).

Server engines are started by `make test` before pytest runs. A backend whose engine does
not answer FAILS its tests: nothing here skips.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from backends import REGISTRY, open_backend
from backends.base import Backend
from models.dataset import Dataset, MemoryDataset
from models.generate import SyntheticDataset
from models.seed import seed_dataset

BACKENDS = [b for b in (os.environ.get("MMBENCH_TEST_BACKENDS") or ",".join(REGISTRY)).split(",") if b]
SYNTHETIC_SEEDS = (1, 2, 3)


def dataset_by_key(key: str) -> MemoryDataset:
    if key == "seed":
        return seed_dataset()
    name, _, seed = key.partition("-")
    return SyntheticDataset(scale=1, seed=int(seed)).materialize()


DATASET_KEYS = ["seed", *(f"synthetic-{s}" for s in SYNTHETIC_SEEDS)]


@pytest.fixture(scope="session", params=BACKENDS)
def backend_name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session", params=DATASET_KEYS)
def dataset(request: pytest.FixtureRequest) -> Dataset:
    return dataset_by_key(request.param)


def fresh_backend(name: str, data: Dataset) -> Backend:
    backend = open_backend(name)
    backend.reset()
    backend.load(data, batch_size=1000)
    return backend


@pytest.fixture(scope="session")
def loaded(backend_name: str, dataset: Dataset) -> Iterator[Backend]:
    """A backend holding `dataset`; read-only tests share it."""
    backend = fresh_backend(backend_name, dataset)
    yield backend
    backend.close()
