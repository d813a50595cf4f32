"""DynamoDB backend specifics, against the local DynamoDB API (moto server; `mmbench up dynamodb`).

Pagination past 1 MB on every Query and Scan, exact numbers, BatchWriteItem retries with
backoff, consumed capacity, settings, and one-line errors. The catalog itself is covered
by tests/conformance.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

import backends.kv.backend as kv_backend
from backends.base import BackendError, EngineUnavailable
from backends.kv.backend import UNPROCESSED_ATTEMPTS, DynamoDBBackend
from backends.kv.capacity import CapacityMeter
from backends.kv.codec import int_from_wire
from backends.kv.schema import BY_AGE, BY_CODE
from backends.kv.settings import DynamoDBSettings
from models.catalog import Q
from models.dataset import MemoryDataset
from models.entities import Diagnosis, LabResult, Patient, PatientRecord, Variant
from models.generate import SyntheticDataset
from models.reference import Reference
from tests.helpers import assert_same

PREFIX = "mmbench_kvtest_"


def open_kv(**overrides: Any) -> DynamoDBBackend:
    return DynamoDBBackend.from_settings(DynamoDBSettings(table_prefix=PREFIX, **overrides))


@pytest.fixture()
def kv() -> Iterator[DynamoDBBackend]:
    """An empty backend under a prefix of its own; its tables are deleted afterwards."""
    backend = open_kv()
    backend.reset()
    yield backend
    for table in backend.tables:
        backend._client.delete_table(TableName=table)
    backend.close()


def first_page(backend: DynamoDBBackend, operation: str, **request: Any) -> dict[str, Any]:
    """One raw request, as the lecture's Lambda makes it (no pagination)."""
    return getattr(backend._client, operation)(**request)


# -- pagination


def big_dataset() -> MemoryDataset:
    """Synthetic data (10,000 variant calls) whose patients have 1.2 KB names: the variants
    table, the diagnoses in `by_code` and the profiles in `by_age` each exceed 1 MB."""
    data = SyntheticDataset(scale=1, seed=5).materialize()
    data.patient_list = [dataclasses.replace(p, name=f"{p.name} {'x' * 1200}") for p in data.patient_list]
    return data


def test_every_read_follows_last_evaluated_key(kv: DynamoDBBackend) -> None:
    data = big_dataset()
    kv.load(data, batch_size=1000)
    common = Counter(d.code for d in data.diagnosis_list).most_common(1)[0][0]
    sharing = next(d.patient_id for d in data.diagnosis_list if d.code == common)

    # one page is not the whole answer: the lecture's single-page read would drop data
    t = kv.tables
    single_pages = [
        first_page(kv, "scan", TableName=t.variants),
        first_page(kv, "scan", TableName=t.patients, IndexName=BY_CODE),
        first_page(kv, "query", TableName=t.patients, IndexName=BY_AGE, KeyConditionExpression="#k = :v",
                   ExpressionAttributeNames={"#k": "entity"}, ExpressionAttributeValues={":v": {"S": "patient"}}),
    ]
    assert all("LastEvaluatedKey" in page for page in single_pages)

    reference = Reference(data)
    for query, params in [
        (Q.ALL_VARIANTS, {}),
        (Q.VARIANTS_MIN_DEPTH, {"min_depth": 0}),
        (Q.VARIANTS_MIN_QUALITY, {"min_quality": 0.0}),
        (Q.PATIENTS_OLDER_THAN, {"age": 0}),
        (Q.PATIENTS_WITH_DIAGNOSIS, {"code": common}),
        (Q.DIAGNOSIS_COUNTS, {"min_age": None}),
        (Q.DIAGNOSIS_COUNTS, {"min_age": 40}),
        (Q.COMORBID_CODES, {"code": common}),
        (Q.PATIENTS_SHARING_DIAGNOSES, {"patient_id": sharing}),
        (Q.CARRIERS_WITH_DIAGNOSIS, {"chromosome": "1", "start": 1, "end": 300_000_000, "code": common}),
    ]:
        assert_same(kv, reference, query, params)
    assert len(kv.all_variants()) == len(data.variant_list) == 10_000


# -- numbers


