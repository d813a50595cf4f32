"""The MongoDB backend's own promises, on the running engine (default: the local emulator).

The document design (embedded, ordered diagnoses; BSON dates; an index per access path), the
lecture's queries run as written, settings, one-line errors, and a failed load undone. The
tests use their own database, so they never touch what `mmbench load` put in `mmbench`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from pymongo import MongoClient

from backends.base import BackendError, EngineUnavailable
from backends.document.backend import MongoBackend
from backends.document.queries import plan_summary
from backends.document.schema import INDEXES
from backends.document.settings import MongoSettings
from models.catalog import CATALOG, Q
from models.dataset import MemoryDataset
from models.entities import Diagnosis, Patient, PatientRecord, Variant
from models.reference import Reference
from models.seed import seed_dataset

DATABASE = "mmbench_test_document"


def _backend(**settings: object) -> MongoBackend:
    return MongoBackend.from_settings(MongoSettings(database=DATABASE, **settings))


def _raw() -> MongoClient:
    """A plain client (default codecs): what is stored, as stored."""
    return MongoClient(MongoSettings().url, serverSelectionTimeoutMS=5000)


@pytest.fixture()
def seeded() -> Iterator[MongoBackend]:
    with _backend() as backend:
        backend.reset()
        backend.load(seed_dataset(), batch_size=5)  # small batches: a patient's diagnoses span batches
        yield backend


@pytest.fixture(scope="module", autouse=True)
def _drop_test_database() -> Iterator[None]:
    yield
    with _raw() as client:
        client.drop_database(DATABASE)


def _same(backend: MongoBackend, reference: Reference, query: Q, **params: object) -> None:
    spec = CATALOG[query]
    assert spec.canonical(getattr(backend, query)(**params)) == spec.canonical(getattr(reference, query)(**params))


# -- the document design

def test_diagnoses_are_embedded_in_catalog_order_with_bson_dates(seeded: MongoBackend) -> None:
    with _raw() as client:
        doc = client[DATABASE].patients.find_one({"_id": 12345})
    assert set(doc) == {"_id", "name", "age", "sex", "diagnoses"}
    assert [(d["diagnosed_on"], d["code"]) for d in doc["diagnoses"]] == [
        (dt.datetime(2023, 11, 2), "E78.5"), (dt.datetime(2024, 3, 28), "I10")]


def test_add_diagnosis_keeps_the_embedded_order(seeded: MongoBackend) -> None:
    seeded.add_diagnosis(diagnosis_id=900, patient_id=12345, code="K21.9", diagnosed_on=dt.date(2020, 1, 1))
    seeded.add_diagnosis(diagnosis_id=901, patient_id=12345, code="A09", diagnosed_on=dt.date(2024, 3, 28))
    with _raw() as client:
        doc = client[DATABASE].patients.find_one({"_id": 12345})
    assert [d["diagnosis_id"] for d in doc["diagnoses"]] == [900, 2, 901, 1]  # by date, then code


def test_the_lecture_queries_run_as_written(seeded: MongoBackend) -> None:
    with _raw() as client:
        patients = client[DATABASE].patients
        assert patients.count_documents({"age": {"$gt": 50}}) == 7
        assert patients.count_documents({"diagnoses": {"$elemMatch": {"code": "I10"}}}) == 6


def test_every_access_path_has_its_index_after_a_load(seeded: MongoBackend) -> None:
    for collection, indexes in INDEXES.values():
        present = {i["name"]: list(i["key"].items()) for i in seeded.db[collection].list_indexes()}
        for index in indexes:
            assert present[index.document["name"]] == list(index.document["key"].items())


def test_diagnosis_counts_from_the_command_line() -> None:
    env = {**os.environ, "MMBENCH_MONGODB_DATABASE": DATABASE}
    done = subprocess.run([sys.executable, "-m", "bench.cli", "query", "diagnosis_counts", "--backend", "mongodb",
                           "--dataset", "seed", "--json"], env=env, text=True, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0] == {"code": "I10", "patients": 6}


def test_a_code_given_twice_counts_once() -> None:
    """$setUnion / $setIntersection / $setDifference count distinct codes per patient."""
    data = seed_dataset()
    twice = PatientRecord(Patient(1, "Twice Coded", 70, "F"), (
        Diagnosis(801, 1, "I10", dt.date(2020, 1, 1)), Diagnosis(802, 1, "I10", dt.date(2021, 1, 1)),
        Diagnosis(803, 1, "E78.5", dt.date(2021, 1, 1)), Diagnosis(804, 1, "E78.5", dt.date(2022, 1, 1))))
    reference = Reference(data)
    with _backend() as backend:
        backend.reset()
        backend.load(data)
        for target in (backend, reference):
            target.add_patient(patient=twice)
        _same(backend, reference, Q.DIAGNOSIS_COUNTS, min_age=None)
        _same(backend, reference, Q.DIAGNOSIS_COUNTS, min_age=60)
        _same(backend, reference, Q.COMORBID_CODES, code="I10")
        _same(backend, reference, Q.PATIENTS_SHARING_DIAGNOSES, patient_id=1)
        _same(backend, reference, Q.PATIENTS_SHARING_DIAGNOSES, patient_id=12345)
        _same(backend, reference, Q.PATIENT_BY_ID, patient_id=1)


# -- engine, settings, errors

def test_engine_info_marks_the_emulator(seeded: MongoBackend) -> None:
    info = seeded.engine_info()
    assert info.emulator is True
    assert info.product.startswith("mongo-java-server")
    assert info.version and info.driver.startswith("pymongo ")


def test_write_concern_comes_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMBENCH_MONGODB_WRITE_CONCERN", "majority")
    monkeypatch.setenv("MMBENCH_MONGODB_JOURNAL", "true")
    with _backend() as backend:
        assert backend.db.write_concern.document == {"w": "majority", "j": True}
        backend.reset()
        backend.add_variants(variants=[Variant("wc-1", "1", 10, "A", "G", "AG", 30.0, 20, None)])
        assert backend.variant_by_id(variant_id="wc-1") is not None


def test_without_a_write_concern_setting_the_url_decides() -> None:
    url = MongoSettings().url
    with _backend(url=url + ("&" if "?" in url else "/?") + "w=majority") as backend:
        assert backend.db.write_concern.document == {"w": "majority"}


def test_unreachable_engine_is_one_line() -> None:
    with pytest.raises(EngineUnavailable) as caught:
        _backend(url="mongodb://127.0.0.1:1", timeout_ms=300)
    message = str(caught.value)
    assert "\n" not in message and "127.0.0.1:1" in message and "mmbench up mongodb" in message


@pytest.mark.parametrize(("env", "fragment"), [
    ({"MMBENCH_MONGODB_WRITE_CONCERN": "most"}, "MMBENCH_MONGODB_WRITE_CONCERN"),
    ({"MMBENCH_MONGODB_URL": "mongodb://user:secret@127.0.0.1:notaport"}, "MMBENCH_MONGODB_URL"),
])
def test_bad_settings_are_one_line(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], fragment: str) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(BackendError) as caught:
        MongoBackend.from_settings()
    message = str(caught.value)
    assert fragment in message and "\n" not in message and "secret" not in message


def test_reading_before_loading_says_what_to_do() -> None:
    with _backend() as backend:
        for name in ("patients", "lab_results", "variants"):
            backend.db.drop_collection(name)
        with pytest.raises(BackendError, match="load a data set first"):
            backend.all_variants()


def test_bad_writes_are_one_line_errors(seeded: MongoBackend) -> None:
    with pytest.raises(BackendError, match="no patient 1"):
        seeded.add_diagnosis(diagnosis_id=999, patient_id=1, code="I10", diagnosed_on=dt.date(2025, 1, 1))
    with pytest.raises(BackendError, match="duplicate key") as caught:
        seeded.add_patient(patient=PatientRecord(Patient(12345, "Again", 40, "M")))
    assert "\n" not in str(caught.value)


def test_a_failed_load_leaves_nothing_behind() -> None:
    data = seed_dataset()
    orphan = Diagnosis(999, 424242, "I10", dt.date(2025, 1, 1))
    broken = MemoryDataset("broken", data.patient_list, [*data.diagnosis_list, orphan],
                           data.lab_result_list, data.variant_list)
    with _backend() as backend:
        backend.reset()
        with pytest.raises(BackendError, match="unknown patient"):
            backend.load(broken, batch_size=1000)
        assert all(backend.db[name].count_documents({}) == 0 for name in ("patients", "lab_results", "variants"))


# -- plans

def test_explain_needs_a_real_mongodb(seeded: MongoBackend) -> None:
    with pytest.raises(BackendError, match="no explain"):
        seeded.explain(Q.VARIANTS_IN_REGION, {"chromosome": "4", "start": 1, "end": 2})
    with pytest.raises(BackendError, match="read queries"):
        seeded.explain(Q.ADD_VARIANTS, {"variants": []})


def test_plan_summary_reads_indexes_from_an_explain_answer() -> None:
    explained = {"queryPlanner": {
        "winningPlan": {"stage": "FETCH", "inputStage": {"stage": "IXSCAN", "indexName": "chromosome_position__id"}},
        "rejectedPlans": [{"stage": "COLLSCAN"}]},
        "stages": [{"$lookup": {"from": "patients"}, "indexesUsed": ["_id_"]}]}
    assert plan_summary(explained) == ["chromosome_position__id", "_id_"]
    assert plan_summary({"queryPlanner": {"winningPlan": {"stage": "COLLSCAN"}}}) == ["COLLSCAN"]
