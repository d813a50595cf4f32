"""The MongoDB backends' own promises, on the running engine (default: the local emulator).

What the shared suites check for every backend (atomic load, holdings, namespaces, NotLoaded,
one-line errors, a code given twice, explain's counts) is not repeated here. Here: the two
document designs (embedded, ordered diagnoses; referenced collections; BSON dates; an index per
access path), the lecture's queries run as written, the load switch's staging collections and
its recovery, settings and timeouts, explain's statements and notes, and reading MongoDB's
explain answers. The tests use their own database (setting `database`), so they never touch
the data the conformance suites load.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from pymongo import MongoClient

from backends.base import BackendError, holdings_of
from backends.document.backend import MongoBackend
from backends.document.explain import counts, plan_summary
from backends.document.referenced import ReferencedMongoBackend
from backends.document.schema import INDEXES
from backends.document.settings import MongoSettings
from backends.document.store import HOLDINGS, MongoStore
from models.catalog import Q
from models.dataset import ENTITY_KINDS, MemoryDataset
from models.entities import Diagnosis, Patient, PatientRecord, Variant
from models.seed import seed_dataset
from tests.helpers import seed_answers

DATABASE = "mmbench_t"
DESIGNS = [MongoBackend, ReferencedMongoBackend]


def _backend(cls: type[MongoStore] = MongoBackend, **settings: object) -> MongoStore:
    return cls.from_settings(MongoSettings(database=DATABASE, **settings))


def _raw() -> MongoClient:
    """A plain client (default codecs): what is stored, as stored."""
    return MongoClient(MongoSettings().url, serverSelectionTimeoutMS=5000)


@pytest.fixture(params=DESIGNS, ids=["embedded", "referenced"])
def design(request: pytest.FixtureRequest) -> type[MongoStore]:
    return request.param


@pytest.fixture()
def seeded(design: type[MongoStore]) -> Iterator[MongoStore]:
    with _backend(design) as backend:
        backend.load(seed_dataset(), batch_size=5)  # small batches: a patient's diagnoses span batches
        yield backend


@pytest.fixture()
def embedded() -> Iterator[MongoStore]:
    with _backend(MongoBackend) as backend:
        backend.load(seed_dataset(), batch_size=5)
        yield backend


@pytest.fixture()
def referenced() -> Iterator[MongoStore]:
    with _backend(ReferencedMongoBackend) as backend:
        backend.load(seed_dataset(), batch_size=5)
        yield backend


@pytest.fixture(scope="module", autouse=True)
def _drop_test_databases() -> Iterator[None]:
    yield
    with _raw() as client:
        for cls in DESIGNS:
            with _backend(cls) as backend:
                client.drop_database(backend.db.name)


# -- the embedded design

def test_diagnoses_are_embedded_in_catalog_order_with_bson_dates(embedded: MongoStore) -> None:
    with _raw() as client:
        doc = client[embedded.db.name].patients.find_one({"_id": 12345})
    assert set(doc) == {"_id", "name", "age", "sex", "diagnoses"}
    assert [(d["diagnosed_on"], d["code"]) for d in doc["diagnoses"]] == [
        (dt.datetime(2023, 11, 2), "E78.5"), (dt.datetime(2024, 3, 28), "I10")]
    assert embedded.patient_by_id(patient_id=12345).diagnoses[0].diagnosed_on == dt.date(2023, 11, 2)


def test_add_diagnosis_keeps_the_embedded_order(embedded: MongoStore) -> None:
    embedded.add_diagnosis(diagnosis_id=900, patient_id=12345, code="K21.9", diagnosed_on=dt.date(2020, 1, 1))
    embedded.add_diagnosis(diagnosis_id=901, patient_id=12345, code="A09", diagnosed_on=dt.date(2024, 3, 28))
    with _raw() as client:
        doc = client[embedded.db.name].patients.find_one({"_id": 12345})
    assert [d["diagnosis_id"] for d in doc["diagnoses"]] == [900, 2, 901, 1]  # by date, then code


def test_the_lecture_queries_run_as_written(embedded: MongoStore) -> None:
    with _raw() as client:
        patients = client[embedded.db.name].patients
        assert patients.count_documents({"age": {"$gt": 50}}) == 7
        assert patients.count_documents({"diagnoses": {"$elemMatch": {"code": "I10"}}}) == 6


def test_every_access_path_has_its_index_after_a_load(embedded: MongoStore) -> None:
    for collection, indexes in INDEXES.values():
        present = {i["name"]: list(i["key"].items()) for i in embedded.db[collection].list_indexes()}
        for index in indexes:
            assert present[index.document["name"]] == list(index.document["key"].items())


def test_diagnosis_counts_from_the_command_line() -> None:
    env = {**os.environ, "MMBENCH_MONGODB_DATABASE": DATABASE}
    done = subprocess.run([sys.executable, "-m", "bench.cli", "query", "diagnosis_counts", "--backend", "mongodb",
                           "--dataset", "seed", "--json"], env=env, text=True, capture_output=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0] == {"code": "I10", "patients": 6}


# -- the referenced design

def test_referenced_collections_hold_one_entity_each(referenced: MongoStore) -> None:
    with _raw() as client:
        db = client[referenced.db.name]
        assert db.patients.find_one({"_id": 12345}) == {"_id": 12345, "name": "John Doe", "age": 45, "sex": "M"}
        assert db.diagnoses.find_one({"_id": 1}) == {"_id": 1, "patient_id": 12345, "code": "I10",
                                                     "diagnosed_on": dt.datetime(2024, 3, 28)}
    names = {i["name"] for i in referenced.db.diagnoses.list_indexes()}
    assert {"patient_id_diagnosed_on_code__id", "code_patient_id"} <= names


def test_the_lectures_aggregation_runs_on_the_referenced_design(referenced: MongoStore) -> None:
    with _raw() as client:
        counted = client[referenced.db.name].patients.aggregate([
            {"$lookup": {"from": "diagnoses", "localField": "_id", "foreignField": "patient_id", "as": "results"}},
            {"$unwind": "$results"}, {"$group": {"_id": "$results.code", "count": {"$sum": 1}}}])
        assert {d["_id"]: d["count"] for d in counted}["I10"] == 6


def test_the_designs_keep_their_own_databases(embedded: MongoStore, referenced: MongoStore) -> None:
    small = dataclasses.replace(seed_dataset(), name="small", description={"name": "small"},
                                variant_list=seed_dataset().variant_list[:2])
    embedded.load(small)
    assert referenced.db.name == embedded.db.name.replace(DATABASE, DATABASE + "-referenced")
    assert len(referenced.all_variants()) == 10 and referenced.holdings().dataset == "seed"
    assert len(embedded.all_variants()) == 2


def test_add_patient_deletes_the_patient_again_when_its_diagnoses_fail(referenced: MongoStore) -> None:
    taken = PatientRecord(Patient(1, "Taken Id", 40, "F"), (Diagnosis(1, 1, "I10", dt.date(2025, 1, 1)),))
    with pytest.raises(BackendError, match="duplicate key") as caught:
        referenced.add_patient(patient=taken)  # diagnosis 1 exists (patient 12345's)
    assert "\n" not in str(caught.value)
    assert referenced.patient_by_id(patient_id=1) is None
    assert referenced.patient_by_id(patient_id=12345).diagnoses[1].diagnosis_id == 1


# -- the load switch (both designs)

def test_the_database_carries_the_namespace(seeded: MongoStore) -> None:
    namespace = os.environ["MMBENCH_NAMESPACE"]
    assert seeded.db.name == f"{DATABASE}{seeded.database_suffix}_{namespace}"
    assert seeded.engine_info().options["database"] == seeded.db.name


def test_a_load_leaves_no_staging_collection_and_holdings_beside_the_data(seeded: MongoStore) -> None:
    assert sorted(seeded.db.list_collection_names()) == sorted([HOLDINGS, *seeded.collections])
    doc = seeded.db[HOLDINGS].find_one({"_id": "current"})
    assert doc["holdings"]["dataset"] == "seed" and "pending" not in doc


def _staging(backend: MongoStore) -> list[str]:
    return [n for n in backend.db.list_collection_names() if n.startswith("staging.")]


def test_orphans_of_a_killed_load_are_dropped_by_the_next(seeded: MongoStore) -> None:
    seeded.begin_load()  # ... and the process dies here
    assert len(_staging(seeded)) == len(seeded.collections)
    with _backend(type(seeded)) as fresh:
        before = seed_answers(fresh)
        fresh.load(seed_dataset())
        assert not _staging(fresh)
        assert seed_answers(fresh) == before


def test_a_switch_killed_past_its_commit_point_is_finished_by_the_next_open(
        seeded: MongoStore, monkeypatch: pytest.MonkeyPatch) -> None:
    small = dataclasses.replace(seed_dataset(), name="small", description={"name": "small"},
                                variant_list=seed_dataset().variant_list[:3])
    seeded.begin_load()
    rows = {}
    for kind in ENTITY_KINDS:
        rows[kind] = len(batch := list(small.stream(kind)))
        seeded.write_batch(kind, batch)
        seeded.finish_kind(kind)

    def killed(self: MongoStore) -> None:
        raise KeyboardInterrupt  # the process dies right after the commit point, before any rename

    monkeypatch.setattr(MongoStore, "_finish_switch", killed)
    with pytest.raises(KeyboardInterrupt):
        seeded.end_load(holdings_of(small, rows))
    monkeypatch.undo()
    assert seeded.db[HOLDINGS].find_one({"_id": "current"})["pending"]
    with _backend(type(seeded)) as fresh:  # opening finishes the renames
        assert len(fresh.all_variants()) == 3 and fresh.holdings().dataset == "small"
        assert "pending" not in fresh.db[HOLDINGS].find_one({"_id": "current"})
        assert not _staging(fresh)


def test_diagnoses_of_an_unknown_patient_refuse_the_load_and_keep_the_data(seeded: MongoStore) -> None:
    data = seed_dataset()
    orphan = Diagnosis(999, 424242, "I10", dt.date(2025, 1, 1))
    broken = MemoryDataset("broken", data.patient_list, [*data.diagnosis_list, orphan],
                           data.lab_result_list, data.variant_list)
    before = seed_answers(seeded)
    with pytest.raises(BackendError, match="unknown patient"):
        seeded.load(broken, batch_size=1000)
    assert seed_answers(seeded) == before
    assert not _staging(seeded)


# -- engine, settings, errors

def test_engine_info_marks_the_emulator_and_says_what_it_does_not_do(seeded: MongoStore) -> None:
    info = seeded.engine_info()
    assert info.emulator is True
    assert info.product.startswith("mongo-java-server")
    assert info.version and info.driver.startswith("pymongo ")
    assert any("secondary index" in d for d in info.differences) and any("explain" in d for d in info.differences)
    assert info.options["design"] == seeded.design


def test_every_wait_of_the_driver_is_bounded() -> None:
    with _backend(timeout_ms=1234, socket_timeout_ms=4321) as backend:
        options = backend.client.options
        assert options.server_selection_timeout == 1.234
        assert options.pool_options.connect_timeout == 1.234
        assert options.pool_options.socket_timeout == 4.321
        assert options.pool_options.wait_queue_timeout == 1.234


def test_write_concern_comes_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMBENCH_MONGODB_WRITE_CONCERN", "majority")
    monkeypatch.setenv("MMBENCH_MONGODB_JOURNAL", "true")
    with _backend() as backend:
        assert backend.db.write_concern.document == {"w": "majority", "j": True}
        backend.load(seed_dataset())
        backend.add_variants(variants=[Variant("wc-1", "1", 10, "A", "G", "AG", 30.0, 20, None)])
        assert backend.variant_by_id(variant_id="wc-1") is not None


def test_without_a_write_concern_setting_the_url_decides() -> None:
    url = MongoSettings().url
    with _backend(url=url + ("&" if "?" in url else "/?") + "w=majority") as backend:
        assert backend.db.write_concern.document == {"w": "majority"}


@pytest.mark.parametrize("url", ["mongodb://user:s3cret@127.0.0.1:notaport", "mongodb://user:s3c@ret@127.0.0.1:0/x",
                                 "mongodb://user:s3cret@[::1"])
def test_a_bad_url_is_one_line_without_its_password(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("MMBENCH_MONGODB_URL", url)
    with pytest.raises(BackendError) as caught:
        MongoBackend.from_settings()
    message = str(caught.value)
    assert "MMBENCH_MONGODB_URL" in message and "\n" not in message
    assert "s3c" not in message and "ret@" not in message


def test_bad_writes_are_one_line_errors(seeded: MongoStore) -> None:
    with pytest.raises(BackendError, match="no patient 1"):
        seeded.add_diagnosis(diagnosis_id=999, patient_id=1, code="I10", diagnosed_on=dt.date(2025, 1, 1))
    with pytest.raises(BackendError, match="duplicate key") as caught:
        seeded.add_patient(patient=PatientRecord(Patient(12345, "Again", 40, "M")))
    assert "\n" not in str(caught.value)
    with pytest.raises(BackendError, match="BSON") as caught:
        seeded.add_variants(variants=[Variant("big", "1", 10, "A", "G", "AG", 30.0, 2**64, None)])
    assert "\n" not in str(caught.value)


# -- explain

def test_explain_shows_the_command_as_sent_and_what_the_emulator_did(seeded: MongoStore) -> None:
    e = seeded.explain(Q.VARIANTS_MIN_DEPTH, {"min_depth": 50})
    assert [json.loads(s.text) for s in e.statements] == [{"find": "variants", "filter": {"depth": {"$gt": 50}}}]
    assert (e.work.answer, e.work.returned, e.work.round_trips, e.work.examined) == (4, 4, 1, None)
    assert e.plan is None and e.server_us is None and e.work.reasons["examined"]
    assert any("walks every document" in n for n in e.notes) and any("depth index" in n for n in e.notes)
    e = seeded.explain(Q.LAB_HISTORY, {"patient_id": 12345, "test_name": "HbA1c", "since": dt.date(2020, 1, 1),
                                       "until": dt.date(2030, 1, 1)})
    assert json.loads(e.statements[0].text)["filter"]["taken_on"]["$gte"] == {"$date": "2020-01-01T00:00:00Z"}


def test_explain_shows_one_document_read_against_a_lookup(embedded: MongoStore, referenced: MongoStore) -> None:
    one = embedded.explain(Q.PATIENT_BY_ID, {"patient_id": 12345})
    assert [json.loads(s.text)["filter"] for s in one.statements] == [{"_id": 12345}]
    assert any("_id index" in n for n in one.notes)
    joined = referenced.explain(Q.PATIENT_BY_ID, {"patient_id": 12345})
    (sent,) = [json.loads(s.text) for s in joined.statements]
    assert sent["aggregate"] == "patients" and sent["pipeline"][1]["$lookup"]["from"] == "diagnoses"
    assert any("starts from every document" in n for n in joined.notes)
    assert (one.work.answer, joined.work.answer) == (1, 1)


def test_explained_writes_leave_no_scratch_document(seeded: MongoStore) -> None:
    before = seed_answers(seeded)
    counts_before = {name: seeded.db[name].count_documents({}) for name in seeded.collections}
    record = PatientRecord(Patient(777, "Scratch", 40, "F"), (Diagnosis(7001, 777, "I10", dt.date(2025, 1, 1)),))
    e = seeded.explain(Q.ADD_PATIENT, {"patient": record})
    assert json.loads(e.statements[0].text)["insert"] == "patients" and "scratch" in e.undone
    seeded.explain(Q.ADD_DIAGNOSIS, {"diagnosis_id": 7002, "patient_id": 12345, "code": "K21.9",
                                     "diagnosed_on": dt.date(2025, 1, 1)})
    seeded.explain(Q.ADD_VARIANTS, {"variants": [Variant("s-1", "1", 10, "A", "G", "AG", 30.0, 20, None)]})
    assert seed_answers(seeded) == before
    assert {name: seeded.db[name].count_documents({}) for name in seeded.collections} == counts_before
    assert seeded.patient_by_id(patient_id=777) is None


# -- reading a real MongoDB's explain answers

def test_plan_summary_reads_indexes_from_an_explain_answer() -> None:
    explained = {"queryPlanner": {
        "winningPlan": {"stage": "FETCH", "inputStage": {"stage": "IXSCAN", "indexName": "chromosome_position__id"}},
        "rejectedPlans": [{"stage": "COLLSCAN"}]},
        "stages": [{"$lookup": {"from": "patients"}, "indexesUsed": ["_id_"]}]}
    assert plan_summary(explained) == ["chromosome_position__id", "_id_"]
    assert plan_summary({"queryPlanner": {"winningPlan": {"stage": "COLLSCAN"}}}) == ["COLLSCAN"]
    assert plan_summary({"queryPlanner": {"winningPlan": {"stage": "IDHACK"}}}) == ["IDHACK"]


def test_counts_read_examined_and_time_from_find_and_pipeline_answers() -> None:
    find = {"queryPlanner": {"winningPlan": {"stage": "FETCH"}},
            "executionStats": {"nReturned": 4, "executionTimeMillis": 3, "totalKeysExamined": 4,
                               "totalDocsExamined": 4, "executionStages": {"stage": "FETCH", "docsExamined": 4}},
            "command": {"find": "variants"}}
    c = counts(find)
    assert (c.docs_examined, c.keys_examined, c.examined, c.millis) == (4, 4, 4, 3.0)
    pipeline = {"stages": [
        {"$cursor": {"executionStats": {"totalDocsExamined": 10, "totalKeysExamined": 0, "executionTimeMillis": 1}},
         "executionTimeMillisEstimate": 1},
        {"$lookup": {"from": "patients"}, "totalDocsExamined": 3, "totalKeysExamined": 3,
         "executionTimeMillisEstimate": 5},
        {"$group": {}, "executionTimeMillisEstimate": 6}]}
    c = counts(pipeline)
    assert (c.docs_examined, c.keys_examined, c.examined, c.millis) == (13, 3, 13, 6.0)
    sharded = {"executionStats": {"totalDocsExamined": 8, "totalKeysExamined": 0, "executionTimeMillis": 2,
                                  "executionStages": {"shards": [{"totalDocsExamined": 5}, {"totalDocsExamined": 3}]}}}
    assert counts(sharded).docs_examined == 8


def test_on_a_real_mongodb_explain_reads_plans_counts_and_server_time(
        seeded: MongoStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real-server path, with MongoDB's answer stood in for (the emulator has no explain)."""
    real = dataclasses.replace(seeded.engine_info(), emulator=False, product="MongoDB", differences=())
    asked: list[dict] = []

    def explained(self: MongoStore, command: dict) -> dict:
        asked.append(command)
        return {"queryPlanner": {"winningPlan": {"stage": "FETCH", "inputStage": {"stage": "IXSCAN",
                                                                                 "indexName": "depth"}}},
                "executionStats": {"nReturned": 4, "executionTimeMillis": 2, "totalKeysExamined": 4,
                                   "totalDocsExamined": 4}}

    monkeypatch.setattr(type(seeded), "engine_info", lambda self: real)
    monkeypatch.setattr(MongoStore, "_explain_command", explained)
    e = seeded.explain(Q.VARIANTS_MIN_DEPTH, {"min_depth": 50})
    assert asked == [{"find": "variants", "filter": {"depth": {"$gt": 50}}}]
    assert e.plan_summary == ["depth"] and e.plan[0]["command"] == "find"
    assert (e.work.examined, e.work.returned, e.server_us) == (4, 4, 2000.0)
    assert e.work.cost == {"docs_examined": 4.0, "keys_examined": 4.0}
    assert not any("emulator" in n for n in e.notes)
    write = seeded.explain(Q.ADD_VARIANTS, {"variants": [Variant("s-2", "1", 10, "A", "G", "AG", 30.0, 20, None)]})
    assert write.plan is None and write.work.reasons["examined"] and "insert" in write.work.reasons["examined"]
