"""The key-value model: Amazon DynamoDB through boto3's low-level client (moto's server locally).

The schema and why it looks as it does are in `schema.py`; items are encoded by `codec.py`
(numbers exact) and every request's consumed capacity is summed by `capacity.py`.

- Reads: GetItem, Query on the table or a GSI (key conditions, never a filter where a key
  can do), or Scan + FilterExpression where no key can (Tier.CLIENT, see `tiers`). Every
  Query and Scan goes through a botocore paginator, which follows LastEvaluatedKey: a page
  holds at most 1 MB, and the lecture's Lambda, which reads one page, silently drops the
  rest at scale. Conditions are built with boto3's condition builder (attribute names
  always go through placeholders, so reserved words such as `name` cannot clash).
- Writes: BatchWriteItem in requests of 25 items (what boto3's `batch_writer` sends), on a
  thread pool of `workers` parallel requests, and unprocessed items are re-sent with
  exponential backoff and jitter (`batch_writer` re-sends them at once, without backoff,
  and cannot report capacity). `add_patient` is one TransactWriteItems (the profile and
  its diagnoses, all or nothing; a duplicate patient_id is refused).
- Fan-out reads (one Query per code, or a region and a code) run on the same pool.
- Reads are eventually consistent (DynamoDB's default, half the cost); moto is always
  consistent. On AWS a read right after a write may miss it for up to about a second.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import random
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, ClassVar, Self
from types import MappingProxyType

import boto3
import botocore
from boto3.dynamodb.conditions import Attr, ConditionBase, ConditionExpressionBuilder, Key
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError as BotoConnectionError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
)

from backends.base import Backend, BackendError, EngineInfo, EngineUnavailable, NotLoaded, Tier, first_line
from backends.kv import schema
from backends.kv.capacity import CapacityMeter
from backends.kv.codec import Item, int_of, text_of, to_attribute
from backends.kv.schema import BY_AGE, BY_CODE, BY_LOCUS, DIAGNOSIS, DX, LAB_RESULT, PATIENT, PROFILE, VARIANT, Tables
from backends.kv.settings import LOCAL_CREDENTIALS, LOCAL_REGION, DynamoDBSettings
from models.catalog import Q
from models.dataset import EntityKind, batched
from models.entities import (
    CodeCount,
    Diagnosis,
    LabResult,
    Patient,
    PatientRecord,
    SharedDiagnoses,
    Variant,
    diagnosis_order,
    rank_code_counts,
    rank_shared,
)

BATCH_WRITE_ITEMS = 25        # DynamoDB's limit per BatchWriteItem
TRANSACTION_ITEMS = 100       # DynamoDB's limit per TransactWriteItems
UNPROCESSED_ATTEMPTS = 10     # BatchWriteItem calls per chunk before giving up
BACKOFF_BASE_S, BACKOFF_CAP_S = 0.05, 5.0
MOTO = "moto (DynamoDB API emulator)"


def backoff_delay(attempt: int) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**attempt)]."""
    return random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** attempt))


