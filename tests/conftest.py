"""Shared fixtures: which backends to test, data sets, and a loaded backend per (backend, data set).

Server engines are started by `make test` before pytest runs. A backend whose engine does
not answer FAILS its tests: nothing here skips. Every test runs in the data namespace
`tests.helpers.TEST_NAMESPACE`, never in the default one a user's data lives in.

`make test` runs the tests in parallel processes (pytest-xdist, `--dist loadgroup`): each
worker has a namespace of its own, and `pytest_collection_modifyitems` groups the tests so
that what must not run at once runs in one worker: a backend's tests together (they share
its loaded data sets), the tests of one file together, and everything that starts a Cassandra
ring or a PostgreSQL replica (fixed addresses) in one group.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from backends.base import NAMESPACE_ENV, Backend
from models.dataset import Dataset
from tests.helpers import BACKENDS, DATASET_KEYS, TEST_NAMESPACE, dataset_by_key, fresh_backend

os.environ[NAMESPACE_ENV] = TEST_NAMESPACE  # before any backend opens; inherited by CLI subprocesses


CLUSTER_FILES = ("tests/engines/test_cassandra_ring.py", "tests/engines/test_postgres_replica.py",
                 "tests/demos/test_cluster_demos.py")
"""Tests that start the 3-node ring (127.0.0.2-4) or the replica (port 5433): never two at once."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = item.nodeid.split("::")[0]
        params = getattr(getattr(item, "callspec", None), "params", {})
        if path in CLUSTER_FILES:
            group = "cluster"
        elif "backend_name" in params:
            group = f"backend-{params['backend_name']}"
        else:
            group = path
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session", params=BACKENDS)
def backend_name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session", params=DATASET_KEYS)
def dataset(request: pytest.FixtureRequest) -> Dataset:
    return dataset_by_key(request.param)


@pytest.fixture(scope="session")
def loaded(backend_name: str, dataset: Dataset) -> Iterator[Backend]:
    """A backend holding `dataset`; read-only tests share it."""
    backend = fresh_backend(backend_name, dataset)
    yield backend
    backend.close()
