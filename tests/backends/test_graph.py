"""The Neo4j backend's own promises, against the real engine: the graph's shape, its schema,
index-anchored traversal plans, atomic writes, one-line errors and the CLI answer of issue 7.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from neo4j import GraphDatabase

from backends.base import BackendError, EngineUnavailable
from backends.graph import schema
from backends.graph.backend import Neo4jBackend
from backends.graph.settings import Neo4jSettings
from models.catalog import Q
from models.dataset import MemoryDataset
from models.entities import Diagnosis, Patient, PatientRecord
from models.seed import seed_dataset
from tests.helpers import fresh_backend


def _graph_rows(statement: str) -> list[list]:
    """Ask the engine directly, past the backend."""
    settings = Neo4jSettings()
    with GraphDatabase.driver(settings.url, auth=settings.auth) as driver:
        return driver.execute_query(statement, database_=settings.database).records


@pytest.fixture()
def seeded() -> Iterator[Neo4jBackend]:
    backend = fresh_backend("neo4j", seed_dataset())
    yield backend
    backend.close()


def test_seed_graph_shape(seeded: Neo4jBackend) -> None:
    data = seed_dataset()
    labels = dict(_graph_rows("MATCH (n) RETURN labels(n)[0], count(*)"))
    types = dict(_graph_rows("MATCH ()-[r]->() RETURN type(r), count(*)"))
    assert labels == {"Patient": len(data.patient_list), "Diagnosis": len({d.code for d in data.diagnosis_list}),
                      "LabResult": len(data.lab_result_list), "Variant": len(data.variant_list)}
    assert types == {"HAS_DIAGNOSIS": len(data.diagnosis_list), "HAS_RESULT": len(data.lab_result_list),
                     "CARRIES": sum(v.patient_id is not None for v in data.variant_list)}
    # foreign keys are relationships, never copied properties
    assert _graph_rows("MATCH (n) WHERE n.patient_id IS NOT NULL AND NOT n:Patient RETURN count(n)")[0][0] == 0


def test_schema_is_online_after_load(seeded: Neo4jBackend) -> None:
    constraints = {r[0] for r in _graph_rows("SHOW CONSTRAINTS YIELD name RETURN name")}
    assert constraints == {c.name for c in schema.CONSTRAINTS}
    indexes = dict(_graph_rows("SHOW INDEXES YIELD name, state RETURN name, state"))
    for item in schema.CONSTRAINTS + schema.ALL_SECONDARY:
        assert indexes[item.name] == "ONLINE"


@pytest.mark.parametrize(("query", "params", "anchor"), [
    (Q.PATIENTS_SHARING_DIAGNOSES, {"patient_id": 12345}, "NodeUniqueIndexSeek"),
    (Q.COMORBID_CODES, {"code": "I10"}, "NodeUniqueIndexSeek"),
    (Q.CARRIERS_WITH_DIAGNOSIS, {"chromosome": "4", "start": 1, "end": 2_000_000, "code": "I10"}, "NodeIndexSeek"),
    (Q.LAB_HISTORY, {"patient_id": 12345, "test_name": "Systolic blood pressure", "since": dt.date(2000, 1, 1),
                     "until": dt.date(2030, 1, 1)}, "NodeUniqueIndexSeek"),
    (Q.VARIANTS_IN_REGION, {"chromosome": "4", "start": 1, "end": 2_000_000}, "NodeIndexSeek"),
    (Q.PATIENTS_OLDER_THAN, {"age": 50}, "NodeIndexSeekByRange"),
])
def test_queries_start_from_an_index(seeded: Neo4jBackend, query: Q, params: dict, anchor: str) -> None:
    (plan,) = seeded.profile(query, params)
    assert any(op.startswith(anchor) for op in plan.operators), plan.operators
    assert not {"AllNodesScan", "NodeByLabelScan"} & set(plan.operators), plan.operators
    assert plan.db_hits > 0


def test_profile_leaves_answers_alone(seeded: Neo4jBackend) -> None:
    seeded.profile(Q.COMORBID_CODES, {"code": "I10"})
    assert seeded.comorbid_codes(code="I10")[0].patients >= 1


def test_write_to_a_missing_patient_rolls_back(seeded: Neo4jBackend) -> None:
    with pytest.raises(BackendError, match="1 of 1 diagnoses name a patient that does not exist"):
        seeded.add_diagnosis(diagnosis_id=999, patient_id=1, code="Q99.9", diagnosed_on=dt.date(2025, 1, 1))
    assert seeded.patients_with_diagnosis(code="Q99.9") == []
    assert _graph_rows("MATCH (c:Diagnosis {code: 'Q99.9'}) RETURN count(c)")[0][0] == 0  # the MERGE was undone


def test_add_patient_is_atomic(seeded: Neo4jBackend) -> None:
    """A duplicate diagnosis id fails the whole write: the new patient is not there either."""
    record = PatientRecord(Patient(99, "New", 40, "F"), (Diagnosis(1, 99, "I10", dt.date(2025, 1, 1)),))
    with pytest.raises(BackendError) as err:
        seeded.add_patient(patient=record)
    assert "ConstraintValidationFailed" in str(err.value) and "\n" not in str(err.value)
    assert seeded.patient_by_id(patient_id=99) is None


def test_failed_load_leaves_an_empty_indexed_graph() -> None:
    seed = seed_dataset()
    orphan = Diagnosis(10_000, 1, "I10", dt.date(2025, 1, 1))
    bad = MemoryDataset("bad", seed.patient_list, [*seed.diagnosis_list, orphan], seed.lab_result_list,
                        seed.variant_list)
    with Neo4jBackend.from_settings() as backend:
        backend.reset()
        with pytest.raises(BackendError, match="name a patient that does not exist"):
            backend.load(bad, batch_size=5)
        assert _graph_rows("MATCH (n) RETURN count(n)")[0][0] == 0
        indexes = {r[0] for r in _graph_rows("SHOW INDEXES YIELD name RETURN name")}
        assert {i.name for i in schema.ALL_SECONDARY} <= indexes


def test_engine_info() -> None:
    with Neo4jBackend.from_settings() as backend:
        info = backend.engine_info()
    assert info.product.startswith("Neo4j ") and info.version.startswith("5.")
    assert not info.emulator and info.driver.startswith("neo4j-python-driver ")


def test_unreachable_engine_is_one_line() -> None:
    with pytest.raises(EngineUnavailable) as err:
        Neo4jBackend.from_settings(Neo4jSettings(url="bolt://127.0.0.1:1", connect_timeout=2))
    message = str(err.value)
    assert message.startswith("neo4j: cannot reach Neo4j at bolt://127.0.0.1:1 (")
    assert "mmbench up neo4j" in message and "\n" not in message


def test_non_bolt_url_is_refused() -> None:
    with pytest.raises(BackendError, match="is not a Bolt URL; use one of bolt://"):
        Neo4jBackend.from_settings(Neo4jSettings(url="http://127.0.0.1:7474"))


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


def test_cli_patients_sharing_diagnoses() -> None:
    """The issue's command: patient 12354 shares the most codes (2) with 12345."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.cli", "query", "patients_sharing_diagnoses", "--backend", "neo4j",
         "--dataset", "seed", "-p", "patient_id=12345", "--json"],
        env={**os.environ, "COLUMNS": "200"}, text=True, capture_output=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0] == {"patient_id": 12354, "shared": 2}