class DynamoDBBackend(Backend):
    """The catalog on three DynamoDB tables (see schema.py); thread-safe, one boto3 client."""

    name: ClassVar[str] = "dynamodb"
    model: ClassVar[str] = "kv"
    tiers: ClassVar[Mapping[Q, Tier]] = MappingProxyType({
        Q.VARIANTS_MIN_DEPTH: Tier.CLIENT,           # Scan + FilterExpression
        Q.VARIANTS_MIN_QUALITY: Tier.CLIENT,         # Scan + FilterExpression
        Q.DIAGNOSIS_COUNTS: Tier.CLIENT,             # Scan of by_code, counted in the client
        Q.COMORBID_CODES: Tier.CLIENT,               # Scan of by_code, counted in the client
        Q.CARRIERS_WITH_DIAGNOSIS: Tier.CLIENT,      # two Queries joined in the client
        Q.PATIENTS_SHARING_DIAGNOSES: Tier.CLIENT,   # a Query per code, counted in the client
    })

    def __init__(self, settings: DynamoDBSettings) -> None:
        self.settings = settings
        self.tables = Tables.with_prefix(settings.table_prefix)
        self.capacity = CapacityMeter()
        self._info: EngineInfo | None = None
        self._loading: dict[int, Item] | None = None
        try:
            self._session = self._make_session(settings)
            self._client = self._make_client(Config(
                connect_timeout=settings.timeout, read_timeout=30 * settings.timeout,
                retries={"mode": "standard", "max_attempts": 5},
                max_pool_connections=settings.workers + 4,
            ))
        except NoRegionError:
            raise BackendError("dynamodb: no AWS region; set MMBENCH_DYNAMODB_REGION or AWS_REGION") from None
        self.address = self._client.meta.endpoint_url
        try:
            self._probe()
        except BackendError:
            self._client.close()
            raise
        self.capacity.attach(self._client)
        self._paginators = {op: self._client.get_paginator(op) for op in ("query", "scan")}
        self._pool = ThreadPoolExecutor(settings.workers, thread_name_prefix="dynamodb")

    @classmethod
    def from_settings(cls, settings: DynamoDBSettings | None = None) -> Self:
        return cls(settings or DynamoDBSettings())

    @staticmethod
    def _make_session(settings: DynamoDBSettings) -> boto3.Session:
        """Explicit credentials if given; locally a dummy pair; on AWS boto3's default chain."""
        keys = (settings.access_key_id, settings.secret_access_key)
        if not all(keys) and not settings.on_aws:
            keys = LOCAL_CREDENTIALS
        region = settings.region or (None if settings.on_aws else LOCAL_REGION)
        if all(keys):
            return boto3.Session(aws_access_key_id=keys[0], aws_secret_access_key=keys[1], region_name=region)
        return boto3.Session(region_name=region)

    def _make_client(self, config: Config) -> Any:
        return self._session.client("dynamodb", endpoint_url=self.settings.endpoint_url, config=config)

    def _probe(self) -> None:
        """One quick request without retries: EngineUnavailable if nothing answers."""
        quick = self._make_client(Config(connect_timeout=self.settings.timeout, read_timeout=self.settings.timeout,
                                         retries={"total_max_attempts": 1}))
        try:
            with self._errors():
                quick.list_tables(Limit=1)
        finally:
            quick.close()

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)
        self._client.close()

    def take_cost(self) -> dict[str, float]:
        """Read and write capacity units DynamoDB reported since the last call (see capacity.py)."""
        return self.capacity.take()

    # -- engine identity

    def engine_info(self) -> EngineInfo:
        if self._info is None:
            driver = f"boto3 {boto3.__version__} + botocore {botocore.__version__}"
            api = self._client.meta.service_model.api_version
            if self.settings.on_aws:
                self._info = EngineInfo("Amazon DynamoDB", f"API {api}", emulator=False, driver=driver,
                                        address=self.address)
            elif self._is_moto():
                self._info = EngineInfo(MOTO, _package_version("moto"), emulator=True, driver=driver,
                                        address=self.address)
            else:
                self._info = EngineInfo("DynamoDB-compatible endpoint", f"API {api}", emulator=True,
                                        driver=driver, address=self.address)
        return self._info

    def _is_moto(self) -> bool:
        """moto's server answers its own /moto-api/ routes; nothing else does."""
        try:
            with urllib.request.urlopen(f"{self.address}/moto-api/config", timeout=self.settings.timeout) as r:
                return isinstance(json.load(r), dict)
        except (OSError, ValueError):
            return False

    # -- errors

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Driver errors as one-line BackendError / EngineUnavailable."""
        try:
            yield
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") == "ResourceNotFoundException":
                raise NotLoaded(self.name, f"tables (prefix {self.settings.table_prefix!r})") from None
            raise BackendError(f"dynamodb: {error.get('Code', 'error')}: {error.get('Message', exc)}") from None
        except NoCredentialsError:
            raise BackendError("dynamodb: no AWS credentials; set MMBENCH_DYNAMODB_ACCESS_KEY_ID and "
                               "MMBENCH_DYNAMODB_SECRET_ACCESS_KEY, or AWS_PROFILE") from None
        except (BotoConnectionError, HTTPClientError) as exc:
            raise EngineUnavailable(self.name, "DynamoDB" if self.settings.on_aws else MOTO, self.address,
                                    first_line(exc)) from None
        except BotoCoreError as exc:
            raise BackendError(f"dynamodb: {first_line(exc)}") from None

    # -- schema and loading

    def reset(self) -> None:
        """Delete the tables (if any) and create them empty, waiting until they are ACTIVE."""
        wait = {"Delay": 5 if self.settings.on_aws else 0.2, "MaxAttempts": 240}
        with self._errors():
            gone = []
            for table in self.tables:
                try:
                    self._client.delete_table(TableName=table)
                    gone.append(table)
                except ClientError as exc:
                    if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                        raise
            for table in gone:
                self._client.get_waiter("table_not_exists").wait(TableName=table, WaiterConfig=wait)
            for request in self.tables.definitions():
                self._client.create_table(**request)
            for table in self.tables:
                self._client.get_waiter("table_exists").wait(TableName=table, WaiterConfig=wait)

    def begin_load(self) -> None:
        """Diagnoses copy their patient's fields, so the load keeps the profile items it wrote
        (one small dict per patient) until it ends, instead of reading them back."""
        self._loading = {}

    def write_batch(self, kind: EntityKind, rows: list[Any]) -> None:
        if kind == "patients":
            items = [schema.profile_item(p) for p in rows]
            if self._loading is not None:
                self._loading.update((p.patient_id, item) for p, item in zip(rows, items))
            self._put_all(self.tables.patients, items)
        elif kind == "diagnoses":
            profiles = self._profiles({d.patient_id for d in rows})
            self._put_all(self.tables.patients, [schema.diagnosis_item(d, profiles[d.patient_id]) for d in rows])
        elif kind == "lab_results":
            self._put_all(self.tables.lab_results, [schema.lab_item(r) for r in rows])
        else:
            self._put_all(self.tables.variants, [schema.variant_item(v) for v in rows])

    def end_load(self) -> None:
        self._loading = None

    def abort_load(self) -> None:
        """Nothing can be rolled back: leave the tables empty instead of half loaded."""
        self._loading = None
        self.reset()

    def _profiles(self, patient_ids: set[int]) -> dict[int, Item]:
        """Profiles of these patients: from the running load, else read (consistently) from the table."""
        known = self._loading or {}
        found = {pid: known[pid] for pid in patient_ids if pid in known}
        for pid in patient_ids - found.keys():
            with self._errors():
                item = self._client.get_item(TableName=self.tables.patients, ConsistentRead=True,
                                             Key={"patient_id": to_attribute(pid), "sk": {"S": PROFILE}}).get("Item")
            if item is None:
                raise BackendError(f"dynamodb: no patient {pid} (a diagnosis must belong to a stored patient)")
            found[pid] = item
        return found

    def _put_all(self, table: str, items: list[Item]) -> None:
        """Write items in BatchWriteItem requests of 25, `workers` at a time; the last of equal keys wins."""
        keys = self.tables.key_names(table)
        unique = {tuple(next(iter(item[k].values())) for k in keys): item for item in items}
        chunks = list(batched([{"PutRequest": {"Item": item}} for item in unique.values()], BATCH_WRITE_ITEMS))
        if len(chunks) == 1:
            self._write_chunk(table, chunks[0])
        else:
            for _ in self._pool.map(lambda chunk: self._write_chunk(table, chunk), chunks):
                pass

    def _write_chunk(self, table: str, requests: list[dict[str, Any]]) -> None:
        pending: dict[str, Any] = {table: requests}
        for attempt in range(UNPROCESSED_ATTEMPTS):
            if attempt:
                time.sleep(backoff_delay(attempt - 1))
            with self._errors():
                pending = self._client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if not pending:
                return
        left = sum(len(r) for r in pending.values())
        raise BackendError(f"dynamodb: {left} items still unprocessed after {UNPROCESSED_ATTEMPTS} "
                           "BatchWriteItem attempts (throttled)")

    # -- reads: every Query and Scan is paginated

    def _items(self, operation: str, table: str, *, key: ConditionBase | None = None, index: str | None = None,
               where: ConditionBase | None = None, fields: Iterable[str] = ()) -> Iterator[Item]:
        """Every item of a Query (`key` given) or Scan, page after page until LastEvaluatedKey is gone."""
        request = _request(table, key=key, index=index, where=where, fields=fields)
        with self._errors():
            for page in self._paginators[operation].paginate(**request):
                yield from page["Items"]

    def _query(self, table: str, key: ConditionBase, **options: Any) -> list[Item]:
        return list(self._items("query", table, key=key, **options))

    def _scan(self, table: str, **options: Any) -> list[Item]:
        return list(self._items("scan", table, **options))

    def _in_parallel(self, calls: Iterable[Callable[[], Any]]) -> list[Any]:
        return list(self._pool.map(lambda call: call(), calls))

    def variant_by_id(self, *, variant_id: str) -> Variant | None:
        with self._errors():
            item = self._client.get_item(TableName=self.tables.variants,
                                         Key={"variant_id": {"S": variant_id}}).get("Item")
        return None if item is None else VARIANT.decode(item)

    def variants_by_chromosome(self, *, chromosome: str) -> list[Variant]:
        return _by_locus(self._query(self.tables.variants, Key("chromosome").eq(chromosome), index=BY_LOCUS))

    def variants_in_region(self, *, chromosome: str, start: int, end: int) -> list[Variant]:
        if start > end:
            return []  # BETWEEN with bounds out of order is an error in DynamoDB
        return _by_locus(self._query(self.tables.variants, _region(chromosome, start, end), index=BY_LOCUS))

    def variants_min_depth(self, *, min_depth: int) -> list[Variant]:
        return [VARIANT.decode(i) for i in self._scan(self.tables.variants, where=Attr("depth").gt(min_depth))]

    def variants_min_quality(self, *, min_quality: float) -> list[Variant]:
        return [VARIANT.decode(i) for i in self._scan(self.tables.variants, where=Attr("quality").gt(min_quality))]

    def all_variants(self) -> list[Variant]:
        return [VARIANT.decode(i) for i in self._scan(self.tables.variants)]

    def patient_by_id(self, *, patient_id: int) -> PatientRecord | None:
        items = self._query(self.tables.patients, Key("patient_id").eq(patient_id) & Key("sk").lte(PROFILE))
        if not items or items[-1]["sk"]["S"] != PROFILE:
            return None
        diagnoses = sorted((DIAGNOSIS.decode(i) for i in items[:-1]), key=diagnosis_order)
        return PatientRecord(PATIENT.decode(items[-1]), tuple(diagnoses))

    def patients_older_than(self, *, age: int) -> list[Patient]:
        key = Key("entity").eq(schema.PATIENT_ENTITY) & Key("age").gt(age)
        return [PATIENT.decode(i) for i in self._query(self.tables.patients, key, index=BY_AGE)]

    def _with_code(self, code: str) -> list[Item]:
        """The by_code entries of a code: one per diagnosis, with the patient's fields."""
        return self._query(self.tables.patients, Key("code").eq(code), index=BY_CODE)

    def patients_with_diagnosis(self, *, code: str) -> list[Patient]:
        return list({p.patient_id: p for p in map(PATIENT.decode, self._with_code(code))}.values())

    def _all_diagnoses(self, where: ConditionBase | None = None) -> dict[str, set[int]]:
        """code -> patient ids, from a Scan of the sparse by_code index (diagnoses only)."""
        patients: dict[str, set[int]] = defaultdict(set)
        for item in self._scan(self.tables.patients, index=BY_CODE, where=where, fields=("code", "patient_id")):
            patients[text_of(item, "code")].add(int_of(item, "patient_id"))
        return patients

    def diagnosis_counts(self, *, min_age: int | None = None) -> list[CodeCount]:
        where = None if min_age is None else Attr("age").gt(min_age)
        return rank_code_counts({code: len(ids) for code, ids in self._all_diagnoses(where).items()})

    def lab_history(self, *, patient_id: int, test_name: str, since: dt.date, until: dt.date) -> list[LabResult]:
        if since > until:
            return []  # BETWEEN with bounds out of order is an error in DynamoDB
        key = (Key("patient_test").eq(schema.lab_partition(patient_id, test_name))
               & Key("taken").between(*schema.taken_between(since, until)))
        results = map(LAB_RESULT.decode, self._query(self.tables.lab_results, key))
        return sorted(results, key=lambda r: (r.taken_on, r.result_id))

    def carriers_with_diagnosis(self, *, chromosome: str, start: int, end: int, code: str) -> list[Patient]:
        if start > end:
            return []
        region = _region(chromosome, start, end)
        in_region, having = self._in_parallel((
            lambda: self._query(self.tables.variants, region, index=BY_LOCUS, fields=("patient_id",)),
            lambda: self._with_code(code),
        ))
        carriers = {int_of(i, "patient_id") for i in in_region if "patient_id" in i}
        return list({p.patient_id: p for p in map(PATIENT.decode, having) if p.patient_id in carriers}.values())

    def patients_sharing_diagnoses(self, *, patient_id: int) -> list[SharedDiagnoses]:
        mine = self._query(self.tables.patients, Key("patient_id").eq(patient_id) & Key("sk").begins_with(DX),
                           fields=("code",))
        codes = sorted({text_of(i, "code") for i in mine})
        shared: dict[int, set[str]] = defaultdict(set)
        for code, entries in zip(codes, self._in_parallel(lambda c=c: self._with_code(c) for c in codes)):
            for item in entries:
                other = int_of(item, "patient_id")
                if other != patient_id:
                    shared[other].add(code)
        return rank_shared({pid: len(c) for pid, c in shared.items()})

    def comorbid_codes(self, *, code: str) -> list[CodeCount]:
        patients = self._all_diagnoses()
        having = patients.get(code, set())
        return rank_code_counts({c: len(ids & having) for c, ids in patients.items() if c != code})

    # -- writes

    def add_patient(self, *, patient: PatientRecord) -> None:
        profile = schema.profile_item(patient.patient)
        actions = [{"Put": {"TableName": self.tables.patients, "Item": profile,
                            "ConditionExpression": "attribute_not_exists(patient_id)"}}]
        actions += [{"Put": {"TableName": self.tables.patients, "Item": schema.diagnosis_item(d, profile)}}
                    for d in patient.diagnoses]
        if len(actions) > TRANSACTION_ITEMS:
            raise BackendError(f"dynamodb: a patient with more than {TRANSACTION_ITEMS - 1} diagnoses does not fit "
                               "in one transaction")
        with self._errors():
            try:
                self._client.transact_write_items(TransactItems=actions)
            except ClientError as exc:
                reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
                if reasons[:1] == ["ConditionalCheckFailed"]:
                    raise BackendError(f"dynamodb: patient {patient.patient.patient_id} already exists") from None
                raise

    def add_diagnosis(self, *, diagnosis_id: int, patient_id: int, code: str, diagnosed_on: dt.date) -> None:
        diagnosis = Diagnosis(diagnosis_id, patient_id, code, diagnosed_on)
        profile = self._profiles({patient_id})[patient_id]
        with self._errors():
            self._client.put_item(TableName=self.tables.patients, Item=schema.diagnosis_item(diagnosis, profile))

    def add_variants(self, *, variants: list[Variant]) -> None:
        self._put_all(self.tables.variants, [schema.variant_item(v) for v in variants])


