"""The column-family model: Apache Cassandra 5 through the DataStax Python driver (cassandra-driver).

The tables are query-first and denormalised (see `schema.py`). Every statement is prepared once
per session and executed with bound values; rows come back as tuples in entity field order and
are turned into the domain dataclasses here.

Loading goes through the driver's `execute_concurrent` (`settings.concurrency` requests in
flight). Rows of one partition in a load batch travel together as one UNLOGGED single-partition
batch (the server applies it as one mutation; Cassandra's batch size guard ignores single-
partition batches), every other row as its own INSERT; there are no multi-partition batches,
which would only load the coordinator. Per-request cost dominates on a small machine, so this
matters where partitions hold many rows (lab series, region buckets, the derived tables) and not
at all for one-row partitions (`variants` by id, a patient's static row). Calls go to `variants`
and `variants_by_region` (and each new bucket to `variant_buckets`). The diagnosis tables
derived per patient (`patients_by_diagnosis`, `comorbidities`) need all of a patient's codes,
which may arrive in different batches, so they are written after the last diagnosis batch
(`finish_kind`), in one pass over the `patients` table: partition by partition, in token order,
in flat memory.

Writes through the catalog keep every denormalised copy consistent:
- `add_variants`: one LOGGED batch per variant call across its three tables (all or nothing);
- `add_patient` / `add_diagnosis`: first the patient's own partition (one single-partition
  batch: atomic and isolated), then the partition is read back and the derived rows of all its
  codes are written in one LOGGED batch (several past MAX_LOGGED_BATCH rows). Reading back
  after writing means two concurrent writers of one patient cannot both miss each other's
  code (the second reader sees both); on a cluster this needs QUORUM (read-your-writes), not
  LOCAL_ONE. Every write is an idempotent upsert, so repeating a failed write repairs it.

Answered in the client (Tier `client`): carriers_with_diagnosis and patients_sharing_diagnoses
(joins). Sorting the server's GROUP BY counts (diagnosis_counts, comorbid_codes) by count is
done in the client too, as Cassandra orders only by clustering columns; the server still does
the work (the scan and the counting), the client sorts one row per code (~1,700 at scale 10).
Bulk loads cannot be undone (no transactions): `abort_load` leaves what was written, and the
next `reset` clears it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import groupby
from operator import attrgetter, itemgetter
from types import MappingProxyType
from typing import Any, ClassVar, Self

from cassandra import OperationTimedOut, RequestExecutionException, RequestValidationException
from cassandra import __version__ as DRIVER_VERSION
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable, Session
from cassandra.concurrent import execute_concurrent, execute_concurrent_with_args
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from cassandra.query import BatchStatement, BatchType, PreparedStatement, tuple_factory
from pydantic import ValidationError

from backends.base import Backend, BackendError, EngineInfo, EngineUnavailable, NotLoaded, Tier, first_line
from backends.column import schema
from backends.column.schema import MAX_BUCKET, MIN_BUCKET, bucket
from backends.column.settings import CassandraSettings
from backends.column.statements import CQL, PARTITION_KEY
from models.catalog import Q
from models.dataset import FIELDS as ENTITY_FIELDS
from models.dataset import EntityKind, batched
from models.entities import (
    CodeCount,
    Diagnosis,
    LabResult,
    Patient,
    PatientRecord,
    SharedDiagnoses,
    Variant,
    rank_code_counts,
    rank_shared,
)

PRODUCT = "Apache Cassandra"
MIN_BIGINT, MAX_BIGINT = -(2**63), 2**63 - 1
DIRECT_BUCKETS = 4
"""A region spanning at most this many buckets reads them directly; a wider one asks variant_buckets
which exist (a whole chromosome spans ~25, a typo'd end could span millions)."""
DERIVE_CHUNK = 5000
"""Derived rows written per concurrent round while re-deriving the diagnosis tables."""
MAX_LOGGED_BATCH = 64
"""Statements per multi-partition LOGGED batch: ~2 KiB, under the server's 5 KiB warning. A patient
with up to 7 codes (7 + 42 derived rows) is re-derived in one all-or-nothing batch; one with
more in several, each all-or-nothing (and the whole idempotent: a retry repairs a partial one)."""
MAX_BATCH_ROWS = 200
"""Rows per single-partition load batch (Cassandra does not size-check single-partition batches;
this keeps each request small enough not to stall the others)."""
SCHEMA_TIMEOUT = 120.0

FIELDS: dict[EntityKind, attrgetter] = {kind: attrgetter(*names) for kind, names in ENTITY_FIELDS.items()}
LOAD_STATEMENT: dict[EntityKind, str] = {
    "patients": "insert_patient", "diagnoses": "insert_diagnosis",
    "lab_results": "insert_lab_result", "variants": "insert_variant",
}

Row = tuple[Any, ...]


class _AggregationWarnings(logging.Filter):
    """Drop the server's warning about GROUP BY without a partition key: diagnosis_counts is that
    query on purpose (a server-side aggregation over one table), and the warning would print on
    every call."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Aggregation query used without partition key" not in record.getMessage()


logging.getLogger("cassandra.protocol").addFilter(_AggregationWarnings())


class CassandraBackend(Backend):
    """Apache Cassandra (5.0 locally; any 4.x/5.x cluster through settings)."""

    name: ClassVar[str] = "cassandra"
    model: ClassVar[str] = "column"
    tiers = MappingProxyType({
        Q.CARRIERS_WITH_DIAGNOSIS: Tier.CLIENT,
        Q.PATIENTS_SHARING_DIAGNOSES: Tier.CLIENT,
    })

    def __init__(self, cluster: Cluster, session: Session, settings: CassandraSettings) -> None:
        self.cluster, self.session, self.settings = cluster, session, settings
        self._prepared: dict[str, PreparedStatement] = {}
        self._schema_seen = False
        self._loaded_buckets: set[tuple[str, int]] = set()

    @classmethod
    def from_settings(cls, settings: CassandraSettings | None = None) -> Self:
        settings = settings or _settings_from_env()
        profile = ExecutionProfile(
            load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=settings.local_dc)),
            consistency_level=settings.consistency_level,
            request_timeout=settings.request_timeout,
            row_factory=tuple_factory,
        )
        auth = None
        if settings.username:
            secret = settings.password.get_secret_value() if settings.password else ""
            auth = PlainTextAuthProvider(settings.username, secret)
        cluster = Cluster(
            settings.hosts, port=settings.port, execution_profiles={EXEC_PROFILE_DEFAULT: profile},
            connect_timeout=settings.connect_timeout, control_connection_timeout=settings.connect_timeout,
            auth_provider=auth, protocol_version=settings.protocol_version,
        )
        try:
            session = cluster.connect()
        except (NoHostAvailable, OperationTimedOut) as exc:
            cluster.shutdown()
            raise EngineUnavailable(cls.name, PRODUCT, settings.address, _reason(exc)) from None
        return cls(cluster, session, settings)

    def close(self) -> None:
        self.cluster.shutdown()

    def engine_info(self) -> EngineInfo:
        (version,), = self._rows("release_version")
        return EngineInfo(PRODUCT, str(version), emulator=False, driver=f"cassandra-driver {DRIVER_VERSION}",
                          address=self.settings.address)

    # -- statements and errors

    def _ps(self, name: str) -> PreparedStatement:
        """The prepared statement `name` of statements.CQL (prepared on first use)."""
        stmt = self._prepared.get(name)
        if stmt is None:
            if "{ks}" in CQL[name] and not self._schema_seen:
                self._require_schema()
            with self._driver_errors():
                stmt = self._prepared[name] = self.session.prepare(CQL[name].format(ks=self.settings.keyspace))
        return stmt

    def _require_schema(self) -> None:
        """BackendError unless the keyspace has every table (so no statement fails to prepare)."""
        missing = set(schema.TABLES) - {table for table, _ in self._rows("table_comments", (self.settings.keyspace,))}
        if missing:
            raise NotLoaded(self.name, f"tables in keyspace {self.settings.keyspace}")
        self._schema_seen = True

    @contextmanager
    def _driver_errors(self) -> Iterator[None]:
        """Driver failures as one-line BackendErrors (EngineUnavailable when no node answers)."""
        try:
            yield
        except NoHostAvailable as exc:
            raise EngineUnavailable(self.name, PRODUCT, self.settings.address, _reason(exc)) from None
        except (RequestExecutionException, RequestValidationException, OperationTimedOut) as exc:
            raise BackendError(f"{self.name}: {type(exc).__name__}: {_reason(exc)}") from None

    def _rows(self, name: str, params: Sequence[Any] = ()) -> list[Row]:
        """Every row of one statement (all pages)."""
        with self._driver_errors():
            return list(self.session.execute(self._ps(name), params))

    def _rows_each(self, name: str, args: Sequence[Sequence[Any]]) -> list[list[Row]]:
        """One statement once per parameter tuple, concurrently: the rows of each, in argument order."""
        if not args:
            return []
        stmt = self._ps(name)
        with self._driver_errors():
            results = execute_concurrent_with_args(self.session, stmt, args, concurrency=self.settings.concurrency)
            return [list(r.result_or_exc) for r in results]

    def _write_rows(self, *tables: tuple[str, Sequence[Row]]) -> None:
        """Bulk writes: for each (insert statement, rows), the rows of one partition go as one
        UNLOGGED batch (a single mutation on the server), the others as single INSERTs; all are
        sent through execute_concurrent, `settings.concurrency` in flight."""
        requests: list[tuple[Any, Any]] = []
        for name, rows in tables:
            stmt, key = self._ps(name), PARTITION_KEY[name]
            if key is None:
                requests += ((stmt, r) for r in rows)
                continue
            partitions: dict[Any, list[Row]] = defaultdict(list)
            for r in rows:
                partitions[key(r)].append(r)
            for partition in partitions.values():
                for chunk in batched(partition, MAX_BATCH_ROWS):
                    requests.append(_single_partition_batch(stmt, chunk))
        if requests:
            with self._driver_errors():
                deque(execute_concurrent(self.session, requests, concurrency=self.settings.concurrency,
                                         results_generator=True), maxlen=0)

    def _write_batch(self, kind: BatchType, writes: Iterable[tuple[str, Sequence[Any]]]) -> None:
        """Writes as one batch: LOGGED across partitions (all or nothing), UNLOGGED within one."""
        batch = BatchStatement(batch_type=kind)
        for name, params in writes:
            batch.add(self._ps(name), params)
        if len(batch):
            with self._driver_errors():
                self.session.execute(batch)

    # -- schema and loading

    def reset(self) -> None:
        """TRUNCATE when the keyspace already has exactly this schema; else drop and re-create it."""
        with self._driver_errors():
            if self._schema_is_current():
                statements = schema.truncate_statements(self.settings)
                for future in [self.session.execute_async(s, timeout=SCHEMA_TIMEOUT) for s in statements]:
                    future.result()
            else:
                for ddl in [schema.drop_statement(self.settings), *schema.create_statements(self.settings)]:
                    self.session.execute(ddl, timeout=SCHEMA_TIMEOUT)
                self._prepared.clear()
        self._schema_seen = True
        self._loaded_buckets.clear()

    def _schema_is_current(self) -> bool:
        ks, expected = self.settings.keyspace, schema.fingerprint(self.settings)
        tables = dict(self._rows("table_comments", (ks,)))
        indexes = {name for name, in self._rows("index_names", (ks,))}
        return tables == dict.fromkeys(schema.TABLES, expected) and indexes == set(schema.INDEXES)

    def begin_load(self) -> None:
        self._loaded_buckets.clear()

    def write_batch(self, kind: EntityKind, rows: list[Any]) -> None:
        values = [FIELDS[kind](item) for item in rows]
        if kind != "variants":
            self._write_rows((LOAD_STATEMENT[kind], values))
            return
        new = {(v[1], bucket(v[2])) for v in values} - self._loaded_buckets
        self._write_rows(("insert_variant", values),
                         ("insert_variant_by_region", [(bucket(v[2]), *v) for v in values]),
                         ("insert_variant_bucket", sorted(new)))
        self._loaded_buckets |= new

    def finish_kind(self, kind: EntityKind) -> None:
        if kind == "diagnoses":
            self._derive_diagnosis_tables()

    def _derive_diagnosis_tables(self) -> None:
        """Write patients_by_diagnosis and comorbidities from one pass over the patients table."""
        by_code: list[Row] = []
        pairs: list[Row] = []

        def flush() -> None:
            self._write_rows(("insert_patient_by_diagnosis", by_code), ("insert_comorbidity", pairs))
            by_code.clear()
            pairs.clear()

        with self._driver_errors():
            rows = self.session.execute(self._ps("all_patient_codes"))
            for _, partition in groupby(rows, key=itemgetter(0)):
                patient_rows, pair_rows = _derived_rows(list(partition))
                by_code += patient_rows
                pairs += pair_rows
                if len(by_code) + len(pairs) >= DERIVE_CHUNK:
                    flush()
        flush()

    def _refresh_derived(self, patient_id: int) -> None:
        """Re-derive one patient's rows in the diagnosis tables from its partition (read after write)."""
        patient_rows, pair_rows = _derived_rows(self._rows("patient_codes", (patient_id,)))
        writes = [*(("insert_patient_by_diagnosis", r) for r in patient_rows),
                  *(("insert_comorbidity", r) for r in pair_rows)]
        for chunk in batched(writes, MAX_LOGGED_BATCH):
            self._write_batch(BatchType.LOGGED, chunk)

    # -- variants

    def variant_by_id(self, *, variant_id: str) -> Variant | None:
        rows = self._rows("variant_by_id", (variant_id,))
        return Variant(*rows[0]) if rows else None

    def variants_by_chromosome(self, *, chromosome: str) -> list[Variant]:
        return [Variant(*r) for r in self._region("variants_in_bucket", chromosome, MIN_BIGINT, MAX_BIGINT)]

    def variants_in_region(self, *, chromosome: str, start: int, end: int) -> list[Variant]:
        return [Variant(*r) for r in self._region("variants_in_bucket", chromosome, start, end)]

    def variants_min_depth(self, *, min_depth: int) -> list[Variant]:
        return [Variant(*r) for r in self._rows("variants_min_depth", (_int32(min_depth),))]

    def variants_min_quality(self, *, min_quality: float) -> list[Variant]:
        return [Variant(*r) for r in self._rows("variants_min_quality", (min_quality,))]

    def all_variants(self) -> list[Variant]:
        return [Variant(*r) for r in self._rows("all_variants")]

    def _region(self, name: str, chromosome: str, start: int, end: int) -> list[Row]:
        """The rows of `name` over [start, end] of a chromosome: bucket partitions in order, each a slice."""
        start, end = _clamp(start, MIN_BIGINT, MAX_BIGINT), _clamp(end, MIN_BIGINT, MAX_BIGINT)
        args = [(chromosome, b, start, end) for b in self._buckets(chromosome, start, end)]
        return [row for rows in self._rows_each(name, args) for row in rows]

    def _buckets(self, chromosome: str, start: int, end: int) -> list[int]:
        low, high = _clamp(bucket(start), MIN_BUCKET, MAX_BUCKET), _clamp(bucket(end), MIN_BUCKET, MAX_BUCKET)
        if high - low < DIRECT_BUCKETS:
            return list(range(low, high + 1))
        return [b for b, in self._rows("variant_buckets", (chromosome, low, high))]

    # -- patients and diagnoses

    def patient_by_id(self, *, patient_id: int) -> PatientRecord | None:
        rows = self._rows("patient_by_id", (patient_id,))
        if not rows or rows[0][2] is None:  # no partition, or diagnoses without the patient's row
            return None
        found = tuple(Diagnosis(r[4], patient_id, r[5], _date(r[6])) for r in rows if r[4] is not None)
        return PatientRecord(Patient(*rows[0][:4]), found)

    def patients_older_than(self, *, age: int) -> list[Patient]:
        return [Patient(*r) for r in self._rows("patients_older_than", (_int32(age),))]

    def patients_with_diagnosis(self, *, code: str) -> list[Patient]:
        return [Patient(*r) for r in self._rows("patients_with_diagnosis", (code,))]

    def diagnosis_counts(self, *, min_age: int | None = None) -> list[CodeCount]:
        if min_age is None:
            return _ranked(self._rows("diagnosis_counts"))
        return _ranked(self._rows("diagnosis_counts_older", (_int32(min_age),)))

    def lab_history(self, *, patient_id: int, test_name: str, since: dt.date, until: dt.date) -> list[LabResult]:
        if until < since:
            return []
        rows = self._rows("lab_history", (patient_id, test_name, since, until))
        return [LabResult(*r[:5], _date(r[5])) for r in rows]

    def carriers_with_diagnosis(self, *, chromosome: str, start: int, end: int, code: str) -> list[Patient]:
        """Client-side join: the region's carriers (variants_by_region) with the code's patients."""
        with self._driver_errors():
            having = self.session.execute_async(self._ps("patients_with_diagnosis"), (code,))
            carriers = {pid for pid, in self._region("carriers_in_bucket", chromosome, start, end)}
            return [Patient(*r) for r in having.result() if r[0] in carriers]

    def patients_sharing_diagnoses(self, *, patient_id: int) -> list[SharedDiagnoses]:
        """Client-side: the patient's codes, then each code's patients, counted per other patient."""
        codes = sorted({r[4] for r in self._rows("patient_codes", (patient_id,)) if r[4] is not None})
        shared = Counter(pid for rows in self._rows_each("patient_ids_with_diagnosis", [(c,) for c in codes])
                         for pid, in rows if pid != patient_id)
        return rank_shared(shared)

    def comorbid_codes(self, *, code: str) -> list[CodeCount]:
        return _ranked(self._rows("comorbid_codes", (code,)))

    # -- writes

    def add_patient(self, *, patient: PatientRecord) -> None:
        pid = patient.patient.patient_id
        self._write_batch(BatchType.UNLOGGED, [  # one partition: atomic and isolated
            ("insert_patient", FIELDS["patients"](patient.patient)),
            *(("insert_diagnosis", FIELDS["diagnoses"](d)) for d in patient.diagnoses),
        ])
        self._refresh_derived(pid)

    def add_diagnosis(self, *, diagnosis_id: int, patient_id: int, code: str, diagnosed_on: dt.date) -> None:
        with self._driver_errors():
            self.session.execute(self._ps("insert_diagnosis"), (diagnosis_id, patient_id, code, diagnosed_on))
        self._refresh_derived(patient_id)

    def add_variants(self, *, variants: list[Variant]) -> None:
        """One LOGGED batch per call (its three tables), the batches sent concurrently."""
        batches = []
        for v in variants:
            values = FIELDS["variants"](v)
            batch = BatchStatement(batch_type=BatchType.LOGGED)
            batch.add(self._ps("insert_variant"), values)
            batch.add(self._ps("insert_variant_by_region"), (bucket(v.position), *values))
            batch.add(self._ps("insert_variant_bucket"), (v.chromosome, bucket(v.position)))
            batches.append(batch)
        with self._driver_errors():
            for future in [self.session.execute_async(b) for b in batches]:
                future.result()


# -- helpers

def _single_partition_batch(stmt: PreparedStatement, rows: list[Row]) -> tuple[Any, Any]:
    """One request writing `rows` of one partition: the statement itself for a single row."""
    if len(rows) == 1:
        return stmt, rows[0]
    batch = BatchStatement(batch_type=BatchType.UNLOGGED)
    for r in rows:
        batch.add(stmt, r)
    return batch, None


def _derived_rows(rows: list[Row]) -> tuple[list[Row], list[Row]]:
    """From one patient's (patient_id, name, age, sex, code) rows: its patients_by_diagnosis rows
    and its comorbidities rows (every ordered pair of distinct codes)."""
    patient_id, name, age, sex = rows[0][:4]
    if age is None:  # diagnoses of a patient that was never written: nothing to copy
        return [], []
    codes = sorted({r[4] for r in rows if r[4] is not None})
    by_code = [(c, patient_id, name, age, sex) for c in codes]
    pairs = [(a, b, patient_id) for a in codes for b in codes if a != b]
    return by_code, pairs


def _ranked(rows: list[Row]) -> list[CodeCount]:
    """(code, count) rows of a GROUP BY, by count desc then code."""
    return rank_code_counts(dict(rows))


def _date(value: Any) -> dt.date:
    """A CQL `date` (cassandra.util.Date) as a datetime.date."""
    return value if isinstance(value, dt.date) else value.date()


def _clamp(value: int, low: int, high: int) -> int:
    """Keep a bound inside the column type's range (an out-of-range bound means 'no bound')."""
    return max(low, min(high, value))


def _int32(value: int) -> int:
    return _clamp(value, -(2**31), 2**31 - 1)


def _reason(exc: BaseException) -> str:
    """The first line of what went wrong (for NoHostAvailable: the first host's error)."""
    errors = getattr(exc, "errors", None)
    if isinstance(errors, dict) and errors:
        exc = next(iter(errors.values()))
    text = str(getattr(exc, "message", None) or exc)
    if "Last error: " in text:
        text = text.rsplit("Last error: ", 1)[1]
    return first_line(text) or type(exc).__name__


def _settings_from_env() -> CassandraSettings:
    try:
        return CassandraSettings()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "".join(str(part) for part in first["loc"])
        name = f"MMBENCH_CASSANDRA_{where.upper()}: " if where else ""
        raise BackendError(f"cassandra: invalid setting {name}{first['msg'].removeprefix('Value error, ')}") from None
