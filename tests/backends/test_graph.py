"""The Neo4j backend's own promises, against the real engine: the graph's shape and schema in its
label scope, index-anchored plans, the generation switch (stale readers, a killed load, a second
load waiting), atomic writes, and the settings. What every backend shares (atomic load, holdings,
namespaces, NotLoaded, one-line errors) is in tests/conformance/test_contract.py.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from neo4j import GraphDatabase

from backends import open_backend
from backends.base import BackendError
from backends.graph import schema
from backends.graph.backend import Neo4jBackend
from backends.graph.engine import GraphBackend
from backends.graph.settings import Neo4jSettings
from models.catalog import Q
from models.dataset import MemoryDataset
from models.entities import Diagnosis, Patient, PatientRecord
from models.generate import SyntheticDataset
from models.seed import seed_dataset
from tests.helpers import fresh_backend, other_namespace, seed_answers


def _graph_rows(statement: str, **params: object) -> list[list]:
    """Ask the engine directly, past the backend."""
    settings = Neo4jSettings()
    with GraphDatabase.driver(settings.url, auth=settings.auth) as driver:
        return [list(r) for r in driver.execute_query(statement, params, database_=settings.database).records]


def _scope(backend: GraphBackend) -> str:
    return backend.resolve().scope


@pytest.fixture()
def seeded() -> Iterator[Neo4jBackend]:
    backend = fresh_backend("neo4j", seed_dataset())
    yield backend
    backend.close()


def test_seed_graph_shape(seeded: Neo4jBackend) -> None:
    data, scope = seed_dataset(), _scope(seeded)
    count = {label: _graph_rows(f"MATCH (n:{label}_{scope}) RETURN count(n)")[0][0]
             for label in schema.LABELS}
    assert count == {"Patient": len(data.patient_list), "Diagnosis": len({d.code for d in data.diagnosis_list}),
                     "LabResult": len(data.lab_result_list), "Variant": len(data.variant_list)}
    rels = {t: _graph_rows(f"MATCH ()-[r:{t}_{scope}]->() RETURN count(r)")[0][0] for t in schema.TYPES}
    assert rels == {"HAS_DIAGNOSIS": len(data.diagnosis_list), "HAS_RESULT": len(data.lab_result_list),
                    "CARRIES": sum(v.patient_id is not None for v in data.variant_list)}
    # foreign keys are relationships, never copied properties
    for label in ("Diagnosis", "LabResult", "Variant"):
        assert _graph_rows(f"MATCH (n:{label}_{scope}) WHERE n.patient_id IS NOT NULL RETURN count(n)")[0][0] == 0


def test_only_the_current_slot_has_data_and_schema(seeded: Neo4jBackend) -> None:
    scope = _scope(seeded)
    other = scope[:-1] + ("b" if scope.endswith("a") else "a")
    online = dict(_graph_rows("SHOW INDEXES YIELD name, state RETURN name, state"))
    for item in schema.DESIGN.schema:
        assert online[f"{item.name}_{scope}"] == "ONLINE"
        assert f"{item.name}_{other}" not in online
    assert _graph_rows(f"MATCH (n:Patient_{other}) RETURN count(n)")[0][0] == 0
    seeded.load(seed_dataset())  # the next load switches slots and drops the old one
    assert _scope(seeded) == other
    assert _graph_rows(f"MATCH (n:Patient_{scope}) RETURN count(n)")[0][0] == 0
    assert not {f"{item.name}_{scope}" for item in schema.DESIGN.schema} & {
        r[0] for r in _graph_rows("SHOW INDEXES YIELD name RETURN name")}


def test_namespaces_have_their_own_labels_and_indexes(seeded: Neo4jBackend) -> None:
    with other_namespace() as ns:
        other = fresh_backend("neo4j", seed_dataset())
        try:
            assert _scope(other).startswith(f"{ns}_") and ns not in _scope(seeded)
            names = {r[0] for r in _graph_rows("SHOW INDEXES YIELD name RETURN name")}
            assert {f"{item.name}_{_scope(other)}" for item in schema.DESIGN.schema} <= names
        finally:
            other.close()


@pytest.mark.parametrize(("query", "params", "anchor"), [
    (Q.VARIANT_BY_ID, {"variant_id": "3"}, "NodeUniqueIndexSeek"),
    (Q.PATIENTS_SHARING_DIAGNOSES, {"patient_id": 12345}, "NodeUniqueIndexSeek"),
    (Q.COMORBID_CODES, {"code": "I10"}, "NodeUniqueIndexSeek"),
    (Q.CARRIERS_WITH_DIAGNOSIS, {"chromosome": "4", "start": 1, "end": 2_000_000, "code": "I10"}, "NodeIndexSeek"),
    (Q.LAB_HISTORY, {"patient_id": 12345, "test_name": "Systolic blood pressure", "since": dt.date(2000, 1, 1),
                     "until": dt.date(2030, 1, 1)}, "NodeUniqueIndexSeek"),
    (Q.VARIANTS_IN_REGION, {"chromosome": "4", "start": 1, "end": 2_000_000}, "NodeIndexSeek"),
    (Q.PATIENTS_OLDER_THAN, {"age": 50}, "NodeIndexSeekByRange"),
])
def test_queries_start_from_an_index(seeded: Neo4jBackend, query: Q, params: dict, anchor: str) -> None:
    e = seeded.explain(query, params)
    operators = [line.split()[0] for line in e.plan_summary]
    assert anchor in operators, e.plan_summary
    data_scans = [line for line in e.plan_summary if line.split()[0] in {"AllNodesScan", "NodeByLabelScan"}
                  and "MMBenchMeta" not in line]  # the generation guard reads the one pointer node
    assert not data_scans, e.plan_summary
    assert e.work.examined and e.work.examined > 0 and e.work.cost["db_hits"] == e.work.examined
    assert e.statements[0].text.startswith("MATCH (:MMBenchMeta_") and "PROFILE" not in e.statements[0].text


def test_explaining_a_write_rolls_it_back(seeded: Neo4jBackend) -> None:
    e = seeded.explain(Q.ADD_DIAGNOSIS, {"diagnosis_id": 900, "patient_id": 12345, "code": "Q99.9",
                                         "diagnosed_on": dt.date(2025, 1, 1)})
    assert [s.params["rows"][0]["diagnosed_on"] for s in e.statements[1:]] == ["2025-01-01"]
    assert e.work.examined > 0 and e.undone.startswith("rolled back")
    assert seeded.patients_with_diagnosis(code="Q99.9") == []
    assert _graph_rows(f"MATCH (c:Diagnosis_{_scope(seeded)} {{code: 'Q99.9'}}) RETURN count(c)")[0][0] == 0


def test_a_reader_follows_a_load_made_elsewhere(seeded: Neo4jBackend) -> None:
    """A backend caches its generation's statements; after another process's load (twice: the
    slot it cached is reused) its guard matches nothing, and it asks the new generation."""
    assert len(seeded.all_variants()) == 10
    small = MemoryDataset("small", seed_dataset().patient_list, [], [], seed_dataset().variant_list[:3])
    with open_backend("neo4j") as other:
        other.load(small)
        assert len(seeded.all_variants()) == 3
        other.load(seed_dataset())
        other.load(small)  # the slot `seeded` cached first is current again, one generation on
    assert len(seeded.all_variants()) == 3
    assert seeded.variant_by_id(variant_id="9") is None
    seeded.add_variants(variants=[seed_dataset().variant_list[-1]])  # a write retries on the new generation
    assert seeded.variant_by_id(variant_id=seed_dataset().variant_list[-1].variant_id) is not None


def test_a_killed_load_is_cleaned_by_the_next(seeded: Neo4jBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    """A killed load leaves its lease and a half-written slot; the next load waits until the lease
    lapses (MMBENCH_NEO4J_LOAD_LEASE), takes over and empties that slot before writing it."""
    before = seed_answers(seeded)
    dying = open_backend("neo4j")
    dying.begin_load()
    dying.write_batch("patients", seed_dataset().patient_list)
    staging = dying._loading.staging.scope
    dying._driver.close()  # like a killed process: nothing refreshes its lease any more
    dying._loading = None
    assert _graph_rows(f"MATCH (n:Patient_{staging}) RETURN count(n)")[0][0] == len(seed_dataset().patient_list)
    assert seed_answers(seeded) == before
    monkeypatch.setenv("MMBENCH_NEO4J_LOAD_LEASE", "2")
    with open_backend("neo4j") as next_load:
        started = time.monotonic()
        next_load.load(seed_dataset())
        assert time.monotonic() - started >= 1  # it waited for the lease to lapse
    assert _scope(seeded) == staging and seed_answers(seeded) == before


def test_a_second_load_waits_for_the_first() -> None:
    first, second = open_backend("neo4j"), open_backend("neo4j")
    try:
        first.begin_load()
        done: list[float] = []
        waiter = threading.Thread(target=lambda: (second.load(seed_dataset()), done.append(time.monotonic())))
        waiter.start()
        time.sleep(1.0)
        assert not done, "the second load did not wait for the lock"
        released = time.monotonic()
        first.abort_load()
        waiter.join(timeout=120)
        assert done and done[0] >= released
        assert second.holdings().dataset == "seed"
    finally:
        first.close()
        second.close()


def test_write_to_a_missing_patient_rolls_back(seeded: Neo4jBackend) -> None:
    with pytest.raises(BackendError, match="1 of 1 diagnoses name a patient that does not exist"):
        seeded.add_diagnosis(diagnosis_id=999, patient_id=1, code="Q99.9", diagnosed_on=dt.date(2025, 1, 1))
    assert seeded.patients_with_diagnosis(code="Q99.9") == []
    assert _graph_rows(f"MATCH (c:Diagnosis_{_scope(seeded)} {{code: 'Q99.9'}}) RETURN count(c)")[0][0] == 0


def test_add_patient_is_atomic(seeded: Neo4jBackend) -> None:
    """A duplicate diagnosis id fails the whole write: the new patient is not there either."""
    record = PatientRecord(Patient(99, "New", 40, "F"), (Diagnosis(1, 99, "I10", dt.date(2025, 1, 1)),))
    with pytest.raises(BackendError) as err:
        seeded.add_patient(patient=record)
    assert "ConstraintValidationFailed" in str(err.value) and "\n" not in str(err.value)
    assert seeded.patient_by_id(patient_id=99) is None


def test_a_load_with_an_orphan_fails_and_keeps_the_old_data(seeded: Neo4jBackend) -> None:
    seed = seed_dataset()
    orphan = Diagnosis(10_000, 1, "I10", dt.date(2025, 1, 1))
    bad = MemoryDataset("bad", seed.patient_list, [*seed.diagnosis_list, orphan], seed.lab_result_list,
                        seed.variant_list)
    before, scope = seed_answers(seeded), _scope(seeded)
    with pytest.raises(BackendError, match="name a patient that does not exist"):
        seeded.load(bad, batch_size=5)
    assert seed_answers(seeded) == before and _scope(seeded) == scope
    staging = scope[:-1] + ("b" if scope.endswith("a") else "a")
    assert _graph_rows(f"MATCH (n:Patient_{staging}) RETURN count(n)")[0][0] == 0


def test_engine_info() -> None:
    with Neo4jBackend.from_settings() as backend:
        info = backend.engine_info()
    assert info.product.startswith("Neo4j ") and info.version.startswith("5.")
    assert not info.emulator and info.driver.startswith("neo4j-python-driver ")
    assert info.options["database"] == "neo4j" and "db.relationship_grouping_threshold" in info.options


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMBENCH_NEO4J_URL", "neo4j+s://example.databases.neo4j.io")
    monkeypatch.setenv("MMBENCH_NEO4J_USER", "reader")
    monkeypatch.setenv("MMBENCH_NEO4J_PASSWORD", "s3cret")
    monkeypatch.setenv("MMBENCH_NEO4J_DATABASE", "bench")
    settings = Neo4jSettings()
    assert (settings.url, settings.database, settings.auth) == (
        "neo4j+s://example.databases.neo4j.io", "bench", ("reader", "s3cret"))
    assert "s3cret" not in repr(settings)
    assert Neo4jSettings(user="").auth is None


def test_credentials_in_the_url_never_reach_the_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMBENCH_NEO4J_URL", "bolt://user:p@ss/w:rd@127.0.0.1:1")
    with pytest.raises(BackendError) as err:
        open_backend("neo4j")
    message = str(err.value)
    assert "p@ss" not in message and "w:rd" not in message and "\n" not in message


def test_cli_patients_sharing_diagnoses() -> None:
    """Issue 7's command: patient 12354 shares the most codes (2) with 12345."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.cli", "query", "patients_sharing_diagnoses", "--backend", "neo4j",
         "--dataset", "seed", "-p", "patient_id=12345", "--json"],
        env={**os.environ, "COLUMNS": "200"}, text=True, capture_output=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0] == {"patient_id": 12354, "shared": 2}