def test_numbers_round_trip_exactly(kv: DynamoDBBackend) -> None:
    big = 2**62 + 1  # not representable as a float
    patient = Patient(big, "Big Id", 50, "F")
    floats = [0.1, 0.30000000000000004, 1e-07, 123456789.12345679, 5e20, -2.5, 0.0]
    labs = [LabResult(k + 1, big, "TSH", value, "mIU/L", dt.date(2024, 1, 1) + dt.timedelta(days=k))
            for k, value in enumerate(floats)]
    variant = Variant("v1", "MT", 2**53 + 1, "A", "G", "AG", 0.30000000000000004, 2**63 - 1, big)
    kv.load(MemoryDataset("numbers", [patient], [Diagnosis(big + 1, big, "I10", dt.date(2024, 1, 1))], labs,
                          [variant]), batch_size=100)

    got = kv.variant_by_id(variant_id="v1")
    assert got == variant
    assert type(got.depth) is int and type(got.position) is int and type(got.quality) is float
    record = kv.patient_by_id(patient_id=big)
    assert record is not None and record.patient == patient and type(record.patient.age) is int
    history = kv.lab_history(patient_id=big, test_name="TSH", since=dt.date(2024, 1, 1), until=dt.date(2024, 12, 31))
    assert [r.value for r in history] == floats  # equal as floats, not just to 6 places
    raw = first_page(kv, "get_item", TableName=kv.tables.variants, Key={"variant_id": {"S": "v1"}})["Item"]
    assert raw["depth"] == {"N": str(2**63 - 1)} and raw["position"] == {"N": str(2**53 + 1)}


def test_numbers_from_the_wire() -> None:
    assert int_from_wire("50") == 50 and int_from_wire("1E+2") == 100
    assert int_from_wire(str(2**70)) == 2**70
    with pytest.raises(BackendError, match="integer"):
        int_from_wire("2.5")


def test_non_finite_numbers_are_refused(kv: DynamoDBBackend) -> None:
    bad = Variant("nan", "1", 5, "A", "G", "AG", float("nan"), 10, None)
    with pytest.raises(BackendError, match="finite"):
        kv.add_variants(variants=[bad])


# -- writes


def some_variants(n: int) -> list[Variant]:
    return [Variant(f"w{k}", "2", 1000 + k, "C", "T", "CT", 30.5, 20 + k, None) for k in range(n)]


