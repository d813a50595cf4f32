"""What every DynamoDB design shares: the client, errors, load generations, holdings and explain.

A design (`backend.py`: three tables; `single_table.py`: one) subclasses `DynamoDBCore` and
supplies its table set (`tables_of`, `table_pattern`), how a bulk batch becomes items
(`_write_rows`) and the catalog's methods.

**Load = atomic replace, by generations.** DynamoDB has no transaction across a bulk load and
no table rename. So every load writes into fresh tables of a new generation N
(`<prefix>g<N>_patients`...; the single-table design `<prefix>single-table-g<N>`), and the
switch is ONE conditional PutItem of the pointer item `current` in a small metadata table
`<prefix>meta`, which names the current generation and holds the `Holdings` of its load (and the
writes counted since). Then the previous generation's tables are deleted. Readers resolve the
current generation from the pointer once and keep it; when its tables are gone (another process
loaded since), they read the pointer again and retry once.
- A load that fails (bad row, the engine refusing a write, Ctrl-C) deletes its own tables in
  `abort_load`; the pointer never moved, readers never saw them.
- A process killed mid-load leaves orphan tables of a generation the pointer never named (or,
  killed between the switch and the clean-up, the previous generation's tables). The metadata
  table records every generation (item `generation#<N>`) before its tables are created, and
  deletes the record with the tables; the next load in this namespace deletes the tables of
  every recorded generation but the current one, before it creates its own. One load at a time
  per namespace: a second, concurrent load makes the first fail (its tables vanish, or its
  pointer switch is refused by the condition), never mixes the two.
- `reset()` is a load of nothing: an empty generation, the pointer without holdings.

The pointer's generation comes from a counter item (`counter`, an atomic ADD), so two loads
never pick the same tables. All names carry the prefix: settings' `table_prefix`, then the
namespace, then the design (`settings.prefix`).

**Timeouts (#19).** Every request has botocore's connect and read timeouts (settings.timeout,
6x for reads) and at most 3 attempts; table waiters poll a bounded number of times. Errors are
one line, without credentials: addresses go through `redact_url` and the configured keys are
masked in any message that would echo them.
"""

from __future__ import annotations

import abc
import dataclasses
import datetime as dt
import functools
import json
import re
import secrets
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, ClassVar, Protocol, Self

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from backends.base import (
    Backend,
    BackendError,
    EngineInfo,
    EngineUnavailable,
    Explanation,
    Holdings,
    NotLoaded,
    Statement,
    Work,
    answer_size,
    first_line,
    redact_url,
    run_query,
    state_dir,
)
from backends.kv import explain as ex
from backends.kv.capacity import CapacityMeter
from backends.kv.codec import Item, int_of, text_of
from backends.kv.settings import (
    LOCAL_CREDENTIALS,
    LOCAL_REGION,
    LOCAL_URLS,
    DynamoDBSettings,
)
from backends.kv.shapes import Shape
from models.catalog import CATALOG, Q
from models.dataset import EntityKind, batched
from models.entities import CodeCount, PatientRecord, SharedDiagnoses, Variant, rank_code_counts, rank_shared

BATCH_WRITE_ITEMS = 25        # DynamoDB's limit per BatchWriteItem
TRANSACTION_ITEMS = 100       # DynamoDB's limit per TransactWriteItems
UNPROCESSED_ATTEMPTS = 10     # BatchWriteItem calls per chunk before giving up
BACKOFF_BASE_S, BACKOFF_CAP_S = 0.05, 5.0
READ_TIMEOUT_FACTOR = 6
PRODUCTS = {"dynalite": "dynalite (DynamoDB API emulator)", "moto": "moto (DynamoDB API emulator)",
            "aws": "Amazon DynamoDB", "other": "DynamoDB-compatible endpoint"}
DIFFERENCES = {
    "dynalite": (
        ("One Node.js process on LevelDB: no partitions, no replication, no throttling, no adaptive capacity; "
         "its latencies say nothing about DynamoDB's."),
        ("A Query reads one key range of its sorted store, as DynamoDB reads one partition; a Scan reads "
         "every item, as on DynamoDB."),
        ("No TransactWriteItems, PartiQL, TTL or Streams: add_patient writes the profile with a conditional "
         "PutItem and the diagnoses with BatchWriteItem, not as one transaction."),
        "Reads are always consistent (DynamoDB's default reads may miss a write for about a second).",
        ("Consumed capacity is computed by dynalite from the item sizes with DynamoDB's rules, without the "
         "write units of secondary-index updates."),
        ("DeleteTable and ListTables read the whole store (about a second per table here, so a load's final "
         "switch takes seconds); DynamoDB deletes a table in the background."),
    ),
    "moto": (
        ("An in-memory Python emulator: a Query walks every item of the table or index and keeps those "
         "matching the key condition, so key lookups slow down as the table grows (DynamoDB's do not)."),
        ("Consumed capacity is a placeholder (1 unit per request), not DynamoDB's billing; explain computes "
         "the billed units from item sizes instead."),
        "Reads are always consistent; no partitions, replication or throttling.",
    ),
}


