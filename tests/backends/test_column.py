"""Cassandra-specific behaviour against the real engine: the issue's special cases, the query-first
tables (buckets, derived diagnosis tables), writes keeping copies consistent, reset, settings, errors.

Each test uses its own keyspace (never `mmbench`), so it cannot disturb what the CLI or the
conformance suite holds.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from cassandra import ConsistencyLevel
from cassandra.cluster import EXEC_PROFILE_DEFAULT

from backends import open_backend
from backends.base import BackendError, EngineUnavailable, Tier, run_query
from backends.column.backend import CassandraBackend, _settings_from_env
from backends.column.schema import BUCKET_BP, bucket
from backends.column.settings import CassandraSettings
from models.catalog import CATALOG, Q
from models.entities import Diagnosis, Patient, PatientRecord, Variant
from models.reference import Reference
from models.seed import seed_dataset

KEYSPACE = "mmbench_column_tests"


def open_keyspace(keyspace: str = KEYSPACE, **settings: object) -> CassandraBackend:
    return CassandraBackend.from_settings(CassandraSettings(keyspace=keyspace, **settings))


def same(backend: CassandraBackend, reference: Reference, query: Q, **params: object) -> bool:
    spec = CATALOG[query]
    return spec.canonical(run_query(backend, query, params)) == spec.canonical(run_query(reference, query, params))


@pytest.fixture(scope="module")
def seeded() -> Iterator[CassandraBackend]:
    """The seed, loaded in batches of 5 rows: a patient's diagnoses straddle batch boundaries."""
    backend = open_keyspace()
    backend.reset()
    backend.load(seed_dataset(), batch_size=5)
    yield backend
    backend.close()


@pytest.fixture()
def fresh() -> Iterator[tuple[CassandraBackend, Reference]]:
    """A freshly loaded seed for a test that writes, and its reference."""
    backend = open_keyspace()
    backend.reset()
    backend.load(seed_dataset(), batch_size=1000)
    yield backend, Reference(seed_dataset())
    backend.close()


def test_lab_history_of_the_issue(seeded: CassandraBackend) -> None:
    found = seeded.lab_history(patient_id=12345, test_name="Systolic blood pressure",
                               since=dt.date(2024, 1, 1), until=dt.date(2024, 12, 31))
    assert [(r.taken_on, r.value) for r in found] == [(dt.date(2024, 3, 28), 140.0), (dt.date(2024, 6, 30), 135.0)]
    assert seeded.lab_history(patient_id=12345, test_name="Systolic blood pressure",
                              since=dt.date(2024, 12, 31), until=dt.date(2024, 1, 1)) == []


