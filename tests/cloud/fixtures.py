"""Fixtures shared by tests/cloud, tests/etl and tests/api (each conftest imports them).

A service that does not answer FAILS the tests that need it (as the engines do): `make test`
starts the local moto server (`mmbench up s3`) and the DynamoDB engine first.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import cloud_env, unique

SEED_CSV = Path(__file__).resolve().parents[2] / "models" / "data" / "seed" / "genomics.csv"


@pytest.fixture(scope="session")
def cloud() -> dict[str, str]:
    """S3 and Glue at MMBENCH_S3_URL / MMBENCH_GLUE_URL (default the local moto server)."""
    env = cloud_env()
    os.environ.update(env)
    from etl.storage import list_buckets

    list_buckets()  # ServiceUnavailable, one line, if nothing answers: start it with `mmbench up s3`
    return env


@pytest.fixture
def bucket(cloud: dict[str, str]) -> Iterator[str]:
    """A fresh bucket (created, emptied and deleted around the test)."""
    from etl.storage import ensure_bucket, s3_client

    name = unique("mmbench-test")
    s3, ep = s3_client()
    ensure_bucket(s3, ep, name)
    yield name
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=obj["Key"])
    s3.delete_bucket(Bucket=name)


@pytest.fixture
def glue_db(cloud: dict[str, str]) -> Iterator[str]:
    """A fresh Glue database base name (the catalog adds the test namespace); dropped after."""
    from etl.catalog import Catalog

    base = unique("db").replace("-", "_")
    yield base
    catalog = Catalog()
    try:
        catalog.glue.delete_database(Name=catalog.database_name(base))
    except catalog.glue.exceptions.EntityNotFoundException:
        pass


@pytest.fixture(scope="session")
def sqlite_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """MMBENCH_SQLITE_URL pointing at a file of this test session (inherited by subprocesses)."""
    path = tmp_path_factory.mktemp("sqlite") / "api.db"
    before = os.environ.get("MMBENCH_SQLITE_URL")
    os.environ["MMBENCH_SQLITE_URL"] = f"sqlite:///{path}"
    yield str(path)
    if before is None:
        os.environ.pop("MMBENCH_SQLITE_URL", None)
    else:
        os.environ["MMBENCH_SQLITE_URL"] = before


@pytest.fixture(scope="session")
def seed_sqlite(sqlite_file: str) -> str:
    """The session's SQLite file holding the seed data set."""
    from backends import open_backend
    from models.seed import seed_dataset

    with open_backend("sqlite") as b:
        b.load(seed_dataset())
    return sqlite_file


@pytest.fixture
def seed_csv(tmp_path: Path) -> Path:
    path = tmp_path / "genomics.csv"
    shutil.copyfile(SEED_CSV, path)
    return path
