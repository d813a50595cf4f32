"""Shared fixtures: which backends to test, data sets, and a loaded backend per (backend, data set).

Server engines are started by `make test` before pytest runs. A backend whose engine does
not answer FAILS its tests: nothing here skips. Every test runs in the data namespace
`tests.helpers.TEST_NAMESPACE`, never in the default one a user's data lives in.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from backends.base import NAMESPACE_ENV, Backend
from models.dataset import Dataset
from tests.helpers import BACKENDS, DATASET_KEYS, TEST_NAMESPACE, dataset_by_key, fresh_backend

os.environ[NAMESPACE_ENV] = TEST_NAMESPACE  # before any backend opens; inherited by CLI subprocesses


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