def test_cli_lab_history_of_the_issue() -> None:
    env = {**os.environ, "MMBENCH_CASSANDRA_KEYSPACE": "mmbench_column_cli"}
    done = subprocess.run(
        [sys.executable, "-m", "bench.cli", "query", "lab_history", "--backend", "cassandra", "--dataset", "seed",
         "-p", "patient_id=12345", "-p", "test_name=Systolic blood pressure", "-p", "since=2024-01-01",
         "-p", "until=2024-12-31", "--json"],
        env=env, text=True, capture_output=True, timeout=300,
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
    codes = sorted({d.code for d in data.diagnoses()})
    for code in codes:
        assert same(seeded, reference, Q.PATIENTS_WITH_DIAGNOSIS, code=code)
        assert same(seeded, reference, Q.COMORBID_CODES, code=code)
    for patient in data.patients():
        assert same(seeded, reference, Q.PATIENTS_SHARING_DIAGNOSES, patient_id=patient.patient_id)
        assert same(seeded, reference, Q.PATIENT_BY_ID, patient_id=patient.patient_id)
    for min_age in (None, 0, 50, 200):
        assert same(seeded, reference, Q.DIAGNOSIS_COUNTS, min_age=min_age)


def test_every_region_row_is_in_its_bucket(seeded: CassandraBackend) -> None:
    rows = seeded.session.execute(f"SELECT bucket, position FROM {KEYSPACE}.variants_by_region")
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


def test_a_code_given_twice_counts_once(fresh: tuple[CassandraBackend, Reference]) -> None:
    backend, reference = fresh
    for diagnosis_id, day in ((900, 1), (901, 2)):
        params = {"diagnosis_id": diagnosis_id, "patient_id": 12355, "code": "I10",
                  "diagnosed_on": dt.date(2025, 1, day)}
        backend.add_diagnosis(**params)
        reference.add_diagnosis(**params)
    assert len(backend.patient_by_id(patient_id=12355).diagnoses) == 2
    for query, params in ((Q.DIAGNOSIS_COUNTS, {"min_age": None}), (Q.PATIENTS_WITH_DIAGNOSIS, {"code": "I10"}),
                          (Q.COMORBID_CODES, {"code": "I10"}), (Q.PATIENTS_SHARING_DIAGNOSES, {"patient_id": 12355})):
        assert same(backend, reference, query, **params)


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
        for first, second in zip(writes[::2], writes[1::2]):
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


def test_reset_empties_and_keeps_a_current_schema(fresh: tuple[CassandraBackend, Reference]) -> None:
    backend, _ = fresh
    assert backend._schema_is_current()
    backend.reset()  # the TRUNCATE path
    assert backend.all_variants() == [] and backend.patient_by_id(patient_id=12345) is None
    assert backend.diagnosis_counts() == []
    backend.reset()  # idempotent
    assert backend._schema_is_current()


def test_network_topology_keyspace(seeded: CassandraBackend) -> None:
    """A changed replication is a changed schema: reset re-creates the keyspace with it."""
    (dc,), = seeded.session.execute("SELECT data_center FROM system.local")
    with open_keyspace("mmbench_column_nts", replication="NetworkTopologyStrategy", datacenters=f"{dc}:1",
                       consistency="QUORUM") as backend:
        backend.reset()
        (replication,), = backend.session.execute(
            "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = 'mmbench_column_nts'")
        assert replication == {"class": "org.apache.cassandra.locator.NetworkTopologyStrategy", dc: "1"}
        assert backend._schema_is_current()
        backend.load(seed_dataset(), batch_size=100)
        assert [v.variant_id for v in backend.variants_by_chromosome(chromosome="4")] == ["7", "8"]
        assert backend.session.get_execution_profile(EXEC_PROFILE_DEFAULT).consistency_level == ConsistencyLevel.QUORUM
        backend.session.execute("DROP KEYSPACE mmbench_column_nts")


def test_queries_before_any_load_say_what_to_do() -> None:
    with open_keyspace("mmbench_column_absent") as backend:
        backend.session.execute("DROP KEYSPACE IF EXISTS mmbench_column_absent")
        with pytest.raises(BackendError) as caught:
            backend.variant_by_id(variant_id="1")
    message = str(caught.value)
    assert "mmbench load --backend cassandra --dataset seed" in message and "\n" not in message


def test_unreachable_engine_is_one_line() -> None:
    with pytest.raises(EngineUnavailable) as caught:
        open_keyspace(contact_points="127.0.0.1", port=1, connect_timeout=2)
    message = str(caught.value)
    assert "127.0.0.1:1" in message and "mmbench up cassandra" in message and "\n" not in message


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMBENCH_CASSANDRA_KEYSPACE", KEYSPACE)
    monkeypatch.setenv("MMBENCH_CASSANDRA_CONSISTENCY", "quorum")
    monkeypatch.setenv("MMBENCH_CASSANDRA_CONTACT_POINTS", "127.0.0.1, localhost")
    settings = _settings_from_env()
    assert settings.consistency_level == ConsistencyLevel.QUORUM and settings.hosts == ["127.0.0.1", "localhost"]
    with open_backend("cassandra") as backend:
        info = backend.engine_info()
        assert info.product == "Apache Cassandra" and info.version.startswith("5.") and not info.emulator
        assert info.driver.startswith("cassandra-driver ")
    for name, value, fragment in (("CONSISTENCY", "most", "MMBENCH_CASSANDRA_CONSISTENCY"),
                                  ("KEYSPACE", "my-keyspace", "MMBENCH_CASSANDRA_KEYSPACE"),
                                  ("REPLICATION", "NetworkTopologyStrategy", "datacenters")):
        monkeypatch.setenv(f"MMBENCH_CASSANDRA_{name}", value)
        with pytest.raises(BackendError, match=fragment) as caught:
            _settings_from_env()
        assert "\n" not in str(caught.value)
        monkeypatch.delenv(f"MMBENCH_CASSANDRA_{name}")