def test_synthetic_load_counts(seeded: Neo4jBackend) -> None:
    data = SyntheticDataset(scale=1, seed=3).materialize()
    stats = seeded.load(data, batch_size=2000)
    assert seeded.holdings().rows == stats.rows
    scope = _scope(seeded)
    assert _graph_rows(f"MATCH ()-[r:HAS_DIAGNOSIS_{scope}]->() RETURN count(r)")[0][0] == stats.rows["diagnoses"]


# -- the neo4j:properties design

@pytest.fixture()
def props() -> Iterator[GraphBackend]:
    backend = fresh_backend("neo4j:properties", seed_dataset())
    yield backend
    backend.close()


def test_properties_keep_diagnoses_as_aligned_lists(props: GraphBackend) -> None:
    data, scope = seed_dataset(), _scope(props)
    assert scope.startswith("Props_")
    assert _graph_rows(f"MATCH (n) WHERE any(l IN labels(n) WHERE l STARTS WITH 'Diagnosis_{scope}') "
                       "RETURN count(n)")[0][0] == 0
    stored = {pid: list(zip(ids, codes, dates, strict=True)) for pid, ids, codes, dates in _graph_rows(
        f"MATCH (p:Patient_{scope}) RETURN p.patient_id, p.diagnosis_ids, p.diagnosis_codes, p.diagnosis_dates")}
    expected: dict[int, list[tuple]] = {p.patient_id: [] for p in data.patient_list}
    for d in data.diagnosis_list:
        expected[d.patient_id].append((d.diagnosis_id, d.code, d.diagnosed_on))
    assert {pid: sorted((i, c, day.to_native()) for i, c, day in rows) for pid, rows in stored.items()} == {
        pid: sorted(rows) for pid, rows in expected.items()}


