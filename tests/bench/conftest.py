"""Fixtures of the harness tests: a PostgreSQL server of their own, which they may kill."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.engines.postgres import Postgres


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def private_postgres(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Postgres]:
    """A PostgreSQL server of our own (own data directory and port), so we may kill it."""
    monkeypatch.setenv("MMBENCH_RUNTIME", str(tmp_path / "runtime"))
    engine = Postgres()
    engine.port = free_port()
    engine.start(timeout=120)
    monkeypatch.setenv("MMBENCH_POSTGRES_URL", f"postgresql+psycopg://postgres@127.0.0.1:{engine.port}/mmbench")
    yield engine
    engine.stop()
    shutil.rmtree(engine._server_root(), ignore_errors=True)