def test_unprocessed_items_are_retried_with_backoff(kv: DynamoDBBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    real = kv._client.batch_write_item
    calls: list[int] = []
    sleeps: list[float] = []

    def throttled(*, RequestItems: dict[str, list[Any]], **kw: Any) -> dict[str, Any]:
        """Like a throttled DynamoDB: the first three calls write only the first item sent."""
        calls.append(1)
        if len(calls) > 3:
            return real(RequestItems=RequestItems, **kw)
        (table, requests), = RequestItems.items()
        real(RequestItems={table: requests[:1]}, **kw)
        return {"UnprocessedItems": {table: requests[1:]} if requests[1:] else {}}

    monkeypatch.setattr(kv._client, "batch_write_item", throttled)
    monkeypatch.setattr(kv_backend.time, "sleep", sleeps.append)
    monkeypatch.setattr(kv_backend, "backoff_delay", lambda attempt: 0.05 * 2 ** attempt)
    kv.add_variants(variants=some_variants(10))
    assert sleeps == [0.05, 0.1, 0.2]
    assert sorted(v.variant_id for v in kv.all_variants()) == sorted(f"w{k}" for k in range(10))


def test_writes_give_up_after_repeated_throttling(kv: DynamoDBBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(kv._client, "batch_write_item", lambda *, RequestItems, **_: {"UnprocessedItems": RequestItems})
    monkeypatch.setattr(kv_backend.time, "sleep", sleeps.append)
    with pytest.raises(BackendError, match="unprocessed"):
        kv.add_variants(variants=some_variants(3))
    assert len(sleeps) == UNPROCESSED_ATTEMPTS - 1
    assert all(0 <= s <= kv_backend.BACKOFF_CAP_S for s in sleeps)


def test_bulk_load_in_parallel_batches_of_25(kv: DynamoDBBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    real = kv._client.batch_write_item
    sizes: list[int] = []

    def counting(*, RequestItems: dict[str, list[Any]], **kw: Any) -> dict[str, Any]:
        sizes.extend(len(r) for r in RequestItems.values())
        return real(RequestItems=RequestItems, **kw)

    monkeypatch.setattr(kv._client, "batch_write_item", counting)
    kv.add_variants(variants=some_variants(110))
    assert sorted(sizes) == [10, 25, 25, 25, 25]
    assert len(kv.variants_by_chromosome(chromosome="2")) == 110


def test_add_patient_refuses_an_existing_id(kv: DynamoDBBackend) -> None:
    record = PatientRecord(Patient(7, "Ann", 40, "F"), (Diagnosis(1, 7, "I10", dt.date(2024, 5, 1)),))
    kv.add_patient(patient=record)
    with pytest.raises(BackendError, match="patient 7 already exists"):
        kv.add_patient(patient=PatientRecord(Patient(7, "Bob", 41, "M")))
    assert kv.patient_by_id(patient_id=7) == record


def test_add_diagnosis_needs_a_stored_patient(kv: DynamoDBBackend) -> None:
    with pytest.raises(BackendError, match="no patient 99"):
        kv.add_diagnosis(diagnosis_id=1, patient_id=99, code="I10", diagnosed_on=dt.date(2024, 1, 1))


# -- ranges given backwards are empty, not an engine error


def test_reversed_ranges_are_empty(kv: DynamoDBBackend) -> None:
    kv.add_variants(variants=some_variants(3))
    assert kv.variants_in_region(chromosome="2", start=2000, end=1000) == []
    assert kv.carriers_with_diagnosis(chromosome="2", start=2000, end=1000, code="I10") == []
    assert kv.lab_history(patient_id=1, test_name="TSH", since=dt.date(2024, 2, 1), until=dt.date(2024, 1, 1)) == []


# -- cost, identity, schema


def test_consumed_capacity_is_reported_per_operation(kv: DynamoDBBackend) -> None:
    kv.take_cost()
    kv.add_variants(variants=some_variants(30))  # two BatchWriteItem requests
    spent = kv.take_cost()
    assert spent["wcu"] > 0 and spent["rcu"] == 0
    kv.variants_by_chromosome(chromosome="2")
    spent = kv.take_cost()
    assert spent["rcu"] > 0 and spent["wcu"] == 0
    assert kv.take_cost() == {"rcu": 0.0, "wcu": 0.0}


def test_capacity_meter_reads_the_shapes_aws_returns() -> None:
    meter = CapacityMeter()
    meter._count(parsed={"ConsumedCapacity": {"TableName": "t", "CapacityUnits": 0.5}}, model=SimpleNamespace(name="Query"))
    meter._count(parsed={"ConsumedCapacity": [{"TableName": "t", "CapacityUnits": 3.0, "WriteCapacityUnits": 3.0},
                                              {"TableName": "u", "CapacityUnits": 1.0}]},
                 model=SimpleNamespace(name="BatchWriteItem"))
    meter._count(parsed={}, model=SimpleNamespace(name="DescribeTable"))
    assert meter.take() == {"rcu": 0.5, "wcu": 4.0}
    assert meter.take() == {"rcu": 0.0, "wcu": 0.0}


def test_engine_info_names_moto_as_an_emulator(kv: DynamoDBBackend) -> None:
    import importlib.metadata

    info = kv.engine_info()
    assert info.product.startswith("moto") and info.emulator
    assert info.version == importlib.metadata.version("moto")
    assert info.address == "http://127.0.0.1:8000" and info.driver.startswith("boto3 ")


def test_tables_are_on_demand_with_their_indexes(kv: DynamoDBBackend) -> None:
    indexes = {}
    for table in kv.tables:
        assert table.startswith(PREFIX)
        described = kv._client.describe_table(TableName=table)["Table"]
        assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        indexes[table] = sorted(i["IndexName"] for i in described.get("GlobalSecondaryIndexes", []))
    assert indexes == {kv.tables.patients: ["by_age", "by_code"], kv.tables.lab_results: [],
                       kv.tables.variants: ["by_locus"]}


def test_reset_is_idempotent(kv: DynamoDBBackend) -> None:
    kv.add_variants(variants=some_variants(2))
    kv.reset()
    kv.reset()
    assert kv.all_variants() == []


# -- settings and errors


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMBENCH_DYNAMODB_URL", "https://dynamodb.eu-west-1.amazonaws.com")
    monkeypatch.setenv("MMBENCH_DYNAMODB_REGION", "eu-west-1")
    monkeypatch.setenv("MMBENCH_DYNAMODB_TABLE_PREFIX", "demo_")
    monkeypatch.setenv("MMBENCH_DYNAMODB_WORKERS", "8")
    s = DynamoDBSettings()
    assert (s.region, s.table_prefix, s.workers, s.on_aws) == ("eu-west-1", "demo_", 8, True)
    assert DynamoDBSettings(url="aws").on_aws and DynamoDBSettings(url="aws").endpoint_url is None
    assert not DynamoDBSettings(url="http://127.0.0.1:8000").on_aws


def test_unreachable_engine_is_one_line() -> None:
    with pytest.raises(EngineUnavailable) as caught:
        open_kv(url="http://127.0.0.1:9", timeout=1.0)
    message = str(caught.value)
    assert "\n" not in message and "http://127.0.0.1:9" in message and "mmbench up dynamodb" in message


def test_reading_before_any_load_says_what_to_do() -> None:
    with DynamoDBBackend.from_settings(DynamoDBSettings(table_prefix="mmbench_never_created_")) as backend:
        with pytest.raises(BackendError, match="load a data set first"):
            backend.all_variants()
