"""SQL backends specifics (sqlite, postgres, postgres:jsonb), against the real engines.

Namespaces as PostgreSQL schemas and SQLite files, credentials in URLs, bounded waits, the
explain cases of issue 12, the client-path settings and the JSONB design's documents. What
every backend shares (atomic load, holdings, NotLoaded, one-line errors) is in
tests/conformance.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from backends import open_backend
from backends.base import BackendError, EngineUnavailable, NotLoaded
from backends.sql.settings import (
    PostgresSettings,
    SQLiteSettings,
    parse_url,
    sqlite_database,
)
from models.catalog import Q
from models.entities import PatientRecord
from models.generate import SyntheticDataset
from models.reference import Reference
from models.seed import seed_dataset
from tests.helpers import (
    BACKENDS,
    assert_same,
    draws,
    fresh_backend,
    other_namespace,
    seed_answers,
)

SQL_BACKENDS = [b for b in ("sqlite", "postgres", "postgres:jsonb") if b in BACKENDS]
PG = [b for b in ("postgres", "postgres:jsonb") if b in BACKENDS]
LOCAL_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/mmbench"
SECRET = "p@ss:w/rd@x"  # unencoded @ : / in a password


def _pg() -> psycopg.Connection:
    url = parse_url(os.environ.get("MMBENCH_POSTGRES_URL") or LOCAL_PG, "postgres", "MMBENCH_POSTGRES_URL")
    return psycopg.connect(host=url.host, port=url.port, user=url.username, password=url.password,
                           dbname=url.database, autocommit=True, connect_timeout=5)


@pytest.fixture(scope="module")
def synthetic() -> Any:
    return SyntheticDataset(scale=1, seed=4).materialize()


# -- namespaces


@pytest.mark.skipif(not PG, reason="no PostgreSQL backend under test")
def test_a_namespace_is_a_postgres_schema_shared_by_the_designs_with_their_own_tables() -> None:
    small = dataclasses.replace(seed_dataset(), name="small", description=None,
                                variant_list=seed_dataset().variant_list[:3])
    with other_namespace() as ns:
        relational = fresh_backend("postgres", seed_dataset())
        documents = fresh_backend("postgres:jsonb", small)  # the same namespace, the other design
        try:
            assert relational.engine_info().options["schema"] == f"mmbench_{ns}"
            with _pg() as conn:
                tables = {r[0] for r in conn.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (f"mmbench_{ns}",))}
            assert {"patients", "diagnoses", "lab_results", "variants", "mmbench_holdings",
                    "jsonb_patients", "jsonb_lab_results", "jsonb_variants", "jsonb_holdings"} <= tables
            assert len(relational.all_variants()) == 10 and relational.holdings().dataset == "seed"
            assert len(documents.all_variants()) == 3 and documents.holdings().dataset == "small"
            e = relational.explain(Q.VARIANT_BY_ID, {"variant_id": "3"})
            assert f"mmbench_{ns}.variants" in e.statements[0].text  # statements name the schema, as sent
        finally:
            relational.close()
            documents.close()
            with _pg() as conn:
                conn.execute(f'DROP SCHEMA "mmbench_{ns}" CASCADE')


def test_the_default_namespace_keeps_unqualified_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MMBENCH_NAMESPACE", raising=False)
    if "postgres" in BACKENDS:
        with open_backend("postgres") as b:
            assert b.engine_info().options["schema"].startswith("the search path")
    assert sqlite_database(SQLiteSettings(url="sqlite:////data/bench.db")) == "/data/bench.db"


def test_sqlite_keeps_a_file_per_namespace_next_to_the_one_named(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMBENCH_SQLITE_URL", f"sqlite:///{tmp_path / 'bench.db'}")
    with other_namespace("lecture"):
        assert sqlite_database(SQLiteSettings()) == str(tmp_path / "bench-lecture.db")
        b = fresh_backend("sqlite", seed_dataset())
        b.close()
    assert (tmp_path / "bench-lecture.db").exists() and not (tmp_path / "bench.db").exists()
    assert sqlite_database(SQLiteSettings(url="sqlite://")) is None  # in memory: private to its backend


def test_sqlite_in_memory_loads_answers_and_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMBENCH_SQLITE_URL", "sqlite://")
    with open_backend("sqlite") as b:
        with pytest.raises(NotLoaded):
            b.holdings()
        b.load(seed_dataset())
        assert b.holdings().dataset == "seed" and len(b.all_variants()) == 10


def test_sqlite_readers_see_the_old_data_while_a_load_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMBENCH_SQLITE_URL", f"sqlite:///{tmp_path / 'load.db'}")
    loader = fresh_backend("sqlite", seed_dataset())
    reader = open_backend("sqlite")
    before = seed_answers(reader)
    try:
        loader.begin_load()  # the new tables exist only inside the load's transaction
        loader.write_batch("patients", seed_dataset().patient_list[:2])
        assert seed_answers(reader) == before and reader.holdings().dataset == "seed"
        loader.abort_load()
        assert seed_answers(loader) == before
    finally:
        loader.close()
        reader.close()


# -- credentials and bounded waits


@pytest.mark.skipif("postgres" not in BACKENDS, reason="postgres not under test")
def test_a_password_with_unencoded_at_colon_slash_never_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMBENCH_POSTGRES_URL", f"postgresql+psycopg://u:{SECRET}@127.0.0.1:1/db")
    with pytest.raises(EngineUnavailable) as caught:
        open_backend("postgres")
    assert "127.0.0.1:1/db" in str(caught.value)
    monkeypatch.setenv("MMBENCH_POSTGRES_URL", f"postgresql+psycopg://u:{SECRET}@127.0.0.1:notaport/db")
    with pytest.raises(BackendError) as bad:
        open_backend("postgres")
    assert "MMBENCH_POSTGRES_URL" in str(bad.value) and "notaport" in str(bad.value)
    # the local server trusts every password: the whole password reached the driver, and nothing shows it
    monkeypatch.setenv("MMBENCH_POSTGRES_URL", LOCAL_PG.replace("postgres@", f"postgres:{SECRET}@"))
    with open_backend("postgres") as b:
        info = b.engine_info()
        assert b.engine.url.password == SECRET
    shown = " ".join([str(caught.value), str(bad.value), repr(info), repr(b.engine)])
    for part in ("ss:w", "w/rd", "rd@x", "@x@", SECRET):
        assert part not in shown


class _FreezingProxy:
    """A TCP proxy to PostgreSQL that can stop forwarding (a server that stopped answering while
    the network still acknowledges)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target, self.frozen = target, threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                while self.frozen.is_set():
                    time.sleep(0.05)
                b.sendall(data)
        except OSError:
            pass


