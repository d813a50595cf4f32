"""DynamoDB specifics, against the local DynamoDB API (dynalite by default; moto with
MMBENCH_DYNAMODB_ENGINE=moto): both designs unless a test is about one.

Pagination past 1 MB on every Query and Scan, exact numbers and DynamoDB's number limits,
BatchWriteItem retries with backoff, consumed capacity, load generations (orphans of a killed
load, a reader following another process's load, a concurrent switch refused), explain's
captured requests, settings, timeouts and credentials never echoed. The catalog, the load
contract and explain's counts are covered by tests/conformance.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections import Counter
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

import backends.kv.core as kv_core
from backends import backend_class
from backends.base import BackendError, EngineUnavailable, NotLoaded
from backends.kv.capacity import CapacityMeter
from backends.kv.codec import int_from_wire
from backends.kv.core import UNPROCESSED_ATTEMPTS, DynamoDBCore
from backends.kv.explain import item_size, read_units, write_units
from backends.kv.settings import DynamoDBSettings
from models.catalog import Q
from models.dataset import MemoryDataset
from models.entities import Diagnosis, LabResult, Patient, PatientRecord, Variant
from models.generate import SyntheticDataset
from models.reference import Reference
from models.seed import seed_dataset
from tests.helpers import BACKENDS, assert_same, base_name

DESIGNS = [b for b in BACKENDS if base_name(b) == "dynamodb"] or ["dynamodb"]
PREFIX = "mmbench_kvtest_"


def open_kv(design: str, **overrides: Any) -> DynamoDBCore:
    return backend_class(design).from_settings(DynamoDBSettings(table_prefix=PREFIX, **overrides))


def drop_everything(backend: DynamoDBCore) -> None:
    """Delete every table of the backend's prefix (all generations and the metadata table)."""
    listed = (n for page in backend._client.get_paginator("list_tables").paginate() for n in page["TableNames"])
    names = [n for n in listed if n.startswith(backend.prefix) and (
        backend.table_pattern(backend.prefix).fullmatch(n) or n == backend.meta_table)]
    backend._drop(names)
    for name in names:  # gone before the next test creates tables of the same names
        backend._wait("table_not_exists", name)


@pytest.fixture(params=DESIGNS)
def kv(request: pytest.FixtureRequest) -> Iterator[DynamoDBCore]:
    """An empty backend under a prefix of its own; its tables are deleted afterwards."""
    backend = open_kv(request.param)
    backend.reset()
    yield backend
    drop_everything(backend)
    backend.close()


def table_names(backend: DynamoDBCore) -> set[str]:
    """The design's generation tables that exist (tables being deleted, asynchronously, are waited for)."""
    pattern = backend.table_pattern(backend.prefix)
    listed = (n for page in backend._client.get_paginator("list_tables").paginate() for n in page["TableNames"])
    names = {n for n in listed if pattern.fullmatch(n)}
    for name in list(names):
        try:
            status = backend._client.describe_table(TableName=name)["Table"]["TableStatus"]
        except backend._client.exceptions.ResourceNotFoundException:
            status = "DELETING"
        if status == "DELETING":
            backend._wait("table_not_exists", name)
            names.discard(name)
    return names


# -- pagination


def big_dataset() -> MemoryDataset:
    """Synthetic data (10,000 variant calls) whose patients have 1.2 KB names: the variants,
    the diagnoses in the code index and the profiles in the age index each exceed 1 MB."""
    data = SyntheticDataset(scale=1, seed=5).materialize()
    data.patient_list = [dataclasses.replace(p, name=f"{p.name} {'x' * 1200}") for p in data.patient_list]
    return data


def test_every_read_follows_last_evaluated_key(kv: DynamoDBCore) -> None:
    data = big_dataset()
    kv.load(data, batch_size=1000)
    common = Counter(d.code for d in data.diagnosis_list).most_common(1)[0][0]
    sharing = next(d.patient_id for d in data.diagnosis_list if d.code == common)
    continued: list[str] = []

    def spy(params: dict[str, Any], model: Any, **_: Any) -> None:
        if b"ExclusiveStartKey" in params["body"]:
            continued.append(model.name)

    kv._client.meta.events.register("before-call.dynamodb", spy)
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
    kv._client.meta.events.unregister("before-call.dynamodb", spy)
    assert len(continued) > 5, "no second page was read: the data set is too small to need pagination"
    e = kv.explain(Q.PATIENTS_OLDER_THAN, {"age": 0})  # 1,000 profiles of 1.2 KB: two pages
    assert e.work.round_trips > 1 and "2 pages" in " ".join(e.plan_summary)


