"""Cassandra-specific behaviour against the real engine: the query-first tables (buckets, derived
diagnosis tables), writes keeping every copy consistent, data generations (the atomic load),
query traces in explain, consistency and replication settings, timeouts and errors.

What every backend shares (NotLoaded, one-line errors, a code given twice, atomic loads, holdings,
namespaces) is in tests/conformance/test_contract.py. Tests that need data of their own use a
namespace of their own, dropped afterwards.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from cassandra import ConsistencyLevel
from cassandra.cluster import EXEC_PROFILE_DEFAULT

from backends import open_backend
from backends.base import BackendError, EngineUnavailable, Tier
from backends.column.backend import CassandraBackend, _settings_from_env
from backends.column.schema import BUCKET_BP, bucket
from backends.column.settings import CassandraSettings
from models.catalog import Q
from models.entities import Diagnosis, Patient, PatientRecord, Variant
from models.reference import Reference
from models.seed import seed_dataset
from tests.helpers import other_namespace, same


def drop_namespace(backend: CassandraBackend) -> None:
    """Drop every keyspace of the namespace `backend` works in (its generations and fixed keyspace)."""
    for n in backend._meta.existing():
        backend.session.execute(f"DROP KEYSPACE IF EXISTS {backend._meta.keyspace(n)}", timeout=120)
    backend.session.execute(f"DROP KEYSPACE IF EXISTS {backend._meta.fixed}", timeout=120)


def keyspaces_of(backend: CassandraBackend) -> set[str]:
    names = {name for (name, *_) in backend.session.execute("SELECT keyspace_name FROM system_schema.keyspaces")}
    return {backend._meta.keyspace(n) for n in backend._meta.existing()} | ({backend._meta.fixed} & names)


@pytest.fixture()
def scratch() -> Iterator[str]:
    """A namespace of its own for one test, every keyspace of it dropped afterwards."""
    with other_namespace() as name:
        yield name
        with open_backend("cassandra") as backend:
            drop_namespace(backend)


@pytest.fixture(scope="module")
def seeded() -> Iterator[CassandraBackend]:
    """The seed, loaded in batches of 5 rows: a patient's diagnoses straddle batch boundaries."""
    with other_namespace():
        backend = CassandraBackend.from_settings()
        backend.load(seed_dataset(), batch_size=5)
    yield backend
    drop_namespace(backend)
    backend.close()


@pytest.fixture()
def fresh(scratch: str) -> Iterator[tuple[CassandraBackend, Reference]]:
    """A freshly loaded seed for a test that writes, and its reference."""
    backend = CassandraBackend.from_settings()
    backend.load(seed_dataset(), batch_size=1000)
    yield backend, Reference(seed_dataset())
    backend.close()


# -- the query-first tables

def test_lab_history_of_the_issue(seeded: CassandraBackend) -> None:
    found = seeded.lab_history(patient_id=12345, test_name="Systolic blood pressure",
                               since=dt.date(2024, 1, 1), until=dt.date(2024, 12, 31))
    assert [(r.taken_on, r.value) for r in found] == [(dt.date(2024, 3, 28), 140.0), (dt.date(2024, 6, 30), 135.0)]
    assert seeded.lab_history(patient_id=12345, test_name="Systolic blood pressure",
                              since=dt.date(2024, 12, 31), until=dt.date(2024, 1, 1)) == []


def test_cli_lab_history_of_the_issue(scratch: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.cli", "query", "lab_history", "--backend", "cassandra", "--dataset", "seed",
         "-p", "patient_id=12345", "-p", "test_name=Systolic blood pressure", "-p", "since=2024-01-01",
         "-p", "until=2024-12-31", "--json"],
        check=False, env={**os.environ, "MMBENCH_NAMESPACE": scratch}, text=True, capture_output=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert [(r["taken_on"], r["value"]) for r in json.loads(done.stdout)] == [("2024-03-28", 140.0), ("2024-06-30", 135.0)]
    assert done.stderr.strip() == ""  # no driver warnings leak (protocol downgrade, aggregation without partition key)