@pytest.mark.skipif("postgres" not in BACKENDS, reason="postgres not under test")
def test_a_server_that_stops_answering_fails_a_read_instead_of_hanging(monkeypatch: pytest.MonkeyPatch) -> None:
    url = parse_url(os.environ.get("MMBENCH_POSTGRES_URL") or LOCAL_PG, "postgres", "MMBENCH_POSTGRES_URL")
    proxy = _FreezingProxy((url.host or "127.0.0.1", url.port or 5432))
    monkeypatch.setenv("MMBENCH_POSTGRES_URL", str(url.set(port=proxy.port).render_as_string(hide_password=False)))
    monkeypatch.setenv("MMBENCH_POSTGRES_STATEMENT_TIMEOUT_MS", "500")
    with other_namespace():
        backend = open_backend("postgres")
        try:
            with pytest.raises(NotLoaded):
                backend.holdings()  # the engine answers through the proxy
            proxy.frozen.set()
            with pytest.raises(EngineUnavailable) as caught:
                backend.holdings()
            assert "did not answer within 2.5 s" in str(caught.value) and "\n" not in str(caught.value)
        finally:
            backend.close()
            proxy.sock.close()


@pytest.mark.skipif("postgres" not in BACKENDS, reason="postgres not under test")
def test_a_statement_past_the_timeout_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMBENCH_POSTGRES_STATEMENT_TIMEOUT_MS", "100")
    with open_backend("postgres") as b, pytest.raises(BackendError) as caught:
        b._all("SELECT pg_sleep(2)")
    assert "statement timeout" in str(caught.value) and "MMBENCH_POSTGRES_STATEMENT_TIMEOUT_MS=100" in str(caught.value)


@pytest.mark.parametrize(("env", "value"), [("MMBENCH_POSTGRES_CONNECT_TIMEOUT", "soon"),
                                            ("MMBENCH_POSTGRES_STATEMENT_TIMEOUT_MS", "0"),
                                            ("MMBENCH_POSTGRES_PREPARE_THRESHOLD", "-2"),
                                            ("MMBENCH_SQLITE_TIMEOUT", "-1")])