# -- numbers


def test_numbers_round_trip_exactly(kv: DynamoDBCore) -> None:
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
    assert kv.variants_in_region(chromosome="MT", start=2**53, end=2**53 + 2) == [variant]


def test_numbers_from_the_wire() -> None:
    assert int_from_wire("50") == 50 and int_from_wire("1E+2") == 100
    assert int_from_wire(str(2**70)) == 2**70
    with pytest.raises(BackendError, match="integer"):
        int_from_wire("2.5")


def test_numbers_dynamodb_refuses_are_refused_on_every_engine(kv: DynamoDBCore) -> None:
    """moto stores 45 digits; DynamoDB (and dynalite) keep at most 38 significant digits."""
    for bad, match in ((Variant("nan", "1", 5, "A", "G", "AG", float("nan"), 10, None), "finite"),
                       (Variant("deep", "1", 5, "A", "G", "AG", 30.0, 10**44 + 7, None), "38 significant digits"),
                       (Variant("huge", "1", 5, "A", "G", "AG", 1e300, 10, None), "magnitude")):
        with pytest.raises(BackendError, match=match):
            kv.add_variants(variants=[bad])
    kv.add_variants(variants=[Variant("round", "1", 5, "A", "G", "AG", 30.0, 10**44, None)])  # 1 digit
    assert kv.variant_by_id(variant_id="round").depth == 10**44


# -- writes


def some_variants(n: int) -> list[Variant]:
    return [Variant(f"w{k}", "2", 1000 + k, "C", "T", "CT", 30.5, 20 + k, None) for k in range(n)]


def test_unprocessed_items_are_retried_with_backoff(kv: DynamoDBCore, monkeypatch: pytest.MonkeyPatch) -> None:
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
    monkeypatch.setattr(kv_core.time, "sleep", sleeps.append)
    monkeypatch.setattr(kv_core, "backoff_delay", lambda attempt: 0.05 * 2 ** attempt)
    kv.add_variants(variants=some_variants(10))
    assert sleeps == [0.05, 0.1, 0.2]
    assert sorted(v.variant_id for v in kv.all_variants()) == sorted(f"w{k}" for k in range(10))