GENERATIONS = Shape("scan", filter="begins_with(#n, :g)", names={"#n": "name"})


def backoff_delay(attempt: int) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**attempt)]."""
    return secrets.SystemRandom().uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** attempt))


class TableSet(Protocol):
    """The tables of one generation of a design."""

    def __iter__(self) -> Iterator[str]: ...
    def key_names(self, table: str) -> tuple[str, ...]: ...
    def definitions(self) -> list[dict[str, Any]]: ...


class _Missing(NotLoaded):
    """A table of the generation in use does not exist (never loaded, or another load replaced it)."""


def _follows_generations(method: Callable[..., Any]) -> Callable[..., Any]:
    """A catalog method that, when its generation's tables are gone, resolves the current one and retries once."""

    @functools.wraps(method)
    def wrapper(self: DynamoDBCore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except _Missing:
            stale, self._tables = self._tables, None
            if stale is None or self._current() == stale:
                raise
            return method(self, *args, **kwargs)

    return wrapper


class DynamoDBCore(Backend):
    """A DynamoDB design's shared machinery; thread-safe, one boto3 client."""

    model: ClassVar[str] = "kv"
    design: ClassVar[str] = ""   # "" for the default design, else the part after the colon of its name

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Every catalog method a design defines follows load generations (see `_follows_generations`)."""
        super().__init_subclass__(**kwargs)
        for q in Q:
            if q.value in cls.__dict__:
                setattr(cls, q.value, _follows_generations(cls.__dict__[q.value]))

    # -- what a design supplies

    @classmethod
    @abc.abstractmethod
    def tables_of(cls, prefix: str, generation: int) -> TableSet:
        """The design's tables of one generation."""

    @classmethod
    @abc.abstractmethod
    def table_pattern(cls, prefix: str) -> re.Pattern[str]:
        """Matches every generation's table names of the design; group 1 is the generation."""

    @abc.abstractmethod
    def _write_rows(self, tables: Any, kind: EntityKind, rows: list[Any]) -> None:
        """Bulk-write one batch of entities into `tables` (the staging generation)."""

    @abc.abstractmethod
    def _patient_item(self, tables: Any, patient_id: int) -> Item | None:
        """The stored profile item of a patient (strongly consistent read), or None."""

    @abc.abstractmethod
    def _codes_of(self, patient_id: int) -> list[Item]:
        """The diagnosis items of a patient (each with its `code`)."""

    @abc.abstractmethod
    def _with_code(self, code: str) -> list[Item]:
        """One entry per diagnosis with `code`, each with its `patient_id` (an index Query)."""

    @abc.abstractmethod
    def _all_diagnoses(self, min_age: int | None = None) -> dict[str, set[int]]:
        """code -> ids of the patients diagnosed with it (of at least `min_age`)."""

    # -- the catalog's questions both designs answer alike: joined in the client over the
    # design's own access paths

    @_follows_generations
    def patients_sharing_diagnoses(self, *, patient_id: int) -> list[SharedDiagnoses]:
        codes = sorted({text_of(i, "code") for i in self._codes_of(patient_id)})
        shared: dict[int, set[str]] = defaultdict(set)
        for code, entries in zip(codes, self._in_parallel(lambda c=c: self._with_code(c) for c in codes)):
            for item in entries:
                other = int_of(item, "patient_id")
                if other != patient_id:
                    shared[other].add(code)
        return rank_shared({pid: len(c) for pid, c in shared.items()})

    @_follows_generations
    def comorbid_codes(self, *, code: str) -> list[CodeCount]:
        patients = self._all_diagnoses()
        having = patients.get(code, set())
        return rank_code_counts({c: len(ids & having) for c, ids in patients.items() if c != code})

    # -- connection

    def __init__(self, settings: DynamoDBSettings) -> None:
        self.settings = settings
        self.prefix = settings.prefix(self.design)
        self.meta_table = f"{self.prefix}meta"
        self.capacity = CapacityMeter()
        self._recorder = ex.Recorder()
        self._tables: Any = None            # the current generation's tables, resolved on first use
        self._staging: Any = None           # the tables a running load writes ...
        self._staging_generation = 0        # ... and their generation
        self._staging_base: int | None = None  # the generation current when that load began
        self._loading: dict[int, Item] | None = None  # profiles written by the running load
        self._kind: str | None = None
        self._info: EngineInfo | None = None
        self._secrets = tuple(s for s in settings.credentials() if s)
        self._consistent = settings.consistent_read  # ConsistentRead on table reads (never on a GSI)
        self._get_options = {"ConsistentRead": True} if settings.consistent_read else {}
        try:
            self._session = self._make_session(settings)
            self._client = self._make_client(Config(
                connect_timeout=settings.timeout, read_timeout=READ_TIMEOUT_FACTOR * settings.timeout,
                retries={"mode": "standard", "total_max_attempts": 3}, max_pool_connections=settings.workers + 4))
        except NoRegionError:
            raise BackendError(f"{self.name}: no AWS region; set MMBENCH_DYNAMODB_REGION or AWS_REGION") from None
        except (BotoCoreError, ValueError) as exc:
            raise BackendError(f"{self.name}: bad MMBENCH_DYNAMODB_URL {redact_url(settings.address)}: "
                               f"{self._clean(first_line(exc))}") from None
        self.address = redact_url(self._client.meta.endpoint_url)
        try:
            self._probe()
        except BackendError:
            self._client.close()
            raise
        self.capacity.attach(self._client)
        self._pool = ThreadPoolExecutor(settings.workers, thread_name_prefix="dynamodb")
        self._closed = False

    @classmethod
    def from_settings(cls, settings: DynamoDBSettings | None = None) -> Self:
        return cls(settings or DynamoDBSettings.from_env())

    @staticmethod
    def _make_session(settings: DynamoDBSettings) -> boto3.Session:
        """Explicit credentials if given; locally a dummy pair; on AWS boto3's default chain."""
        keys = settings.credentials()
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
        if getattr(self, "_closed", True):
            return
        self._closed = True
        self._pool.shutdown(cancel_futures=True)
        self._client.close()

    def take_cost(self) -> dict[str, float]:
        """Read and write capacity units the engine reported since the last call (see capacity.py)."""
        return self.capacity.take()

    # -- engine identity

    def engine_kind(self) -> str:
        """Who answers: `aws`, `dynalite`, `moto` (each recognised by its own HTTP routes) or `other`."""
        if self._kind is None:
            if self.settings.on_aws:
                self._kind = "aws"
            elif _get(f"{self._client.meta.endpoint_url}/", self.settings.timeout).startswith("healthy: dynamodb"):
                self._kind = "dynalite"
            elif _get(f"{self._client.meta.endpoint_url}/moto-api/config", self.settings.timeout).lstrip().startswith("{"):
                self._kind = "moto"
            else:
                self._kind = "other"
        return self._kind

    def engine_info(self) -> EngineInfo:
        if self._info is None:
            kind = self.engine_kind()
            driver = f"boto3 {boto3.__version__} + botocore {botocore.__version__}"
            api = f"API {self._client.meta.service_model.api_version}"
            version = {"aws": api, "moto": _moto_version(), "dynalite": self._dynalite_version()}.get(kind, api)
            options = {"engine": kind, "design": self.design or "default", "read_consistency": (
                "strong (ConsistentRead on table reads; GSI reads are eventual)" if self._consistent else "eventual")}
            self._info = EngineInfo(PRODUCTS[kind], version, emulator=kind != "aws", driver=driver,
                                    address=self.address, options=options, differences=DIFFERENCES.get(kind, ()))
        return self._info

    def _dynalite_version(self) -> str:
        """dynalite reports no version; `mmbench up dynamodb` records the one it runs next to its data."""
        if self.settings.endpoint_url == LOCAL_URLS["dynalite"]:
            try:
                return str(json.loads((state_dir() / "dynamodb" / "dynalite.json").read_text())["version"])
            except (OSError, ValueError, KeyError):
                pass
        return "unknown (dynalite reports no version)"

    @property
    def transactions(self) -> bool:
        """Whether the engine has TransactWriteItems (dynalite has not)."""
        return self.engine_kind() != "dynalite"

    # -- errors

    def _clean(self, text: str) -> str:
        """A message with the configured credentials masked and URLs without userinfo."""
        for secret in self._secrets if hasattr(self, "_secrets") else ():
            text = text.replace(secret, "***")
        return re.sub(r"[a-z][a-z0-9+.-]*://[^\s\"']+", lambda m: redact_url(m.group(0)), text)

    def _product(self) -> str:
        if self.settings.on_aws:
            return PRODUCTS["aws"]
        if self.settings.url is None:
            return PRODUCTS[self.settings.engine]
        return "the DynamoDB API"

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Driver errors as one-line BackendError / EngineUnavailable / _Missing (a table is gone)."""
        try:
            yield
        except ClientError as exc:
            error = exc.response.get("Error", {})
            message = self._clean(first_line(str(error.get("Message") or "")))
            if error.get("Code") == "ResourceNotFoundException":
                raise _Missing(self.name, f"tables (prefix {self.prefix!r})") from None
            raise BackendError(f"{self.name}: {error.get('Code', 'error')}: {message}".rstrip(": ")) from None
        except NoCredentialsError:
            raise BackendError(f"{self.name}: no AWS credentials; set MMBENCH_DYNAMODB_ACCESS_KEY_ID and "
                               "MMBENCH_DYNAMODB_SECRET_ACCESS_KEY, or AWS_PROFILE") from None
        except (BotoConnectionError, HTTPClientError) as exc:
            hint = "; the moto engine starts with `mmbench up moto`" if self.settings.engine == "moto" else ""
            raise EngineUnavailable(self.name, self._product(), self.address,
                                    self._clean(first_line(exc)) + hint) from None
        except BotoCoreError as exc:
            raise BackendError(f"{self.name}: {self._clean(first_line(exc))}") from None

    # -- generations: the pointer, the counter, the tables

    @property
    def tables(self) -> Any:
        """The current generation's tables (NotLoaded if nothing was loaded in this namespace)."""
        return self._tables if self._tables is not None else self._current()

    def _current(self) -> Any:
        pointer = self._pointer()
        if pointer is None:
            raise NotLoaded(self.name, f"tables (prefix {self.prefix!r})")
        self._tables = self.tables_of(self.prefix, int(pointer["generation"]["N"]))
        return self._tables

    def _pointer(self) -> Item | None:
        """The pointer item (strongly consistent), None if there is none; _Missing without a metadata table."""
        with self._errors():
            return self._client.get_item(TableName=self.meta_table, Key={"name": {"S": "current"}},
                                         ConsistentRead=True).get("Item")

    def _wait(self, waiter: str, table: str) -> None:
        config = {"Delay": 5, "MaxAttempts": 120} if self.settings.on_aws else {"Delay": 0.1, "MaxAttempts": 600}
        with self._errors():
            self._client.get_waiter(waiter).wait(TableName=table, WaiterConfig=config)

    def _ensure_meta(self) -> None:
        """Create the metadata table if this namespace has none yet (one being deleted is waited out)."""
        try:
            with self._errors():
                status = self._client.describe_table(TableName=self.meta_table)["Table"]["TableStatus"]
            if status != "DELETING":
                return
            self._wait("table_not_exists", self.meta_table)
        except _Missing:
            pass
        try:
            with self._errors():
                self._client.create_table(
                    TableName=self.meta_table, BillingMode="PAY_PER_REQUEST",
                    KeySchema=[{"AttributeName": "name", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "name", "AttributeType": "S"}])
        except BackendError as exc:
            if "ResourceInUseException" not in str(exc):  # another process creates it right now
                raise
        self._wait("table_exists", self.meta_table)

    def _next_generation(self) -> int:
        with self._errors():
            answer = self._client.update_item(
                TableName=self.meta_table, Key={"name": {"S": "counter"}}, UpdateExpression="ADD #g :one",
                ExpressionAttributeNames={"#g": "generation"}, ExpressionAttributeValues={":one": {"N": "1"}},
                ReturnValues="UPDATED_NEW")
        return int(answer["Attributes"]["generation"]["N"])

    def _drop(self, tables: Iterable[str]) -> None:
        """Delete tables, without waiting; ones already gone (or going) are fine, and one still being
        created (refused with ResourceInUse) is deleted once it is active."""
        for table in tables:
            for attempt in (1, 2):
                try:
                    with self._errors():
                        self._client.delete_table(TableName=table)
                except _Missing:
                    pass
                except BackendError as exc:
                    if "ResourceInUseException" not in str(exc):
                        raise
                    try:
                        with self._errors():
                            status = self._client.describe_table(TableName=table)["Table"]["TableStatus"]
                    except _Missing:
                        break
                    if attempt == 1 and status in ("CREATING", "UPDATING"):
                        self._wait("table_exists", table)
                        continue
                break

    def _generation_marker(self, generation: int) -> Item:
        return {"name": {"S": f"generation#{generation}"}}

    def _drop_other_generations(self, keep: int | None) -> None:
        """Delete the tables of every generation recorded in the metadata table except `keep` (orphans
        of killed loads, or a previous generation whose deletion failed), and their records. A small
        Scan of the metadata table: no ListTables, which lists (and on dynalite reads) everything."""
        with self._errors():
            markers = self._read(GENERATIONS, self.meta_table, {":g": {"S": "generation#"}})
        for marker in markers:
            generation = int(marker["name"]["S"].partition("#")[2])
            if generation != keep:
                self._drop(self.tables_of(self.prefix, generation))
                with self._errors():
                    self._client.delete_item(TableName=self.meta_table, Key=self._generation_marker(generation))

    # -- the load protocol (see the module docstring)

    def begin_load(self) -> None:
        """A fresh, empty generation of the design's tables; the current one stays as it is."""
        self._ensure_meta()
        pointer = self._pointer()
        self._staging_base = int(pointer["generation"]["N"]) if pointer else None
        self._drop_other_generations(keep=self._staging_base)
        self._staging_generation = self._next_generation()
        staging = self.tables_of(self.prefix, self._staging_generation)
        self._staging = staging
        with self._errors():  # recorded before its tables exist, so a killed load's tables are found
            self._client.put_item(TableName=self.meta_table, Item={
                **self._generation_marker(self._staging_generation),
                "started": {"S": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}})
        for request in staging.definitions():
            self._create(request)
        for table in staging:
            self._wait("table_exists", table)
        self._loading = {}

    def _create(self, request: dict[str, Any]) -> None:
        """CreateTable; a table of that name still being deleted (a dropped generation whose number
        comes round again after its metadata table was deleted) is waited out first."""
        try:
            with self._errors():
                self._client.create_table(**request)
        except BackendError as exc:
            if "ResourceInUseException" not in str(exc):
                raise
            self._wait("table_not_exists", request["TableName"])
            with self._errors():
                self._client.create_table(**request)

    def write_batch(self, kind: EntityKind, rows: list[Any]) -> None:
        if self._staging is None:
            raise BackendError(f"{self.name}: write_batch outside a load (call begin_load first)")
        self._write_rows(self._staging, kind, rows)

    def end_load(self, holdings: Holdings) -> None:
        self._switch(holdings)

    def _switch(self, holdings: Holdings | None) -> None:
        """Point `current` at the staging generation with its holdings (one conditional PutItem:
        refused if another load switched since this one began), then delete the old generation."""
        staging, base = self._staging, self._staging_base
        item: Item = {"name": {"S": "current"}, "generation": {"N": str(self._staging_generation)},
                      "writes_since": {"N": "0"}}
        if holdings is not None:
            recorded = holdings.to_dict()
            recorded.pop("writes_since", None)
            item["holdings"] = {"S": json.dumps(recorded)}
        condition = ({"ConditionExpression": "attribute_not_exists(#n)", "ExpressionAttributeNames": {"#n": "name"}}
                     if base is None else
                     {"ConditionExpression": "#g = :base", "ExpressionAttributeNames": {"#g": "generation"},
                      "ExpressionAttributeValues": {":base": {"N": str(base)}}})
        try:
            with self._errors():
                self._client.put_item(TableName=self.meta_table, Item=item, **condition)
        except BackendError as exc:
            if "ConditionalCheckFailed" in str(exc):
                raise BackendError(f"{self.name}: another load in this namespace switched to its data first; "
                                   "this load was dropped") from None
            raise
        self._tables, self._staging, self._loading = staging, None, None
        if base is not None:
            try:
                self._drop(self.tables_of(self.prefix, base))
                with self._errors():
                    self._client.delete_item(TableName=self.meta_table, Key=self._generation_marker(base))
            except BackendError:
                pass  # its record stays: the next load deletes what is left

    def abort_load(self) -> None:
        """Delete the staging generation's tables (those created so far); the pointer never moved."""
        staging, self._staging, self._loading = self._staging, None, None
        if staging is not None:
            self._drop(staging)
            with self._errors():
                self._client.delete_item(TableName=self.meta_table,
                                         Key=self._generation_marker(self._staging_generation))

    def reset(self) -> None:
        """An empty generation made current, without holdings (the old data is deleted)."""
        try:
            self.begin_load()
            self._switch(None)
        except BaseException:
            self.abort_load()
            raise

    # -- what the backend holds

    def holdings(self) -> Holdings | None:
        try:
            pointer = self._pointer()
        except _Missing:
            pointer = None
        if pointer is None:
            raise NotLoaded(self.name, f"tables (prefix {self.prefix!r})")
        if "holdings" not in pointer:
            return None
        recorded = json.loads(pointer["holdings"]["S"])
        return Holdings.from_dict({**recorded, "writes_since": int(pointer.get("writes_since", {"N": "0"})["N"])})

    def record_writes(self, n: int) -> None:
        try:
            with self._errors():
                self._client.update_item(
                    TableName=self.meta_table, Key={"name": {"S": "current"}}, UpdateExpression="ADD #w :n",
                    ConditionExpression="attribute_exists(#n)", ExpressionAttributeNames={"#w": "writes_since",
                                                                                           "#n": "name"},
                    ExpressionAttributeValues={":n": {"N": str(int(n))}})
        except BackendError as exc:
            if isinstance(exc, NotLoaded) or "ConditionalCheckFailed" in str(exc):
                raise NotLoaded(self.name, f"tables (prefix {self.prefix!r})") from None
            raise

    # -- writing

    def _profiles(self, patient_ids: Iterable[int]) -> dict[int, Item]:
        """Profiles of these patients: during a load from the load itself (a diagnosis must belong to a
        patient of the same data set), otherwise read from the current tables."""
        found: dict[int, Item] = {}
        for pid in set(patient_ids):
            item = self._loading.get(pid) if self._loading is not None else self._patient_item(self.tables, pid)
            if item is None:
                where = "in this data set" if self._loading is not None else "stored"
                raise BackendError(f"{self.name}: no patient {pid} {where} (a diagnosis must belong to a patient)")
            found[pid] = item
        return found

    def _put_all(self, tables: TableSet, table: str, items: list[Item]) -> None:
        """Write items in BatchWriteItem requests of 25, `workers` at a time; the last of equal keys wins."""
        keys = tables.key_names(table)
        unique = {tuple(next(iter(item[k].values())) for k in keys): item for item in items}
        chunks = list(batched([{"PutRequest": {"Item": item}} for item in unique.values()], BATCH_WRITE_ITEMS))
        if len(chunks) == 1:
            self._write_chunk(table, chunks[0])
        else:
            for _ in self._pool.map(lambda chunk: self._write_chunk(table, chunk), chunks):
                pass

    def _write_chunk(self, table: str, requests: list[dict[str, Any]]) -> None:
        """One BatchWriteItem; unprocessed items re-sent with full-jitter exponential backoff."""
        pending: dict[str, Any] = {table: requests}
        for attempt in range(UNPROCESSED_ATTEMPTS):
            if attempt:
                time.sleep(backoff_delay(attempt - 1))
            with self._errors():
                pending = self._client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if not pending:
                return
        left = sum(len(r) for r in pending.values())
        raise BackendError(f"{self.name}: {left} items still unprocessed after {UNPROCESSED_ATTEMPTS} "
                           "BatchWriteItem attempts (throttled)")

    def _put_new(self, tables: TableSet, table: str, first: Item, condition: str, rest: list[Item],
                 refused: str) -> None:
        """Put `first` if `condition` holds, with `rest`, all or nothing: one TransactWriteItems. Without
        transactions (dynalite): a conditional PutItem, then the rest in batches; if those fail, every
        item of the write is deleted again (best effort: a process killed in between leaves them)."""
        if len(rest) + 1 > TRANSACTION_ITEMS:
            raise BackendError(f"{self.name}: more than {TRANSACTION_ITEMS} items do not fit in one transaction")
        if self.transactions:
            actions = [{"Put": {"TableName": table, "Item": first, "ConditionExpression": condition}}]
            actions += [{"Put": {"TableName": table, "Item": item}} for item in rest]
            try:
                with self._errors():
                    self._client.transact_write_items(TransactItems=actions)
            except BackendError as exc:
                if "ConditionalCheckFailed" in str(exc):
                    raise BackendError(f"{self.name}: {refused}") from None
                raise
            return
        try:
            with self._errors():
                self._client.put_item(TableName=table, Item=first, ConditionExpression=condition)
        except BackendError as exc:
            if "ConditionalCheckFailed" in str(exc):
                raise BackendError(f"{self.name}: {refused}") from None
            raise
        try:
            if rest:
                self._put_all(tables, table, rest)
        except BaseException as exc:
            keys = tables.key_names(table)
            try:
                for chunk in batched([{"DeleteRequest": {"Key": {k: i[k] for k in keys}}} for i in (first, *rest)],
                                     BATCH_WRITE_ITEMS):
                    self._write_chunk(table, chunk)
            except Exception as cleanup:  # noqa: BLE001 - the write's own error is the one to report
                exc.add_note(f"and deleting its partial write failed too: {first_line(cleanup)}")
            raise

    # -- reading

    def _read(self, shape: Shape, table: str, values: Mapping[str, Any] | None = None) -> list[Item]:
        """Every item of a Query or Scan, following LastEvaluatedKey page after page (a page holds at
        most 1 MB: the lecture's Lambda, which reads one page, silently drops the rest at scale)."""
        request = shape.request(table, values)
        if self._consistent and shape.index is None:
            request["ConsistentRead"] = True
        call = self._client.query if shape.operation == "query" else self._client.scan
        with self._errors():
            page = call(**request)
            items: list[Item] = page["Items"]
            while "LastEvaluatedKey" in page:
                request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
                page = call(**request)
                items.extend(page["Items"])
        return items

    def _get(self, table: str, key: Item) -> Item | None:
        with self._errors():
            return self._client.get_item(TableName=table, Key=key, **self._get_options).get("Item")

    def _in_parallel(self, calls: Iterable[Callable[[], Any]]) -> list[Any]:
        return list(self._pool.map(lambda call: call(), calls))

    # -- explain (#12)

    def explain(self, query: Q | str, params: Mapping[str, Any]) -> Explanation:
        """Run `query` once with every request recorded as sent (botocore's before-call / after-call
        hooks); writes run on scratch ids and their items are deleted afterwards."""
        q = Q(query)
        spec = CATALOG[q]
        tables = self.tables  # resolved before recording: the pointer read is not part of the query
        run_params, undone = (self._scratch(q, dict(params)) if spec.is_write else (dict(params), None))
        owed = self.capacity.take()  # explain's own cost must not count as the harness's next operation
        failure: BaseException | None = None
        answer: Any = None
        with self._recorder.recording(self._client) as calls:
            try:
                answer = run_query(self, q, run_params)
            except BaseException as exc:  # noqa: BLE001 - undo the scratch write first, then re-raise
                failure = exc
        calls = list(calls)
        try:
            cost, cost_notes = self._cost_of(calls, tables)
        finally:
            if spec.is_write:
                self._undo(calls, tables)
            self.capacity.take()
            self.capacity.give(owed)
        if failure is not None:
            raise failure
        plan, summary = ex.plan_of(calls)
        reads = [c for c in calls if c.operation in ex.READS]
        work = Work(answer=answer_size(answer), returned=sum(c.count or 0 for c in reads),
                    examined=sum(c.scanned or 0 for c in reads), round_trips=len(calls), cost=cost)
        return Explanation(
            backend=self.name, query=q.value, params=_jsonable(run_params), tier=self.tier(q).value,
            statements=[Statement("dynamodb", c.text) for c in calls], plan=plan, plan_summary=summary,
            work=work, notes=[*self._notes(q, calls), *cost_notes], server_us=None, undone=undone)

    def _cost_of(self, calls: list[ex.Call], tables: TableSet) -> tuple[dict[str, float], list[str]]:
        """Capacity units: as the engine reports them, or (moto) computed as DynamoDB bills them."""
        if self.engine_kind() != "moto":
            return ex.reported_units(calls), []
        definitions = {d["TableName"]: d for d in tables.definitions()}
        rcu = wcu = 0.0
        for call in calls:
            if call.operation in ("Query", "Scan", "GetItem"):
                replay = ex.without_filter(call.request)
                consistent = bool(call.request.get("ConsistentRead"))
                with self._errors():
                    if call.operation == "GetItem":
                        item = self._client.get_item(**replay).get("Item")
                        rcu += ex.read_units(ex.item_size(item) if item else 0, consistent)
                    else:
                        page = (self._client.query if call.operation == "Query" else self._client.scan)(**replay)
                        rcu += ex.read_units(sum(ex.item_size(i) for i in page["Items"]), consistent)
            for table, item, transactional in ex.written_items(call):
                wcu += ex.write_units(item, definitions.get(table, {}), transactional)
        return {"rcu": rcu, "wcu": wcu}, [
            ("moto reports placeholder capacity (1 unit per request): rcu/wcu here are COMPUTED as DynamoDB bills "
             "them, from the sizes of the items each request read (replayed without filter and projection) and "
            "wrote (with each GSI the item lands in), not measured.")]

    def _notes(self, q: Q, calls: list[ex.Call]) -> list[str]:
        kind = self.engine_kind()
        operations = {c.operation for c in calls}
        notes = [("DynamoDB has no query plan: each request is the plan (GetItem one item, Query one partition's "
                 "key range, Scan every item); the plan lists the requests with ScannedCount and Count. DynamoDB "
                 "reports no server-side time.")]
        if "Scan" in operations:
            notes.append("A Scan reads, and bills, every item of the table or index; a FilterExpression only trims "
                         "what is returned (examined vs returned).")
        if kind == "moto" and "Query" in operations:
            notes.append("moto answers a Query by walking every item of the table or index and keeping those that "
                         "match the key condition; DynamoDB reads only the partition's key range, so moto's time "
                         "grows with the table and DynamoDB's does not.")
        if kind == "dynalite":
            notes.append("dynalite reads key ranges of one LevelDB store in one process: no partitions, no "
                         "replication, no throttling; its times say nothing about DynamoDB's.")
            if operations & {"PutItem", "BatchWriteItem", "TransactWriteItems"}:
                notes.append("dynalite reports the table's write units only; DynamoDB also bills a write unit per "
                             "KB for every GSI the item lands in.")
            if q is Q.ADD_PATIENT:
                notes.append("dynalite has no TransactWriteItems: the profile is a conditional PutItem and the "
                             "diagnoses a BatchWriteItem, not one transaction as on DynamoDB and moto.")
        if kind in ("dynalite", "moto"):
            if self._consistent:
                notes.append(f"{kind} reads are always consistent; ConsistentRead (set here for table reads) changes "
                             "only the read units billed (1 per 4 KB instead of 0.5), not what is read.")
            else:
                notes.append(f"{kind} reads are always consistent; DynamoDB's eventually consistent reads (used here) "
                             "may miss a write made within about a second.")
        return notes

    def _scratch(self, q: Q, params: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """The write's parameters with scratch ids (nothing stored has them), and what `undone` will say."""
        token = secrets.randbits(48)
        if q is Q.ADD_PATIENT:
            record: PatientRecord = params["patient"]
            pid = -(2**60 + token)
            patient = dataclasses.replace(record.patient, patient_id=pid)
            diagnoses = tuple(dataclasses.replace(d, patient_id=pid, diagnosis_id=-(2**60 + token + i))
                              for i, d in enumerate(record.diagnoses))
            params["patient"] = PatientRecord(patient, diagnoses)
            what = f"patient_id {pid}"
        elif q is Q.ADD_DIAGNOSIS:
            params["diagnosis_id"] = -(2**60 + token)
            what = f"diagnosis_id {params['diagnosis_id']}"
        elif q is Q.ADD_VARIANTS:
            variants: list[Variant] = params["variants"]
            params["variants"] = [dataclasses.replace(v, variant_id=f"explain-{token:x}-{i}")
                                  for i, v in enumerate(variants)]
            what = f"variant_id explain-{token:x}-*"
        else:
            raise BackendError(f"{self.name}: no scratch form of the write {q}")
        return params, (f"written on scratch ids ({what}), then the items written were deleted "
                        "(DynamoDB has no transaction to roll back)")

    def _undo(self, calls: list[ex.Call], tables: TableSet) -> None:
        """Delete every item the recorded writes put (by their keys), in batches."""
        keys: dict[str, list[Item]] = {}
        for call in calls:
            for table, item, _ in ex.written_items(call):
                keys.setdefault(table, []).append({k: item[k] for k in tables.key_names(table)})
        for table, table_keys in keys.items():
            unique = list({json.dumps(k, sort_keys=True): k for k in table_keys}.values())
            for chunk in batched([{"DeleteRequest": {"Key": k}} for k in unique], BATCH_WRITE_ITEMS):
                self._write_chunk(table, chunk)


def _get(url: str, timeout: float) -> str:
    """The start of the body of a GET, "" if it fails (engine detection only)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read(2048).decode("utf-8", "replace")
    except (OSError, ValueError):
        return ""


def _moto_version() -> str:
    """moto's version: the local engine runs the moto installed next to mmbench."""
    import importlib.metadata

    try:
        return importlib.metadata.version("moto")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _jsonable(value: Any) -> Any:
    """Parameters as JSON-ready values (entities as dicts, dates as ISO strings)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value