def test_a_bad_timeout_or_client_setting_is_one_line_naming_it(env: str, value: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(BackendError) as caught:
        open_backend("sqlite" if "SQLITE" in env else "postgres")
    assert env in str(caught.value) and "\n" not in str(caught.value)


# -- explain (issue 12, done-when)


@pytest.fixture(scope="module")
def seeded() -> Iterator[dict[str, Any]]:
    backends = {name: fresh_backend(name, seed_dataset()) for name in SQL_BACKENDS}
    yield backends
    for b in backends.values():
        b.close()


@pytest.mark.skipif("sqlite" not in BACKENDS, reason="sqlite not under test")
def test_sqlite_explains_a_key_lookup_with_its_index(seeded: dict[str, Any]) -> None:
    e = seeded["sqlite"].explain(Q.VARIANT_BY_ID, {"variant_id": "3"})
    assert any("USING INDEX" in s or "PRIMARY KEY" in s for s in e.plan_summary), e.plan_summary
    assert e.work.returned == 1 and e.work.examined == 1 and e.work.cost["vm_steps"] > 0
    assert e.statements[0].params == {"variant_id": "3"} and "?" in e.statements[0].text
    p = seeded["sqlite"].explain(Q.PATIENT_BY_ID, {"patient_id": 12345})
    assert p.plan_summary[0] == "SEARCH patients USING INTEGER PRIMARY KEY (rowid=?)"
    assert p.work.examined is None and "nested loops" in p.work.reasons["examined"]
    scan = seeded["sqlite"].explain(Q.ALL_VARIANTS, {})
    assert scan.plan_summary == ["SCAN variants"] and scan.work.examined == 10
    assert scan.work.cost["fullscan_steps"] > 0


@pytest.mark.skipif(not PG, reason="no PostgreSQL backend under test")
@pytest.mark.parametrize("name", PG)
def test_postgres_explains_with_explain_analyze(seeded: dict[str, Any], name: str) -> None:
    e = seeded[name].explain(Q.VARIANTS_MIN_DEPTH, {"min_depth": 50})
    assert e.work.returned == 4 and e.work.answer == 4 and e.work.examined == 10  # the seed's 10 variants scanned
    assert "Execution Time" in e.plan[0]["explain"] and "Actual Rows" in e.plan[0]["explain"]["Plan"]
    assert e.server_us and e.server_us > 0 and e.work.cost["shared_hit"] + e.work.cost["shared_read"] > 0
    assert "%s" in e.statements[0].text and e.statements[0].params == {"min_depth": 50}


@pytest.mark.skipif(not PG, reason="no PostgreSQL backend under test")
@pytest.mark.parametrize(("name", "index"), [("postgres", "variants_pkey"), ("postgres:jsonb", "ix_jsonb_variants_key")])
def test_postgres_key_and_region_reads_use_their_indexes(name: str, index: str, synthetic: Any) -> None:
    if name not in BACKENDS:
        pytest.skip(f"{name} not under test")
    with other_namespace():
        b = fresh_backend(name, synthetic)
        try:
            (v,) = synthetic.variant_list[:1]
            key = b.explain(Q.VARIANT_BY_ID, {"variant_id": v.variant_id})
            assert f"using {index} " in key.plan_summary[0] and key.work.examined == 1
            region = b.explain(Q.VARIANTS_IN_REGION, {"chromosome": v.chromosome, "start": v.position,
                                                      "end": v.position})
            assert any("_region" in s for s in region.plan_summary), region.plan_summary
        finally:
            b.close()


# -- client-path settings (#21)


@pytest.mark.skipif("postgres" not in BACKENDS, reason="postgres not under test")
def test_the_postgres_client_path_settings_keep_answers_and_are_recorded(seeded: dict[str, Any]) -> None:
    from backends.sql.backend import PostgresBackend

    reference = Reference(seed_dataset())
    with PostgresBackend.from_settings(PostgresSettings(prepare_threshold=0, binary=True, pipeline=True)) as b:
        assert b.engine_info().options | {"prepare_threshold": "0", "result_format": "binary",
                                          "write_pipeline": "on"} == b.engine_info().options
        for query in (Q.VARIANT_BY_ID, Q.PATIENT_BY_ID, Q.VARIANTS_IN_REGION, Q.LAB_HISTORY, Q.DIAGNOSIS_COUNTS):
            for params in draws(query, seed_dataset(), n=3):
                for _ in range(2):  # prepared from the first execution on
                    assert_same(b, reference, query, params)
        (params,) = draws(Q.ADD_DIAGNOSIS, seed_dataset(), n=1, seed=5)
        e = b.explain(Q.ADD_DIAGNOSIS, params)
        assert e.work.round_trips == 1 and e.undone
    assert seed_answers(seeded["postgres"]) == seed_answers(Reference(seed_dataset()))


# -- the JSONB design


@pytest.mark.skipif("postgres:jsonb" not in BACKENDS, reason="postgres:jsonb not under test")
def test_jsonb_patients_are_documents_with_their_diagnoses_embedded_in_order(seeded: dict[str, Any]) -> None:
    b = seeded["postgres:jsonb"]
    b.add_diagnosis(diagnosis_id=901, patient_id=12345, code="A00", diagnosed_on=dt.date(2000, 1, 1))
    try:
        (doc,) = b._all(b._q.patient_by_id, (12345,))[0]
        assert set(doc) == {"patient_id", "name", "age", "sex", "diagnoses"}
        days = [d["diagnosed_on"] for d in doc["diagnoses"]]
        assert days == sorted(days) and doc["diagnoses"][0] == {"diagnosis_id": 901, "code": "A00",
                                                                  "diagnosed_on": "2000-01-01"}
        with pytest.raises(BackendError, match="no patient 4242"):
            b.add_diagnosis(diagnosis_id=902, patient_id=4242, code="A00", diagnosed_on=dt.date(2000, 1, 1))
    finally:
        b.load(seed_dataset())


@pytest.mark.skipif("postgres:jsonb" not in BACKENDS, reason="postgres:jsonb not under test")
def test_jsonb_load_refuses_a_diagnosis_of_a_missing_patient_and_keeps_the_old_documents(
        seeded: dict[str, Any]) -> None:
    b = seeded["postgres:jsonb"]
    before = seed_answers(b)
    data = seed_dataset()
    stray = dataclasses.replace(data.diagnosis_list[0], diagnosis_id=999, patient_id=4242)
    with pytest.raises(BackendError, match="patient 4242"):
        b.load(dataclasses.replace(data, name="stray", diagnosis_list=[*data.diagnosis_list, stray]))
    assert seed_answers(b) == before and b.holdings().dataset == "seed"


@pytest.mark.skipif("postgres:jsonb" not in BACKENDS, reason="postgres:jsonb not under test")
def test_jsonb_explains_unnesting_as_examined_records(seeded: dict[str, Any]) -> None:
    e = seeded["postgres:jsonb"].explain(Q.COMORBID_CODES, {"code": "I10"})
    assert any(s.startswith("Function Scan") for s in e.plan_summary), e.plan_summary
    assert e.work.examined is not None and e.work.examined > e.work.answer
    assert '[{"code": "I10"}]' in [s.params.get("has_code") for s in e.statements]


@pytest.mark.skipif("postgres:jsonb" not in BACKENDS, reason="postgres:jsonb not under test")
def test_jsonb_answers_a_patient_added_with_unordered_diagnoses(seeded: dict[str, Any]) -> None:
    b = seeded["postgres:jsonb"]
    reference = Reference(seed_dataset())
    (params,) = draws(Q.ADD_PATIENT, seed_dataset(), n=1, seed=3)
    patient: PatientRecord = params["patient"]
    shuffled = dataclasses.replace(patient, diagnoses=tuple(reversed(patient.diagnoses)))
    try:
        for target in (b, reference):
            target.add_patient(patient=shuffled)
        assert_same(b, reference, Q.PATIENT_BY_ID, {"patient_id": patient.patient.patient_id})
    finally:
        b.load(seed_dataset())


def test_sqlite_explain_sees_an_index_dropped_by_another_connection(tmp_path) -> None:
    """A cached EXPLAIN would go on describing the old schema: each explanation is prepared afresh."""
    import sqlite3

    from backends import open_backend
    from models.seed import seed_dataset
    from tests.helpers import other_namespace

    with other_namespace(), open_backend("sqlite") as backend:
        backend.load(seed_dataset())
        assert "USING INDEX ix_variants_depth" in " ".join(backend.explain("variants_min_depth", {"min_depth": 50}).plan_summary)
        other = sqlite3.connect(backend.address)
        other.execute("DROP INDEX ix_variants_depth")
        other.commit()
        other.close()
        assert backend.explain("variants_min_depth", {"min_depth": 50}).plan_summary == ["SCAN variants"]