def test_writes_give_up_after_repeated_throttling(kv: DynamoDBCore, monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(kv._client, "batch_write_item", lambda *, RequestItems, **_: {"UnprocessedItems": RequestItems})
    monkeypatch.setattr(kv_core.time, "sleep", sleeps.append)
    with pytest.raises(BackendError, match="unprocessed"):
        kv.add_variants(variants=some_variants(3))
    assert len(sleeps) == UNPROCESSED_ATTEMPTS - 1
    assert all(0 <= s <= kv_core.BACKOFF_CAP_S for s in sleeps)


def test_bulk_writes_in_parallel_batches_of_25(kv: DynamoDBCore, monkeypatch: pytest.MonkeyPatch) -> None:
    real = kv._client.batch_write_item
    sizes: list[int] = []

    def counting(*, RequestItems: dict[str, list[Any]], **kw: Any) -> dict[str, Any]:
        sizes.extend(len(r) for r in RequestItems.values())
        return real(RequestItems=RequestItems, **kw)

    monkeypatch.setattr(kv._client, "batch_write_item", counting)
    kv.add_variants(variants=some_variants(110))
    assert sorted(sizes) == [10, 25, 25, 25, 25]
    assert len(kv.variants_by_chromosome(chromosome="2")) == 110


def test_add_patient_refuses_an_existing_id(kv: DynamoDBCore) -> None:
    record = PatientRecord(Patient(7, "Ann", 40, "F"), (Diagnosis(1, 7, "I10", dt.date(2024, 5, 1)),))
    kv.add_patient(patient=record)
    with pytest.raises(BackendError, match="patient 7 already exists"):
        kv.add_patient(patient=PatientRecord(Patient(7, "Bob", 41, "M"), (Diagnosis(2, 7, "E11", dt.date(2024, 1, 1)),)))
    assert kv.patient_by_id(patient_id=7) == record
    assert [p.name for p in kv.patients_with_diagnosis(code="E11")] == []


def test_add_diagnosis_needs_a_stored_patient(kv: DynamoDBCore) -> None:
    with pytest.raises(BackendError, match="no patient 99"):
        kv.add_diagnosis(diagnosis_id=1, patient_id=99, code="I10", diagnosed_on=dt.date(2024, 1, 1))


def test_reversed_ranges_are_empty(kv: DynamoDBCore) -> None:
    kv.add_variants(variants=some_variants(3))
    assert kv.variants_in_region(chromosome="2", start=2000, end=1000) == []
    assert kv.carriers_with_diagnosis(chromosome="2", start=2000, end=1000, code="I10") == []
    assert kv.lab_history(patient_id=1, test_name="TSH", since=dt.date(2024, 2, 1), until=dt.date(2024, 1, 1)) == []


# -- load generations


def test_a_load_switches_generations_and_deletes_the_old(kv: DynamoDBCore) -> None:
    first = table_names(kv)
    kv.load(seed_dataset())
    second = table_names(kv)
    assert first and second and not first & second, "a load writes fresh tables and drops the old ones"
    pointer = kv._pointer()
    assert pointer is not None and all(f"g{pointer['generation']['N']}" in name for name in second)
    assert kv.holdings().dataset == "seed"
    kv.reset()
    assert kv.holdings() is None and kv.all_variants() == []


def test_a_killed_load_leaves_orphans_that_the_next_load_drops(kv: DynamoDBCore) -> None:
    kv.load(seed_dataset())
    current = table_names(kv)
    killed = open_kv(kv.name)
    killed.begin_load()
    killed.write_batch("variants", some_variants(5))
    killed.close()  # the process "dies": no abort_load, no end_load
    orphans = table_names(kv) - current
    assert orphans, "the killed load's tables are left behind"
    assert len(kv.all_variants()) == 10, "readers never see them"
    kv.load(seed_dataset())
    assert not table_names(kv) & (orphans | current)
    assert len(kv.all_variants()) == 10


def test_a_reader_follows_another_process_load(kv: DynamoDBCore) -> None:
    kv.load(seed_dataset())
    reader = open_kv(kv.name)
    try:
        assert len(reader.all_variants()) == 10  # resolves and keeps the generation
        small = dataclasses.replace(seed_dataset(), name="small", description=None,
                                    variant_list=seed_dataset().variant_list[:3])
        kv.load(small)  # another process: the reader's generation is deleted
        kv_core.time.sleep(0.3)  # table deletion is asynchronous
        assert len(reader.all_variants()) == 3
        assert reader.holdings().dataset == "small"
    finally:
        reader.close()


def test_a_concurrent_switch_is_refused(kv: DynamoDBCore) -> None:
    kv.load(seed_dataset())
    other = open_kv(kv.name)
    try:
        kv.begin_load()
        other.load(dataclasses.replace(seed_dataset(), name="other", description=None))
        with pytest.raises(BackendError, match="another load"):
            kv.end_load(kv_core.Holdings("late", None, None, {}, "2026-01-01T00:00:00+00:00"))
        kv.abort_load()
        assert kv.holdings().dataset == "other" and len(kv.all_variants()) == 10
    finally:
        other.close()


def test_nothing_loaded_in_a_fresh_prefix() -> None:
    backend = backend_class(DESIGNS[0]).from_settings(DynamoDBSettings(table_prefix="mmbench_never_created_"))
    with backend:
        for ask in (backend.holdings, backend.all_variants, lambda: backend.record_writes(1)):
            with pytest.raises(NotLoaded, match="load a data set first"):
                ask()


# -- cost, explain, identity, schema


def test_consumed_capacity_is_reported_per_operation(kv: DynamoDBCore) -> None:
    kv.take_cost()
    kv.add_variants(variants=some_variants(30))  # two BatchWriteItem requests
    spent = kv.take_cost()
    assert spent["wcu"] > 0 and spent["rcu"] == 0
    kv.variants_by_chromosome(chromosome="2")
    spent = kv.take_cost()
    assert spent["rcu"] > 0 and spent["wcu"] == 0
    assert kv.take_cost() == {"rcu": 0.0, "wcu": 0.0}
    kv.explain(Q.ALL_VARIANTS, {})
    assert kv.take_cost() == {"rcu": 0.0, "wcu": 0.0}, "explain's own requests are not the next operation's"


def test_capacity_meter_reads_the_shapes_aws_returns() -> None:
    meter = CapacityMeter()
    meter._count(parsed={"ConsumedCapacity": {"TableName": "t", "CapacityUnits": 0.5}}, model=SimpleNamespace(name="Query"))
    meter._count(parsed={"ConsumedCapacity": [{"TableName": "t", "CapacityUnits": 3.0, "WriteCapacityUnits": 3.0},
                                              {"TableName": "u", "CapacityUnits": 1.0}]},
                 model=SimpleNamespace(name="BatchWriteItem"))
    meter._count(parsed={}, model=SimpleNamespace(name="DescribeTable"))
    assert meter.take() == {"rcu": 0.5, "wcu": 4.0}
    assert meter.take() == {"rcu": 0.0, "wcu": 0.0}


def test_billed_units_follow_dynamodbs_rules() -> None:
    item = {"pk": {"S": "a" * 2000}, "n": {"N": "12345"}}
    assert item_size(item) == 2 + 2000 + 1 + 4
    assert read_units(0) == 0.5 and read_units(4096) == 0.5 and read_units(4097) == 1.0
    assert read_units(4097, consistent=True) == 2.0
    definition = {"KeySchema": [{"AttributeName": "pk"}], "GlobalSecondaryIndexes": [
        {"KeySchema": [{"AttributeName": "n"}], "Projection": {"ProjectionType": "KEYS_ONLY"}},
        {"KeySchema": [{"AttributeName": "absent"}], "Projection": {"ProjectionType": "ALL"}}]}
    assert write_units(item, definition) == 2 + 2  # 2 KB in the table, 2 KB of keys in one index, not the other
    assert write_units(item, definition, transactional=True) == 8


def test_explain_records_each_request_exactly_as_sent(kv: DynamoDBCore) -> None:
    kv.load(seed_dataset())
    sent: list[str] = []

    def spy(params: dict[str, Any], model: Any, **_: Any) -> None:
        sent.append(f"{model.name} {params['body'].decode()}")

    kv._client.meta.events.register("before-call.dynamodb", spy)
    e = kv.explain(Q.VARIANTS_MIN_DEPTH, {"min_depth": 50})
    kv._client.meta.events.unregister("before-call.dynamodb", spy)
    assert [s.text for s in e.statements] == sent[:len(e.statements)]
    assert all(s.language == "dynamodb" for s in e.statements)
    filtered = [s for s in e.statements if "FilterExpression" in s.text]
    assert filtered and all('"50"' in s.text for s in filtered)  # one Scan; or a Query per GSI2 shard (single table)
    assert (e.work.answer, e.work.returned) == (4, 4) and e.work.examined >= 10 and e.work.cost["rcu"] > 0
    if kv.engine_kind() == "moto":
        assert any("COMPUTED" in n for n in e.notes)


def test_explaining_writes_uses_scratch_ids_and_deletes_them(kv: DynamoDBCore) -> None:
    kv.load(seed_dataset())
    record = PatientRecord(Patient(4242, "Scratch", 33, "F"), (Diagnosis(9001, 4242, "Z00.00", dt.date(2024, 1, 2)),))
    e = kv.explain(Q.ADD_PATIENT, {"patient": record})
    assert e.undone and "scratch" in e.undone and e.work.cost["wcu"] > 0
    assert any("TransactWriteItems" in s.text or "PutItem" in s.text for s in e.statements)
    assert kv.patient_by_id(patient_id=4242) is None and kv.patients_with_diagnosis(code="Z00.00") == []
    assert e.params["patient"]["patient"]["patient_id"] != 4242
    before = kv.all_variants()
    e = kv.explain(Q.ADD_VARIANTS, {"variants": some_variants(30)})
    assert len([s for s in e.statements if s.text.startswith("BatchWriteItem")]) == 2
    assert sorted(kv.all_variants(), key=str) == sorted(before, key=str)


def test_engine_info_names_the_emulator(kv: DynamoDBCore) -> None:
    info = kv.engine_info()
    assert info.emulator and info.driver.startswith("boto3 ") and info.differences
    expected = os.environ.get("MMBENCH_DYNAMODB_ENGINE", "dynalite")
    assert info.product.startswith(expected) and info.options["engine"] == expected
    if expected == "dynalite":
        assert info.address == "http://127.0.0.1:8000" and info.version == "4.0.0"
    else:
        assert info.address == "http://127.0.0.1:5000" and info.version[0].isdigit()


def test_tables_are_on_demand(kv: DynamoDBCore) -> None:
    for table in kv.tables:
        assert table.startswith(PREFIX)
        described = kv._client.describe_table(TableName=table)["Table"]
        assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_reset_is_idempotent(kv: DynamoDBCore) -> None:
    kv.add_variants(variants=some_variants(2))
    kv.reset()
    kv.reset()
    assert kv.all_variants() == [] and kv.holdings() is None


# -- settings, timeouts and errors


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMBENCH_DYNAMODB_URL", "https://dynamodb.eu-west-1.amazonaws.com")
    monkeypatch.setenv("MMBENCH_DYNAMODB_REGION", "eu-west-1")
    monkeypatch.setenv("MMBENCH_DYNAMODB_TABLE_PREFIX", "demo_")
    monkeypatch.setenv("MMBENCH_DYNAMODB_WORKERS", "8")
    s = DynamoDBSettings.from_env()
    assert (s.region, s.table_prefix, s.workers, s.on_aws) == ("eu-west-1", "demo_", 8, True)
    assert DynamoDBSettings(url="aws").on_aws and DynamoDBSettings(url="aws").endpoint_url is None
    assert not DynamoDBSettings(url="http://127.0.0.1:8000").on_aws


def test_the_engine_setting_picks_the_local_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MMBENCH_DYNAMODB_URL", raising=False)
    monkeypatch.setenv("MMBENCH_DYNAMODB_ENGINE", "moto")
    assert DynamoDBSettings.from_env().endpoint_url == "http://127.0.0.1:5000"
    monkeypatch.setenv("MMBENCH_DYNAMODB_URL", "http://127.0.0.1:8000")  # an explicit URL wins
    assert DynamoDBSettings.from_env().endpoint_url == "http://127.0.0.1:8000"
    monkeypatch.delenv("MMBENCH_DYNAMODB_ENGINE")
    monkeypatch.delenv("MMBENCH_DYNAMODB_URL")
    assert DynamoDBSettings.from_env().endpoint_url == "http://127.0.0.1:8000"
    monkeypatch.setenv("MMBENCH_DYNAMODB_ENGINE", "dynamodb-local")
    with pytest.raises(BackendError, match="MMBENCH_DYNAMODB_ENGINE") as caught:
        DynamoDBSettings.from_env()
    assert "\n" not in str(caught.value)


def test_the_namespace_and_design_are_in_every_table_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMBENCH_NAMESPACE", "lecture")
    assert DynamoDBSettings().prefix() == "mmbench_lecture_"
    assert DynamoDBSettings().prefix("single-table") == "mmbench_lecture_single-table-"
    monkeypatch.setenv("MMBENCH_NAMESPACE", "")
    assert DynamoDBSettings().prefix() == "mmbench_"


def test_every_request_has_a_timeout(kv: DynamoDBCore) -> None:
    config = kv._client.meta.config
    assert config.connect_timeout == kv.settings.timeout and config.read_timeout <= 6 * kv.settings.timeout
    assert config.retries["total_max_attempts"] <= 3


def test_credentials_never_reach_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "s3cr3t/p@ss:w0rd"
    settings = DynamoDBSettings(url="http://user:pw%40x@127.0.0.1:1", access_key_id="AKIAEXAMPLEKEY",
                                secret_access_key=secret, timeout=0.5)
    with pytest.raises(EngineUnavailable) as caught:
        backend_class(DESIGNS[0]).from_settings(settings)
    message = str(caught.value)
    assert "\n" not in message and secret not in message and "pw%40x" not in message and "user:" not in message
    assert secret not in repr(settings) and "AKIAEXAMPLEKEY" not in repr(settings)