def test_designs_in_one_namespace_stay_apart(seeded: Neo4jBackend, props: GraphBackend) -> None:
    before = seed_answers(seeded)
    small = MemoryDataset("small", seed_dataset().patient_list, [], [], seed_dataset().variant_list[:2])
    props.load(small)
    assert seed_answers(seeded) == before and len(props.all_variants()) == 2
    assert props.holdings().dataset == "small" and seeded.holdings().dataset == "seed"


@pytest.mark.parametrize(("query", "params", "anchor"), [
    (Q.PATIENTS_WITH_DIAGNOSIS, {"code": "I10"}, "NodeByLabelScan"),
    (Q.COMORBID_CODES, {"code": "I10"}, "NodeByLabelScan"),
    (Q.PATIENTS_SHARING_DIAGNOSES, {"patient_id": 12345}, "NodeByLabelScan"),
    (Q.CARRIERS_WITH_DIAGNOSIS, {"chromosome": "4", "start": 1, "end": 2_000_000, "code": "I10"}, "NodeIndexSeek"),
    (Q.PATIENT_BY_ID, {"patient_id": 12345}, "NodeUniqueIndexSeek"),
])
def test_properties_plans(props: GraphBackend, query: Q, params: dict, anchor: str) -> None:
    """Code-anchored questions scan the patients; patient-anchored ones read lists, no traversal."""
    e = props.explain(query, params)
    assert any(line.split()[0] == anchor and "MMBenchMeta" not in line for line in e.plan_summary), e.plan_summary
    assert not any("HAS_DIAGNOSIS" in line for line in e.plan_summary)


