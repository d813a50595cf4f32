"""`ApiBackend`: the read queries through a real HTTP server (uvicorn subprocess), answers equal
to the reference; loads go to the backend directly; writes are refused; one-line errors."""

from __future__ import annotations

import random
import subprocess
import sys
from collections.abc import Iterator

import pytest

from api.client import ApiServer, api_backend_class, open_api_backend
from backends import backend_class
from backends.base import BackendError, EngineUnavailable, Tier, run_query
from models.catalog import CATALOG, READS, Q
from models.reference import Reference
from models.sampling import SampleSource
from models.seed import seed_dataset
from tests.helpers import dataset_by_key


@pytest.fixture(scope="module")
def server(seed_sqlite: str) -> Iterator[ApiServer]:
    with ApiServer("sqlite") as s:
        yield s


def test_class_mirrors_the_backend() -> None:
    cls = api_backend_class("sqlite")
    assert cls.name == "sqlite+api" and cls.inner == "sqlite" and cls.model == "sql"
    assert cls.tiers == backend_class("sqlite").tiers
    assert cls.tier(Q.ALL_VARIANTS) in (Tier.NATIVE, Tier.CLIENT)


@pytest.mark.parametrize("key", ["seed", "synthetic-2"])
def test_reads_through_http_equal_the_reference(server: ApiServer, key: str) -> None:
    data = dataset_by_key(key)
    with open_api_backend("sqlite", server.url) as b:
        b.load(data)  # directly into SQLite; the server is told to look at once
        assert b.holdings().rows["variants"] == len(data.variant_list)  # type: ignore[union-attr]
        ref, src, rng = Reference(data), SampleSource.from_dataset(data), random.Random(7)
        for q in READS:
            spec = CATALOG[q]
            for i in range(3):
                params = spec.sample(src, rng, i)
                got = run_query(b, q, params)
                assert spec.canonical(got) == spec.canonical(run_query(ref, q, params)), (q, params)
        assert b._http.num_connections == 1  # one keep-alive connection served every request
        info = b.engine_info()
        assert info.product == "SQLite behind the mmbench API" and info.options["via"] == "api"
    with open_api_backend("sqlite", server.url) as b:
        b.load(seed_dataset())


def test_writes_are_refused_and_errors_are_one_line(server: ApiServer) -> None:
    with open_api_backend("sqlite", server.url) as b:
        with pytest.raises(BackendError, match="read-only"):
            b.add_variants(variants=[])
        with pytest.raises(Exception) as info:
            b.patients_with_diagnosis(code="NOPE")
        assert "not an ICD-10-CM code" in str(info.value) and "\n" not in str(info.value)
        assert b.variant_by_id(variant_id="999") is None


def test_unreachable_api_is_engine_unavailable() -> None:
    with pytest.raises(EngineUnavailable) as info:
        open_api_backend("sqlite", "http://127.0.0.1:1")
    assert "cannot reach the API at http://127.0.0.1:1" in str(info.value)


def test_own_server_started_and_stopped(seed_sqlite: str) -> None:
    b = open_api_backend("sqlite")  # no URL: it starts a server of its own
    process = b.server.process  # type: ignore[union-attr]
    assert b.url.startswith("http://127.0.0.1:") and process.poll() is None
    assert [v.variant_id for v in b.variants_by_chromosome(chromosome="4")] == ["7", "8"]
    b.close()
    assert process.poll() is not None


def test_serve_command(seed_sqlite: str) -> None:
    """`mmbench serve --backend sqlite` on loopback, then curl's requests from the issue."""
    import socket
    import time
    import urllib.request

    from api.client import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.cli", "serve", "--backend", "sqlite", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()  # type: ignore[union-attr]
                time.sleep(0.2)
        import json

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/genomics?chromosome=4", timeout=10) as r:
            assert [v["ID"] for v in json.load(r)["items"]] == ["7", "8"]
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/queries/nope", timeout=10)
            raise AssertionError("expected 404")
        except urllib.error.HTTPError as exc:
            assert exc.code == 404 and json.load(exc)["error"].startswith("unknown query 'nope'")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/openapi.json", timeout=10) as r:
            paths = json.load(r)["paths"]
        assert all(f"/queries/{q.value}" in paths for q in READS)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert "serving sqlite on http://127.0.0.1:" in proc.stderr.read().decode()  # type: ignore[union-attr]
