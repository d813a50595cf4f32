"""Helpers shared by test modules (fixtures live in conftest.py; nothing here is a test).

Tests run in their own data namespace (`MMBENCH_TEST_NAMESPACE`, default `test`), so a test
session never touches the data a lecture or a benchmark loaded into the default namespace.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import secrets
from collections.abc import Iterator
from typing import Any

from backends import REGISTRY, open_backend
from backends.base import NAMESPACE_ENV, Backend, run_query
from models.catalog import CATALOG, Q
from models.dataset import Dataset, MemoryDataset
from models.generate import SyntheticDataset
from models.reference import Reference
from models.sampling import SampleSource
from models.seed import seed_dataset

_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1...: each pytest-xdist worker its own namespace
TEST_NAMESPACE = os.environ.get("MMBENCH_TEST_NAMESPACE", "test") + (f"_{_WORKER}" if _WORKER else "")
BACKENDS = [b for b in (os.environ.get("MMBENCH_TEST_BACKENDS") or ",".join(REGISTRY)).split(",") if b]
SYNTHETIC_SEEDS = (1, 2, 3)
DATASET_KEYS = ["seed", *(f"synthetic-{s}" for s in SYNTHETIC_SEEDS)]
DRAWS = 4

# How to point each backend at an address where nothing answers, and how to give it a setting
# it must refuse (environment variables; designs share their backend's settings).
UNREACHABLE_ENV: dict[str, dict[str, str]] = {
    "sqlite": {"MMBENCH_SQLITE_URL": "sqlite:////proc/no-such-dir/mmbench.db"},
    "postgres": {"MMBENCH_POSTGRES_URL": "postgresql+psycopg://postgres@127.0.0.1:1/mmbench"},
    "dynamodb": {"MMBENCH_DYNAMODB_URL": "http://127.0.0.1:1", "MMBENCH_DYNAMODB_TIMEOUT": "0.5"},
    "mongodb": {"MMBENCH_MONGODB_URL": "mongodb://127.0.0.1:1", "MMBENCH_MONGODB_TIMEOUT_MS": "300"},
    "cassandra": {"MMBENCH_CASSANDRA_PORT": "1", "MMBENCH_CASSANDRA_CONNECT_TIMEOUT": "0.5"},
    "neo4j": {"MMBENCH_NEO4J_URL": "bolt://127.0.0.1:1", "MMBENCH_NEO4J_CONNECT_TIMEOUT": "0.5"},
}
BAD_SETTING_ENV: dict[str, dict[str, str]] = {
    "sqlite": {"MMBENCH_SQLITE_URL": "postgresql://not-sqlite"},
    "postgres": {"MMBENCH_POSTGRES_URL": "postgresql+psycopg://u:p@127.0.0.1:notaport/db"},
    "dynamodb": {"MMBENCH_DYNAMODB_WORKERS": "0"},
    "mongodb": {"MMBENCH_MONGODB_WRITE_CONCERN": "most"},
    "cassandra": {"MMBENCH_CASSANDRA_CONSISTENCY": "SOME"},
    "neo4j": {"MMBENCH_NEO4J_URL": "http://127.0.0.1:7474"},
}


def base_name(backend: str) -> str:
    """The backend a design belongs to (`mongodb:referenced` -> `mongodb`)."""
    return REGISTRY[backend].base


def dataset_by_key(key: str) -> MemoryDataset:
    if key == "seed":
        return seed_dataset()
    _, _, seed = key.partition("-")
    return SyntheticDataset(scale=1, seed=int(seed)).materialize()


def fresh_backend(name: str, data: Dataset) -> Backend:
    """`name` holding exactly `data` (the load replaces whatever the namespace held)."""
    backend = open_backend(name)
    backend.load(data, batch_size=1000)
    return backend


@contextlib.contextmanager
def other_namespace(name: str | None = None) -> Iterator[str]:
    """Run the body in another data namespace (a fresh random one by default)."""
    name = name or f"t{secrets.token_hex(4)}"
    before = os.environ.get(NAMESPACE_ENV)
    os.environ[NAMESPACE_ENV] = name
    try:
        yield name
    finally:
        if before is None:
            os.environ.pop(NAMESPACE_ENV, None)
        else:
            os.environ[NAMESPACE_ENV] = before


def draws(spec_name: Q, data: Dataset, n: int = DRAWS, seed: int = 7) -> list[dict[str, Any]]:
    """`n` parameter sets for a query, drawn from `data` as a benchmark would."""
    source = SampleSource.from_dataset(data, seed=seed)
    rng = random.Random(f"{seed}-{spec_name}")
    return [CATALOG[spec_name].sample(source, rng, i) for i in range(n)]


def assert_same(backend: Backend, reference: Reference, query: Q, params: dict[str, Any]) -> None:
    """`backend` answers `query(params)` exactly as the reference does (canonical form)."""
    spec = CATALOG[query]
    expected = spec.canonical(run_query(reference, query, params))
    actual = spec.canonical(run_query(backend, query, params))
    assert actual == expected, f"{backend.name}.{query}({params})"


def same(backend: Backend, reference: Reference, query: Q, **params: Any) -> bool:
    spec = CATALOG[query]
    return spec.canonical(run_query(backend, query, params)) == spec.canonical(run_query(reference, query, params))


def seed_answers(backend: Backend) -> dict[str, Any]:
    """The canonical answers to a fixed set of reads on the seed (to check data survived)."""
    reads: list[tuple[Q, dict[str, Any]]] = [
        (Q.ALL_VARIANTS, {}), (Q.PATIENTS_OLDER_THAN, {"age": 0}), (Q.DIAGNOSIS_COUNTS, {"min_age": None}),
        (Q.PATIENT_BY_ID, {"patient_id": 12345}),
        (Q.LAB_HISTORY, {"patient_id": 12345, "test_name": "HbA1c", "since": dt.date(2000, 1, 1),
                         "until": dt.date(2100, 1, 1)}),
    ]
    return {f"{q}({p})": CATALOG[q].canonical(run_query(backend, q, p)) for q, p in reads}


# ---------------------------------------------------------------- the cloud hands-on (tests/cloud, etl, api)

CLOUD_DEFAULT_URL = "http://127.0.0.1:5000"


def cloud_env() -> dict[str, str]:
    """Where the cloud tests find S3 and Glue: MMBENCH_S3_URL / MMBENCH_GLUE_URL (default: the
    local moto server of `mmbench up s3`)."""
    s3 = os.environ.get("MMBENCH_S3_URL") or CLOUD_DEFAULT_URL
    return {"MMBENCH_S3_URL": s3, "MMBENCH_GLUE_URL": os.environ.get("MMBENCH_GLUE_URL") or s3}


def unique(prefix: str) -> str:
    """A fresh lower-case name for a bucket, Glue database or table (`prefix-1a2b3c4d`)."""
    return f"{prefix}-{secrets.token_hex(4)}"