def test_properties_concurrent_diagnoses_are_not_lost(props: GraphBackend) -> None:
    """Writers appending to one patient's lists serialise on its node lock."""
    def add(first: int) -> None:
        with open_backend("neo4j:properties") as backend:
            for i in range(first, first + 10):
                backend.add_diagnosis(diagnosis_id=i, patient_id=12355, code=f"Z{i % 7}.1",
                                      diagnosed_on=dt.date(2025, 1, 1 + i % 28))

    threads = [threading.Thread(target=add, args=(5000 + 100 * t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    record = props.patient_by_id(patient_id=12355)
    assert sorted(d.diagnosis_id for d in record.diagnoses) == [5000 + 100 * t + i for t in range(4) for i in range(10)]


def test_properties_write_to_a_missing_patient_rolls_back(props: GraphBackend) -> None:
    with pytest.raises(BackendError, match="1 of 1 diagnoses name a patient that does not exist"):
        props.add_diagnosis(diagnosis_id=999, patient_id=1, code="Q99.9", diagnosed_on=dt.date(2025, 1, 1))
    assert props.patients_with_diagnosis(code="Q99.9") == []


def test_a_transaction_waiting_on_a_lock_times_out_as_one_line(seeded: Neo4jBackend,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Every transaction carries the server-side timeout: record_writes waits for the pointer node,
    which another transaction holds, and gives up after MMBENCH_NEO4J_QUERY_TIMEOUT."""
    monkeypatch.setenv("MMBENCH_NEO4J_QUERY_TIMEOUT", "1")
    meta = seeded._meta
    with GraphDatabase.driver(Neo4jSettings().url) as driver, driver.session() as session:
        holder = session.begin_transaction()
        holder.run(f"MATCH (m:{meta}) SET m.held = true").consume()  # holds the pointer node's write lock
        impatient = open_backend("neo4j")
        try:
            started = time.monotonic()
            with pytest.raises(BackendError) as err:
                impatient.record_writes(1)
            assert time.monotonic() - started < 30
            assert "MMBENCH_NEO4J_QUERY_TIMEOUT=1s" in str(err.value)
            assert "\n" not in str(err.value)
        finally:
            holder.rollback()
            impatient.close()
    assert seeded.holdings().writes_since == 0


def test_loads_in_several_namespaces_at_once_all_finish() -> None:
    """Concurrent loads of different namespaces (a lecture and a test) must not wait for each other's
    schema changes: no transaction stays open across a load, and index population is awaited with
    short reads, never inside a transaction that holds locks (that deadlocked)."""
    from tests.helpers import other_namespace

    backends = []
    for _ in range(3):
        with other_namespace():
            backends.append(open_backend("neo4j"))
    errors: list[BaseException] = []

    def load(b: Neo4jBackend) -> None:
        try:
            b.load(seed_dataset())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=load, args=(b,)) for b in backends * 2]  # two loads per namespace too
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads), "a load hung"
        assert not errors, errors
        assert all(b.holdings().dataset == "seed" for b in backends)
    finally:
        for b in backends:
            b.close()