def test_only_the_joins_are_client_side() -> None:
    client = {q for q in Q if CassandraBackend.tier(q) is Tier.CLIENT}
    assert client == {Q.CARRIERS_WITH_DIAGNOSIS, Q.PATIENTS_SHARING_DIAGNOSES}


def test_derived_tables_survive_small_batches(seeded: CassandraBackend) -> None:
    """patients_by_diagnosis and comorbidities are derived after the last diagnosis batch."""
    data = seed_dataset()
    reference = Reference(data)
    for code in sorted({d.code for d in data.diagnoses()}):
        assert same(seeded, reference, Q.PATIENTS_WITH_DIAGNOSIS, code=code)
        assert same(seeded, reference, Q.COMORBID_CODES, code=code)
    for patient in data.patients():
        assert same(seeded, reference, Q.PATIENTS_SHARING_DIAGNOSES, patient_id=patient.patient_id)
        assert same(seeded, reference, Q.PATIENT_BY_ID, patient_id=patient.patient_id)
    for min_age in (None, 0, 50, 200):
        assert same(seeded, reference, Q.DIAGNOSIS_COUNTS, min_age=min_age)


def test_every_region_row_is_in_its_bucket(seeded: CassandraBackend) -> None:
    rows = seeded.session.execute(f"SELECT bucket, position FROM {seeded._current.keyspace}.variants_by_region")
    assert all(b == bucket(p) for b, p in rows)


def test_regions_across_bucket_boundaries(fresh: tuple[CassandraBackend, Reference]) -> None:
    backend, reference = fresh
    edge = 3 * BUCKET_BP
    calls = [Variant(f"edge-{i}", "22", edge + offset, "A", "G", "AG", 40.0, 30, 12345)
             for i, offset in enumerate((-1, 0, 1, 25 * BUCKET_BP))]
    backend.add_variants(variants=calls)
    reference.add_variants(variants=calls)
    found = backend.variants_in_region(chromosome="22", start=edge - 10, end=edge + 10)
    assert [v.variant_id for v in found] == ["edge-0", "edge-1", "edge-2"]
    # a region over many buckets reads only those that exist (variant_buckets), in order
    assert same(backend, reference, Q.VARIANTS_IN_REGION, chromosome="22", start=-(10**30), end=10**30)
    assert same(backend, reference, Q.VARIANTS_BY_CHROMOSOME, chromosome="22")
    assert same(backend, reference, Q.VARIANTS_IN_REGION, chromosome="22", start=edge + 5, end=edge - 5)
    assert same(backend, reference, Q.CARRIERS_WITH_DIAGNOSIS, chromosome="22", start=1, end=10**12, code="I10")