# -- helpers


def _request(table: str, *, key: ConditionBase | None, index: str | None, where: ConditionBase | None,
             fields: Iterable[str]) -> dict[str, Any]:
    """A Query/Scan request: conditions built by boto3 into expressions with placeholders."""
    request: dict[str, Any] = {"TableName": table}
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    if index:
        request["IndexName"] = index
    builder = ConditionExpressionBuilder()
    for parameter, condition, is_key in (("KeyConditionExpression", key, True), ("FilterExpression", where, False)):
        if condition is not None:
            built = builder.build_expression(condition, is_key_condition=is_key)
            request[parameter] = built.condition_expression
            names.update(built.attribute_name_placeholders)
            values.update((k, to_attribute(v)) for k, v in built.attribute_value_placeholders.items())
    projected = {f"#f{i}": name for i, name in enumerate(fields)}
    if projected:
        request["ProjectionExpression"] = ", ".join(projected)
        names.update(projected)
    if names:
        request["ExpressionAttributeNames"] = names
    if values:
        request["ExpressionAttributeValues"] = values
    return request


def _region(chromosome: str, start: int, end: int) -> ConditionBase:
    """The by_locus key condition of a region: a BETWEEN on the sort key, not a filter."""
    return Key("chromosome").eq(chromosome) & Key("position").between(start, end)


def _by_locus(items: list[Item]) -> list[Variant]:
    """Variants in the catalog's order: the index gives position order, variant_id breaks ties."""
    return sorted(map(VARIANT.decode, items), key=lambda v: (v.position, v.variant_id))


def _package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