def test_concurrent_diagnoses_of_one_patient_keep_every_pair(fresh: tuple[CassandraBackend, Reference]) -> None:
    """Two writers adding codes to one patient at once: each re-derives after writing, so the
    comorbidity pair of the two new codes is never lost, whatever the interleaving."""
    backend, reference = fresh
    record = PatientRecord(Patient(777001, "Test Patient", 70, "F"),
                           (Diagnosis(800, 777001, "I10", dt.date(2025, 1, 1)),))
    backend.add_patient(patient=record)
    reference.add_patient(patient=record)
    rounds = [("A01.0", "B02.0"), ("C03.0", "D04.0"), ("E05.0", "F06.0")]
    writes = [{"diagnosis_id": 810 + i, "patient_id": 777001, "code": code, "diagnosed_on": dt.date(2025, 2, 1)}
              for i, code in enumerate(c for pair in rounds for c in pair)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        for first, second in zip(writes[::2], writes[1::2], strict=True):
            list(pool.map(lambda p: backend.add_diagnosis(**p), (first, second)))
    for params in writes:
        reference.add_diagnosis(**params)
    for params in writes:
        assert same(backend, reference, Q.COMORBID_CODES, code=params["code"])
    assert same(backend, reference, Q.PATIENTS_SHARING_DIAGNOSES, patient_id=777001)


def test_a_patient_with_many_codes(fresh: tuple[CassandraBackend, Reference]) -> None:
    """12 codes derive 12 + 132 rows: more than one LOGGED batch, every copy still written."""
    backend, reference = fresh
    codes = [f"Z{n:02d}.0" for n in range(12)]
    record = PatientRecord(Patient(777002, "Many Codes", 81, "M"),
                           tuple(Diagnosis(900 + n, 777002, code, dt.date(2025, 3, 1)) for n, code in enumerate(codes)))
    backend.add_patient(patient=record)
    reference.add_patient(patient=record)
    assert same(backend, reference, Q.PATIENT_BY_ID, patient_id=777002)
    for code in codes:
        assert same(backend, reference, Q.COMORBID_CODES, code=code)
        assert same(backend, reference, Q.PATIENTS_WITH_DIAGNOSIS, code=code)


# -- generations: the atomic load

def test_reset_makes_an_empty_generation_current_and_drops_the_old(fresh: tuple[CassandraBackend, Reference]) -> None:
    backend, _ = fresh
    before = backend._current.keyspace
    backend.reset()
    assert backend.all_variants() == [] and backend.patient_by_id(patient_id=12345) is None
    assert backend.diagnosis_counts() == [] and backend.holdings() is None
    assert keyspaces_of(backend) == {backend._meta.fixed, backend._current.keyspace}
    assert before != backend._current.keyspace
    backend.reset()  # idempotent
    assert backend.holdings() is None and len(keyspaces_of(backend)) == 2


def test_a_killed_load_leaves_an_orphan_that_the_next_load_drops(fresh: tuple[CassandraBackend, Reference]) -> None:
    backend, _ = fresh
    current = backend._current.keyspace
    with CassandraBackend.from_settings() as doomed:  # "killed": it never switches nor cleans up
        doomed.begin_load()
        doomed.write_batch("variants", seed_dataset().variant_list[:3])
        orphan = doomed._staging.keyspace
    assert keyspaces_of(backend) == {backend._meta.fixed, current, orphan}
    assert len(backend.all_variants()) == 10 and backend.holdings().dataset == "seed"
    backend.load(seed_dataset())
    assert keyspaces_of(backend) == {backend._meta.fixed, backend._current.keyspace}
    assert orphan not in keyspaces_of(backend) and current not in keyspaces_of(backend)


def test_a_reader_follows_a_load_made_elsewhere(fresh: tuple[CassandraBackend, Reference]) -> None:
    """The generation a reader resolved is dropped by another process's load: its next read
    resolves the new one (and prepares its statements again) instead of failing."""
    reader, _ = fresh
    assert len(reader.all_variants()) == 10
    small = dataclasses.replace(seed_dataset(), name="small", description=None,
                                variant_list=seed_dataset().variant_list[:2])
    with CassandraBackend.from_settings() as loader:
        loader.load(small)
    assert len(reader.all_variants()) == 2
    assert reader.variant_by_id(variant_id="1") is not None and reader.variant_by_id(variant_id="3") is None
    assert reader.holdings().dataset == "small"


def test_of_two_concurrent_loads_the_newer_wins(fresh: tuple[CassandraBackend, Reference]) -> None:
    backend, _ = fresh
    older = CassandraBackend.from_settings()
    try:
        older.begin_load()  # claims generation n
        small = dataclasses.replace(seed_dataset(), name="small", description=None,
                                    variant_list=seed_dataset().variant_list[:2])
        backend.load(small)  # claims n + 1, switches, drops everything older (n too)
        with pytest.raises(BackendError) as caught:
            older.write_batch("variants", seed_dataset().variant_list)
            older.end_load(backend.holdings())
        assert "\n" not in str(caught.value)
        older.abort_load()
    finally:
        older.close()
    assert len(backend.all_variants()) == 2 and backend.holdings().dataset == "small"
    assert keyspaces_of(backend) == {backend._meta.fixed, backend._current.keyspace}


def test_tables_of_the_layout_before_generations_are_dropped(scratch: str) -> None:
    with CassandraBackend.from_settings() as backend:
        fixed = backend._meta.fixed
        backend.session.execute(f"CREATE KEYSPACE {fixed} WITH replication = "
                                "{'class': 'SimpleStrategy', 'replication_factor': 1}", timeout=120)
        backend.session.execute(f"CREATE TABLE {fixed}.variants (variant_id text PRIMARY KEY)", timeout=120)
        backend.load(seed_dataset())
        tables = {t for (t, *_) in backend.session.execute(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s", (fixed,))}
        assert tables == {"current", "writes"}


def test_holdings_count_writes_per_generation(fresh: tuple[CassandraBackend, Reference]) -> None:
    backend, _ = fresh
    backend.record_writes(5)
    assert backend.holdings().writes_since == 5
    backend.load(seed_dataset())
    assert backend.holdings().writes_since == 0


# -- explain: statements, traces, counts

def test_explain_reads_the_work_from_the_query_trace(seeded: CassandraBackend) -> None:
    e = seeded.explain(Q.VARIANTS_MIN_DEPTH, {"min_depth": 50})
    (statement,) = e.statements
    assert statement.language == "cql" and "depth > ?" in statement.text and statement.params == [50]
    assert e.plan and e.plan[0]["events"], "a non-empty query trace"
    assert any("variants_depth_sai" in line for line in e.plan_summary)
    assert (e.work.answer, e.work.returned, e.work.examined, e.work.round_trips) == (4, 4, 4, 1)
    assert e.server_us and e.server_us > 0
    region = seeded.explain(Q.VARIANTS_IN_REGION, {"chromosome": "4", "start": 900007, "end": 1200008})
    assert region.work.answer == 2 and region.work.round_trips == 1  # one bucket: one partition read
    assert region.plan_summary == ["variants_by_region: single-partition read, 2 rows read"]


def test_explaining_a_write_runs_it_on_scratch_ids_then_deletes_them(seeded: CassandraBackend) -> None:
    before = seeded.patients_with_diagnosis(code="I10"), seeded.comorbid_codes(code="I10")
    e = seeded.explain(Q.ADD_DIAGNOSIS, {"diagnosis_id": 9001, "patient_id": 12345, "code": "Z99.9",
                                         "diagnosed_on": dt.date(2025, 1, 1)})
    scratch = e.statements[0].params[1]
    assert scratch < 0 and "scratch" in e.undone and e.work.examined is not None
    assert any("BATCH" in s.text for s in e.statements)  # the derived rows, re-written in a LOGGED batch
    assert seeded.patient_by_id(patient_id=scratch) is None
    assert seeded.patients_with_diagnosis(code="Z99.9") == [] and seeded.comorbid_codes(code="Z99.9") == []
    assert (seeded.patients_with_diagnosis(code="I10"), seeded.comorbid_codes(code="I10")) == before


# -- settings: consistency, replication, timeouts, errors

def test_read_and_write_consistency_are_separate_settings(monkeypatch: pytest.MonkeyPatch,
                                                          seeded: CassandraBackend) -> None:
    monkeypatch.setenv("MMBENCH_CASSANDRA_CONSISTENCY", "quorum")
    assert (_settings_from_env().read_level, _settings_from_env().write_level) == ("QUORUM", "QUORUM")
    monkeypatch.setenv("MMBENCH_CASSANDRA_READ_CONSISTENCY", "one")
    monkeypatch.setenv("MMBENCH_CASSANDRA_WRITE_CONSISTENCY", "all")
    settings = _settings_from_env()
    assert (settings.read_level, settings.write_level) == ("ONE", "ALL")
    with other_namespace(seeded._meta.namespace), CassandraBackend.from_settings(settings) as backend:
        assert backend.variant_by_id(variant_id="3") is not None
        assert backend._stmts["variant_by_id"].consistency_level == ConsistencyLevel.ONE
        assert backend._prepare("insert_variant").consistency_level == ConsistencyLevel.ALL
        options = backend.engine_info().options
        assert options["read_consistency"] == "ONE" and options["write_consistency"] == "ALL"
        assert options["replication"].startswith("SimpleStrategy (replication_factor 1)")
        assert options["nodes"] == "1 up of 1"
    monkeypatch.setenv("MMBENCH_CASSANDRA_WRITE_CONSISTENCY", "most")
    with pytest.raises(BackendError, match="MMBENCH_CASSANDRA_WRITE_CONSISTENCY") as caught:
        _settings_from_env()
    assert "\n" not in str(caught.value)


def test_the_replication_factor_follows_the_node_count() -> None:
    simple = CassandraSettings()
    assert [simple.replication_map(n)["replication_factor"] for n in (1, 2, 3, 5)] == ["1", "2", "3", "3"]
    assert CassandraSettings(replication_factor=2).replication_map(5)["replication_factor"] == "2"
    nts = CassandraSettings(replication="NetworkTopologyStrategy", datacenters="dc1:3, dc2:2")
    assert nts.replication_map(9) == {"class": "org.apache.cassandra.locator.NetworkTopologyStrategy",
                                      "dc1": "3", "dc2": "2"}


def test_network_topology_keyspace(scratch: str) -> None:
    with CassandraBackend.from_settings() as probe:
        (dc,), = probe.session.execute("SELECT data_center FROM system.local")
    settings = CassandraSettings(replication="NetworkTopologyStrategy", datacenters=f"{dc}:1", consistency="QUORUM")
    with CassandraBackend.from_settings(settings) as backend:
        backend.load(seed_dataset(), batch_size=100)
        (replication,), = backend.session.execute(
            "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s", (backend._current.keyspace,))
        assert replication == {"class": "org.apache.cassandra.locator.NetworkTopologyStrategy", dc: "1"}
        assert [v.variant_id for v in backend.variants_by_chromosome(chromosome="4")] == ["7", "8"]
        assert backend.session.get_execution_profile(EXEC_PROFILE_DEFAULT).consistency_level == ConsistencyLevel.QUORUM


def test_settings_bound_every_driver_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMBENCH_CASSANDRA_REQUEST_TIMEOUT", "7.5")
    monkeypatch.setenv("MMBENCH_CASSANDRA_CONNECT_TIMEOUT", "2.5")
    with open_backend("cassandra") as backend:
        assert backend.session.get_execution_profile(EXEC_PROFILE_DEFAULT).request_timeout == 7.5
        assert backend.cluster.connect_timeout == 2.5 and backend.cluster.control_connection_timeout == 2.5
    monkeypatch.setenv("MMBENCH_CASSANDRA_KEYSPACE", "a_keyspace_base_too_long")
    with pytest.raises(BackendError, match="MMBENCH_CASSANDRA_KEYSPACE"):
        _settings_from_env()


def test_a_server_that_never_answers_fails_in_bounded_time_with_one_line() -> None:
    """A port that accepts connections but never speaks CQL (a hung node): no hang."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.extend(server.accept() for _ in range(4)), daemon=True).start()
    started = time.monotonic()
    try:
        with pytest.raises(EngineUnavailable) as caught:
            CassandraBackend.from_settings(CassandraSettings(port=server.getsockname()[1], connect_timeout=1))
    finally:
        server.close()
    assert time.monotonic() - started < 30
    assert "\n" not in str(caught.value) and "mmbench up cassandra" in str(caught.value)


def test_credentials_never_reach_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMBENCH_CASSANDRA_USERNAME", "lecturer")
    monkeypatch.setenv("MMBENCH_CASSANDRA_PASSWORD", "pa:ss@w/rd")
    monkeypatch.setenv("MMBENCH_CASSANDRA_PORT", "1")
    monkeypatch.setenv("MMBENCH_CASSANDRA_CONNECT_TIMEOUT", "0.5")
    with pytest.raises(EngineUnavailable) as caught:
        open_backend("cassandra")
    assert "pa:ss@w/rd" not in str(caught.value)
    assert "pa:ss@w/rd" not in repr(_settings_from_env())


def test_importing_the_backend_installs_no_logging_filter() -> None:
    """The driver's aggregation-warning filter is installed when a backend is created (#18)."""
    code = ("import logging, backends.column.backend as b; "
            "assert not logging.getLogger('cassandra.protocol').filters; "
            "b._install_log_filter(); b._install_log_filter(); "
            "assert len(logging.getLogger('cassandra.protocol').filters) == 1")
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
