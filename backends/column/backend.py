"""The column-family model: Apache Cassandra 5 through the DataStax Python driver (cassandra-driver).

The tables are query-first and denormalised (see `schema.py`). Every statement is prepared once
per data generation and executed with bound values, reads at the read consistency level and
writes at the write level (settings); rows come back as tuples in entity field order and are
turned into the domain dataclasses here. A read of one partition is one direct `execute`; reads
of several partitions (a region over several buckets, a patient's codes) go out together.

**A load replaces atomically, in generations.** Cassandra has no multi-statement transactions
and cannot rename a keyspace, so `begin_load` claims the next generation number and creates a
fresh keyspace `mmbench<n>[_<namespace>]` with every table and index; the load writes only
there. `end_load` then switches, in one lightweight transaction on the pointer row of the
namespace's fixed keyspace `mmbench[_<namespace>]` (which also holds the Holdings), from the old
generation to the new one, and drops every older generation (see `generations.py`). Readers
resolve the current generation once (a SERIAL read of the pointer) and prepare their statements
against it; when a load elsewhere replaces it, their next request finds its keyspace gone, and
they resolve the new generation and ask again. `abort_load` drops the new keyspace. A process
killed mid-load leaves an orphan keyspace `mmbench<n>[_<namespace>]` that is not current: the
next successful load (or reset) drops it, with every generation numbered below its own. Killed
between the switch and the drop, it leaves the previous generation, dropped the same way.

Loading goes through the driver's `execute_concurrent` (`settings.concurrency` requests in
flight). Rows of one partition in a load batch travel together as one UNLOGGED single-partition
batch (the server applies it as one mutation; Cassandra's batch size guard ignores single-
partition batches), every other row as its own INSERT; there are no multi-partition batches,
which would only load the coordinator. The diagnosis tables derived per patient
(`patients_by_diagnosis`, `comorbidities`) need all of a patient's codes, which may arrive in
different batches, so they are written after the last diagnosis batch (`finish_kind`), in one
pass over the `patients` table: partition by partition, in token order, in flat memory.

Writes through the catalog keep every denormalised copy consistent:
- `add_variants`: one LOGGED batch per variant call across its three tables (all or nothing);
- `add_patient` / `add_diagnosis`: first the patient's own partition (one single-partition
  batch: atomic and isolated), then the partition is read back and the derived rows of all its
  codes are written in one LOGGED batch (several past MAX_LOGGED_BATCH rows). Reading back
  after writing means two concurrent writers of one patient cannot both miss each other's
  code (the second reader sees both); on a cluster this needs read and write levels that
  overlap (QUORUM and QUORUM, or ONE and ALL). Every write is an idempotent upsert, so
  repeating a failed write repairs it.

Answered in the client (Tier `client`): carriers_with_diagnosis and patients_sharing_diagnoses
(joins). Sorting the server's GROUP BY counts (diagnosis_counts, comorbid_codes) by count is
done in the client too, as Cassandra orders only by clustering columns; the server still does
the work (the scan and the counting), the client sorts one row per code (~1,700 at scale 10).

`explain()` sends the same requests one at a time with tracing on and reads the query traces
(see `explain.py`); a write is explained on scratch ids (a negative patient id, variant ids
`explain-...`) whose rows are deleted afterwards, as Cassandra has no transaction to roll back.
Every driver call is bounded: connect and control-connection timeouts, the request timeout of
the execution profile, the session's 10 s for prepare, explicit timeouts on schema changes and traces.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
import secrets
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import groupby
from operator import attrgetter, itemgetter
from types import MappingProxyType
from typing import Any, ClassVar, Self, TypeVar

from cassandra import ConsistencyLevel, DriverException, InvalidRequest, OperationTimedOut
from cassandra import __version__ as DRIVER_VERSION
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable, Session
from cassandra.concurrent import execute_concurrent, execute_concurrent_with_args
from cassandra.connection import ConnectionException
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from cassandra.query import BatchType, PreparedStatement, tuple_factory
from pydantic import ValidationError

from backends.base import (
    Backend,
    BackendError,
    EngineInfo,
    EngineUnavailable,
    Explanation,
    Holdings,
    NotLoaded,
    Tier,
    answer_size,
    first_line,
    namespace,
    run_query,
)
from backends.column import schema
from backends.column.explain import Batch, Recorder, describe
from backends.column.generations import Generations
from backends.column.schema import MAX_BUCKET, MIN_BUCKET, bucket
from backends.column.settings import CassandraSettings
from backends.column.statements import CQL, PARTITION_KEY, WRITES
from models.catalog import CATALOG, Q, to_plain
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
"""Seconds for one schema change (every node must agree on it)."""
SCRATCH_PATIENT = -(2**62)
"""Explained writes of a patient use an id below this: no data set has negative patient ids."""

FIELDS: dict[EntityKind, attrgetter] = {kind: attrgetter(*names) for kind, names in ENTITY_FIELDS.items()}
LOAD_STATEMENT: dict[EntityKind, str] = {
    "patients": "insert_patient", "diagnoses": "insert_diagnosis",
    "lab_results": "insert_lab_result", "variants": "insert_variant",
}

DRIVER_ERRORS = (DriverException, NoHostAvailable, ConnectionException, TypeError)
"""What the driver raises (TypeError: a value it cannot bind); see CassandraBackend._error."""
Row = tuple[Any, ...]
Request = tuple[PreparedStatement | Batch, Any]
log = logging.getLogger(__name__)


class _AggregationWarnings(logging.Filter):
    """Drop the server's warning about GROUP BY without a partition key: diagnosis_counts is that
    query on purpose (a server-side aggregation over one table), and the warning would print on
    every call."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Aggregation query used without partition key" not in record.getMessage()


_FILTER = _AggregationWarnings()


def _install_log_filter() -> None:
    """Installed when a backend is created (not at import): importing has no side effects."""
    logger = logging.getLogger("cassandra.protocol")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)


class _Gone(BackendError):
    """The generation this backend resolved was replaced and dropped (a load elsewhere)."""


@dataclass
class _Generation:
    number: int
    keyspace: str
    statements: dict[str, PreparedStatement] = field(default_factory=dict)


F = TypeVar("F", bound=Callable[..., Any])


def _on_current(method: F) -> F:
    """Run a catalog method on the current generation: if a load elsewhere replaced the one this
    backend resolved (its keyspace is gone), resolve the new one and run the method once more."""

    @functools.wraps(method)
    def run(self: CassandraBackend, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except _Gone:
            self._forget()
            if self._recorder is not None:
                self._recorder.sent.clear()
            return method(self, *args, **kwargs)

    return run  # type: ignore[return-value]


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
        self._read_cl = ConsistencyLevel.name_to_value[settings.read_level]
        self._write_cl = ConsistencyLevel.name_to_value[settings.write_level]
        self._meta = Generations(session, settings.keyspace, settings.request_timeout)
        self._current: _Generation | None = None
        self._stmts: dict[str, PreparedStatement] = {}  # the current generation's, for the hot path
        self._staging: _Generation | None = None
        self._loaded_buckets: set[tuple[str, int]] = set()
        self._recorder: Recorder | None = None

    @classmethod
    def from_settings(cls, settings: CassandraSettings | None = None) -> Self:
        settings = settings or _settings_from_env()
        namespace()  # a bad MMBENCH_NAMESPACE is a one-line UsageError before anything connects
        _install_log_filter()
        profile = ExecutionProfile(
            load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=settings.local_dc)),
            consistency_level=ConsistencyLevel.name_to_value[settings.read_level],
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
            auth_provider=auth, protocol_version=settings.protocol_version, max_schema_agreement_wait=30,
        )
        try:
            session = cluster.connect()
        except (NoHostAvailable, OperationTimedOut, DriverException) as exc:
            cluster.shutdown()
            raise EngineUnavailable(cls.name, PRODUCT, settings.address, _reason(exc)) from None
        try:
            return cls(cluster, session, settings)
        except BaseException:
            cluster.shutdown()
            raise

    def close(self) -> None:
        self.cluster.shutdown()

    def engine_info(self) -> EngineInfo:
        with self._errors():
            (version,), = self.session.execute("SELECT release_version FROM system.local")
        return EngineInfo(PRODUCT, str(version), emulator=False, driver=f"cassandra-driver {DRIVER_VERSION}",
                          address=self.settings.address, options=self._options())

    def _options(self) -> dict[str, str]:
        """What changes a measurement here: consistency levels, replication, the cluster's size."""
        hosts = self.cluster.metadata.all_hosts()
        replication, where = self.settings.replication_map(len(hosts)), "setting, nothing loaded"
        try:
            ks = (self._current or self._resolve()).keyspace
            with self._errors():
                stmt = self.session.prepare("SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?")
                row = self.session.execute(stmt, (ks,)).one()
            if row is not None:
                replication, where = dict(row[0]), ks
        except NotLoaded:
            pass
        strategy = replication.pop("class", "").rsplit(".", 1)[-1]
        factors = ", ".join(f"{k} {v}" for k, v in sorted(replication.items()))
        return {
            "read_consistency": self.settings.read_level,
            "write_consistency": self.settings.write_level,
            "replication": f"{strategy} ({factors}) [{where}]",
            "nodes": f"{sum(1 for h in hosts if h.is_up)} up of {len(hosts)}",
        }

    # -- generations, statements and errors

    def _resolve(self) -> _Generation:
        """The current generation, from the pointer row (NotLoaded if there is none)."""
        with self._errors():
            pointer = self._meta.pointer()
        if pointer is None or pointer.generation == 0:
            raise NotLoaded(self.name, f"data in keyspace {self._meta.fixed}")
        gen = _Generation(pointer.generation, self._meta.keyspace(pointer.generation))
        self._current, self._stmts = gen, gen.statements
        return gen

    def _forget(self) -> None:
        self._current, self._stmts = None, {}

    def _prepare(self, name: str, gen: _Generation | None = None) -> PreparedStatement:
        """Statement `name` of statements.CQL on `gen` (default: the current generation), prepared
        once, at the write consistency level for writes and the read level otherwise."""
        gen = gen or self._current or self._resolve()
        stmt = gen.statements.get(name)
        if stmt is None:
            with self._errors():
                stmt = self.session.prepare(CQL[name].format(ks=gen.keyspace))
            stmt.consistency_level = self._write_cl if name in WRITES else self._read_cl
            gen.statements[name] = stmt
        return stmt

    def _error(self, exc: BaseException) -> BaseException:
        """A driver failure as a one-line BackendError (EngineUnavailable when no node answers);
        any other exception as it is."""
        if isinstance(exc, NoHostAvailable | ConnectionException):
            return EngineUnavailable(self.name, PRODUCT, self.settings.address, _reason(exc))
        if isinstance(exc, InvalidRequest) and "does not exist" in str(exc):
            return _Gone(f"{self.name}: {_reason(exc)} (its data was replaced or dropped meanwhile)")
        if isinstance(exc, DriverException):
            return BackendError(f"{self.name}: {type(exc).__name__}: {_reason(exc)}")
        if isinstance(exc, TypeError) and "invalid type for column" in str(exc):  # the driver binding a value
            return BackendError(f"{self.name}: a value the engine cannot store: {first_line(str(exc))}")
        return exc

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except DRIVER_ERRORS as exc:
            error = self._error(exc)
            if error is exc:
                raise
            raise error from None

    def _rows(self, name: str, params: Sequence[Any] = ()) -> list[Row]:
        """Every row of one statement on the current generation (all pages): one direct execute."""
        stmt = self._stmts.get(name) or self._prepare(name)
        if self._recorder is not None:
            return self._traced(stmt, params)
        try:
            return self.session.execute(stmt, params).all()
        except DRIVER_ERRORS as exc:
            raise self._error(exc) from None

    def _rows_each(self, name: str, args: Sequence[Sequence[Any]]) -> list[list[Row]]:
        """One statement once per parameter tuple, the rows of each in argument order: a single
        partition directly, a few together (execute_async), many `settings.concurrency` at a time."""
        if len(args) <= 1:
            return [self._rows(name, a) for a in args]
        stmt = self._stmts.get(name) or self._prepare(name)
        if self._recorder is not None:
            return [self._traced(stmt, a) for a in args]
        try:
            if len(args) <= self.settings.concurrency:
                futures = [self.session.execute_async(stmt, a) for a in args]
                return [f.result().all() for f in futures]
            results = execute_concurrent_with_args(self.session, stmt, args, concurrency=self.settings.concurrency)
            return [r.result_or_exc.all() for r in results]
        except DRIVER_ERRORS as exc:
            raise self._error(exc) from None

    def _later(self, name: str, params: Sequence[Any]) -> Callable[[], list[Row]]:
        """Start one read now, collect its rows later (while explaining: read now)."""
        if self._recorder is not None:
            rows = self._rows(name, params)
            return lambda: rows
        stmt = self._stmts.get(name) or self._prepare(name)
        future = self.session.execute_async(stmt, params)

        def rows() -> list[Row]:
            try:
                return future.result().all()
            except DRIVER_ERRORS as exc:
                raise self._error(exc) from None

        return rows

    def _send(self, requests: Sequence[Request]) -> None:
        """Write requests (statements or batches): one directly, a few together, many through
        execute_concurrent with `settings.concurrency` in flight."""
        if self._recorder is not None:
            for request, values in requests:
                self._traced(request, values)
            return
        plain = [(r.statement(self._write_cl), None) if isinstance(r, Batch) else (r, v) for r, v in requests]
        try:
            if len(plain) == 1:
                self.session.execute(*plain[0])
            elif len(plain) <= self.settings.concurrency:
                for future in [self.session.execute_async(r, v) for r, v in plain]:
                    future.result()
            elif plain:
                deque(execute_concurrent(self.session, plain, concurrency=self.settings.concurrency,
                                         results_generator=True), maxlen=0)
        except DRIVER_ERRORS as exc:
            raise self._error(exc) from None

    def _traced(self, request: PreparedStatement | Batch, values: Any) -> list[Row]:
        """explain(): send one request with tracing on and record it, its rows and its traces."""
        assert self._recorder is not None
        statement = describe(request, values)
        plain = request.statement(self._write_cl) if isinstance(request, Batch) else request
        try:
            result = self.session.execute(plain, None if isinstance(request, Batch) else values, trace=True)
            rows = result.all()
        except DRIVER_ERRORS as exc:
            raise self._error(exc) from None
        with self._errors():
            self._recorder.add(statement, len(rows), result.response_future)
        return rows

    def _write_rows(self, gen: _Generation, *tables: tuple[str, Sequence[Row]]) -> None:
        """Bulk writes into `gen`: for each (insert statement, rows), the rows of one partition go as
        one UNLOGGED batch (a single mutation on the server), the others as single INSERTs."""
        requests: list[Request] = []
        for name, rows in tables:
            stmt, key = self._prepare(name, gen), PARTITION_KEY[name]
            if key is None:
                requests += ((stmt, r) for r in rows)
                continue
            partitions: dict[Any, list[Row]] = defaultdict(list)
            for r in rows:
                partitions[key(r)].append(r)
            for partition in partitions.values():
                for chunk in batched(partition, MAX_BATCH_ROWS):
                    requests.append((stmt, chunk[0]) if len(chunk) == 1
                                    else (Batch(BatchType.UNLOGGED, [(stmt, r) for r in chunk]), None))
        self._send(requests)

    def _batches(self, kind: BatchType, writes: Iterable[tuple[str, Sequence[Any]]]) -> list[Request]:
        """Writes on the current generation as one batch: LOGGED across partitions (all or
        nothing), UNLOGGED within one."""
        items = [(self._stmts.get(name) or self._prepare(name), params) for name, params in writes]
        return [(Batch(kind, items), None)] if items else []

    # -- the load protocol

    def _replication(self) -> dict[str, str]:
        return self.settings.replication_map(len(self.cluster.metadata.all_hosts()))

    def begin_load(self) -> None:
        """Claim the next generation and create its keyspace, tables and indexes."""
        if self._staging is not None:
            self.abort_load()
        replication = self._replication()
        with self._errors():
            self._meta.ensure(replication, SCHEMA_TIMEOUT)
            n = self._meta.claim()
            self._staging = _Generation(n, self._meta.keyspace(n))
            for ddl in schema.create_statements(self._staging.keyspace, replication):
                self.session.execute(ddl, timeout=SCHEMA_TIMEOUT)
        self._loaded_buckets.clear()

    def _staged(self) -> _Generation:
        if self._staging is None:
            raise BackendError(f"{self.name}: no load in progress (begin_load first)")
        return self._staging

    def write_batch(self, kind: EntityKind, rows: list[Any]) -> None:
        gen = self._staged()
        values = [FIELDS[kind](item) for item in rows]
        if kind != "variants":
            self._write_rows(gen, (LOAD_STATEMENT[kind], values))
            return
        new = {(v[1], bucket(v[2])) for v in values} - self._loaded_buckets
        self._write_rows(gen, ("insert_variant", values),
                         ("insert_variant_by_region", [(bucket(v[2]), *v) for v in values]),
                         ("insert_variant_bucket", sorted(new)))
        self._loaded_buckets |= new

    def finish_kind(self, kind: EntityKind) -> None:
        if kind == "diagnoses":
            self._derive_diagnosis_tables(self._staged())

    def _derive_diagnosis_tables(self, gen: _Generation) -> None:
        """Write patients_by_diagnosis and comorbidities from one pass over the patients table."""
        by_code: list[Row] = []
        pairs: list[Row] = []

        def flush() -> None:
            self._write_rows(gen, ("insert_patient_by_diagnosis", by_code), ("insert_comorbidity", pairs))
            by_code.clear()
            pairs.clear()

        with self._errors():
            rows = self.session.execute(self._prepare("all_patient_codes", gen))
            for _, partition in groupby(rows, key=itemgetter(0)):
                patient_rows, pair_rows = _derived_rows(list(partition))
                by_code += patient_rows
                pairs += pair_rows
                if len(by_code) + len(pairs) >= DERIVE_CHUNK:
                    flush()
        flush()

    def end_load(self, holdings: Holdings) -> None:
        self._switch(holdings)

    def _switch(self, holdings: Holdings | None) -> None:
        """Make the staged generation current with `holdings` (one lightweight transaction), then
        drop the older generations."""
        gen = self._staged()
        with self._errors():
            switched = self._meta.switch(gen.number, holdings)
        if not switched:
            raise BackendError(f"{self.name}: a newer load replaced the data of keyspace {self._meta.fixed} "
                               "while this one ran; this load was dropped")
        self._staging = None
        self._current, self._stmts = gen, gen.statements
        try:
            with self._errors():
                self._meta.sweep(gen.number, SCHEMA_TIMEOUT)
        except BackendError as exc:  # the new data is current; the next load drops what is left
            log.warning("cassandra: loaded, but dropping the previous generation failed: %s", exc)

    def abort_load(self) -> None:
        gen, self._staging = self._staging, None
        if gen is not None:
            with self._errors():
                self.session.execute(f"DROP KEYSPACE IF EXISTS {gen.keyspace}", timeout=SCHEMA_TIMEOUT)

    def reset(self) -> None:
        """An empty generation becomes current (holdings: None); the old one is dropped."""
        self.begin_load()
        try:
            self._switch(None)
        except BaseException:
            self.abort_load()
            raise

    def holdings(self) -> Holdings | None:
        with self._errors():
            pointer = self._meta.pointer()
            if pointer is None or pointer.generation == 0:
                raise NotLoaded(self.name, f"data in keyspace {self._meta.fixed}")
            return self._meta.holdings(pointer)

    def record_writes(self, n: int) -> None:
        if n <= 0:
            return
        with self._errors():
            pointer = self._meta.pointer()
            if pointer is None or pointer.generation == 0:
                raise NotLoaded(self.name, f"data in keyspace {self._meta.fixed}")
            self._meta.add_writes(pointer.generation, n)

    # -- explain

    def explain(self, query: Q | str, params: Mapping[str, Any]) -> Explanation:
        q = Q(query)
        self._current or self._resolve()  # the pointer read is not part of the query
        cleanup: Callable[[], None] | None = None
        undone = None
        notes = [f"reads at {self.settings.read_level}, writes at {self.settings.write_level}"]
        if CATALOG[q].is_write:
            run, cleanup, scratch = self._scratch_write(q, dict(params))
            undone = f"run on scratch ids ({scratch}), whose rows were deleted afterwards: Cassandra has no " \
                     "transaction to roll back"
        else:
            def run() -> Any:
                return run_query(self, q, params)
        self._recorder = recorder = Recorder()
        try:
            answer = run()
        finally:
            self._recorder = None
            if cleanup is not None:
                cleanup()
        if len(recorder.sent) > 1:
            notes.append("explained one request at a time with tracing on; the benchmark sends the requests "
                         "of several partitions together")
        if self.tier(q) is Tier.CLIENT:
            notes.append("Cassandra has no joins: the client combines the rows of several tables")
        for i, events in recorder.lossy()[:1]:
            notes.append(f"the trace of statement {i} has {events} events: Cassandra drops trace events once its "
                         "tracing queue is full, and tracing itself slowed this request (server_us)")
        plan = recorder.plan()
        if not plan:
            notes.append("no query trace became available")
        return Explanation(
            backend=self.name, query=q.value, params={k: to_plain(v) for k, v in params.items()},
            tier=self.tier(q).value, statements=recorder.statements(), plan=plan or None,
            plan_summary=recorder.summary(), work=recorder.work(answer_size(answer)), notes=notes,
            server_us=recorder.server_us(), undone=undone,
        )

    def _scratch_write(self, q: Q, params: dict[str, Any]) -> tuple[Callable[[], Any], Callable[[], None], str]:
        """The write `q` redirected to scratch ids (run, cleanup, what the scratch ids are)."""
        token = secrets.randbelow(2**40)
        pid = SCRATCH_PATIENT - token
        if q is Q.ADD_PATIENT:
            record: PatientRecord = params["patient"]
            scratch = PatientRecord(dataclasses.replace(record.patient, patient_id=pid),
                                    tuple(dataclasses.replace(d, patient_id=pid) for d in record.diagnoses))
            return (lambda: self.add_patient(patient=scratch)), (lambda: self._delete_patient(pid)), \
                f"patient {pid} instead of {record.patient.patient_id}"
        if q is Q.ADD_DIAGNOSIS:
            self._copy_patient(params["patient_id"], pid)
            scratched = {**params, "patient_id": pid}
            return (lambda: self.add_diagnosis(**scratched)), (lambda: self._delete_patient(pid)), \
                f"patient {pid}, a copy of patient {params['patient_id']}"
        variants = [dataclasses.replace(v, variant_id=f"explain-{token}-{i}") for i, v in enumerate(params["variants"])]
        buckets = sorted({(v.chromosome, bucket(v.position)) for v in variants})
        new = [(c, b) for (c, b), rows in zip(buckets, self._rows_each("variant_buckets", [(c, b, b) for c, b in buckets]))
               if not rows]

        def cleanup() -> None:
            self._send([
                *((self._prepare("delete_variant"), (v.variant_id,)) for v in variants),
                *((self._prepare("delete_variant_by_region"), (v.chromosome, bucket(v.position), v.position,
                                                               v.variant_id)) for v in variants),
                *((self._prepare("delete_variant_bucket"), cb) for cb in new),
            ])

        return (lambda: self.add_variants(variants=variants)), cleanup, f"variant ids explain-{token}-*"

    def _copy_patient(self, source: int, target: int) -> None:
        """Patient `source`'s partition (the patient and its diagnoses) written again as `target`."""
        rows = self._rows("patient_by_id", (source,))
        requests: list[Request] = []
        if rows and rows[0][2] is not None:
            requests.append((self._prepare("insert_patient"), (target, *rows[0][1:4])))
        requests += [(self._prepare("insert_diagnosis"), (r[4], target, r[5], _date(r[6])))
                     for r in rows if r[4] is not None]
        self._send(requests)

    def _delete_patient(self, patient_id: int) -> None:
        """A (scratch) patient's partition and its rows in the derived tables."""
        codes = sorted({r[4] for r in self._rows("patient_codes", (patient_id,)) if r[4] is not None})
        self._send([
            (self._prepare("delete_patient"), (patient_id,)),
            *((self._prepare("delete_patient_by_diagnosis"), (c, patient_id)) for c in codes),
            *((self._prepare("delete_comorbidity"), (a, b, patient_id)) for a in codes for b in codes if a != b),
        ])

    # -- variants

    @_on_current
    def variant_by_id(self, *, variant_id: str) -> Variant | None:
        rows = self._rows("variant_by_id", (variant_id,))
        return Variant(*rows[0]) if rows else None

    @_on_current
    def variants_by_chromosome(self, *, chromosome: str) -> list[Variant]:
        return [Variant(*r) for r in self._region("variants_in_bucket", chromosome, MIN_BIGINT, MAX_BIGINT)]

    @_on_current
    def variants_in_region(self, *, chromosome: str, start: int, end: int) -> list[Variant]:
        return [Variant(*r) for r in self._region("variants_in_bucket", chromosome, start, end)]

    @_on_current
    def variants_min_depth(self, *, min_depth: int) -> list[Variant]:
        return [Variant(*r) for r in self._rows("variants_min_depth", (_int32(min_depth),))]

    @_on_current
    def variants_min_quality(self, *, min_quality: float) -> list[Variant]:
        return [Variant(*r) for r in self._rows("variants_min_quality", (min_quality,))]

    @_on_current
    def all_variants(self) -> list[Variant]:
        return [Variant(*r) for r in self._rows("all_variants")]

    def _region(self, name: str, chromosome: str, start: int, end: int) -> list[Row]:
        """The rows of `name` over [start, end] of a chromosome: bucket partitions in order, each a slice."""
        start, end = _clamp(start, MIN_BIGINT, MAX_BIGINT), _clamp(end, MIN_BIGINT, MAX_BIGINT)
        args = [(chromosome, b, start, end) for b in self._buckets(chromosome, start, end)]
        if len(args) == 1:
            return self._rows(name, args[0])
        return [row for rows in self._rows_each(name, args) for row in rows]

    def _buckets(self, chromosome: str, start: int, end: int) -> list[int]:
        low, high = _clamp(bucket(start), MIN_BUCKET, MAX_BUCKET), _clamp(bucket(end), MIN_BUCKET, MAX_BUCKET)
        if high - low < DIRECT_BUCKETS:
            return list(range(low, high + 1))
        return [b for b, in self._rows("variant_buckets", (chromosome, low, high))]

    # -- patients and diagnoses

    @_on_current
    def patient_by_id(self, *, patient_id: int) -> PatientRecord | None:
        rows = self._rows("patient_by_id", (patient_id,))
        if not rows or rows[0][2] is None:  # no partition, or diagnoses without the patient's row
            return None
        found = tuple(Diagnosis(r[4], patient_id, r[5], _date(r[6])) for r in rows if r[4] is not None)
        return PatientRecord(Patient(*rows[0][:4]), found)

    @_on_current
    def patients_older_than(self, *, age: int) -> list[Patient]:
        return [Patient(*r) for r in self._rows("patients_older_than", (_int32(age),))]

    @_on_current
    def patients_with_diagnosis(self, *, code: str) -> list[Patient]:
        return [Patient(*r) for r in self._rows("patients_with_diagnosis", (code,))]

    @_on_current
    def diagnosis_counts(self, *, min_age: int | None = None) -> list[CodeCount]:
        if min_age is None:
            return _ranked(self._rows("diagnosis_counts"))
        return _ranked(self._rows("diagnosis_counts_older", (_int32(min_age),)))

    @_on_current
    def lab_history(self, *, patient_id: int, test_name: str, since: dt.date, until: dt.date) -> list[LabResult]:
        if until < since:
            return []
        rows = self._rows("lab_history", (patient_id, test_name, since, until))
        return [LabResult(*r[:5], _date(r[5])) for r in rows]

    @_on_current
    def carriers_with_diagnosis(self, *, chromosome: str, start: int, end: int, code: str) -> list[Patient]:
        """Client-side join: the region's carriers (variants_by_region) with the code's patients."""
        having = self._later("patients_with_diagnosis", (code,))
        carriers = {pid for pid, in self._region("carriers_in_bucket", chromosome, start, end)}
        return [Patient(*r) for r in having() if r[0] in carriers]

    @_on_current
    def patients_sharing_diagnoses(self, *, patient_id: int) -> list[SharedDiagnoses]:
        """Client-side: the patient's codes, then each code's patients, counted per other patient."""
        codes = sorted({r[4] for r in self._rows("patient_codes", (patient_id,)) if r[4] is not None})
        shared = Counter(pid for rows in self._rows_each("patient_ids_with_diagnosis", [(c,) for c in codes])
                         for pid, in rows if pid != patient_id)
        return rank_shared(shared)

    @_on_current
    def comorbid_codes(self, *, code: str) -> list[CodeCount]:
        return _ranked(self._rows("comorbid_codes", (code,)))

    # -- writes

    @_on_current
    def add_patient(self, *, patient: PatientRecord) -> None:
        self._send(self._batches(BatchType.UNLOGGED, [  # one partition: atomic and isolated
            ("insert_patient", FIELDS["patients"](patient.patient)),
            *(("insert_diagnosis", FIELDS["diagnoses"](d)) for d in patient.diagnoses),
        ]))
        self._refresh_derived(patient.patient.patient_id)

    @_on_current
    def add_diagnosis(self, *, diagnosis_id: int, patient_id: int, code: str, diagnosed_on: dt.date) -> None:
        self._send([(self._stmts.get("insert_diagnosis") or self._prepare("insert_diagnosis"),
                     (diagnosis_id, patient_id, code, diagnosed_on))])
        self._refresh_derived(patient_id)

    def _refresh_derived(self, patient_id: int) -> None:
        """Re-derive one patient's rows in the diagnosis tables from its partition (read after write)."""
        patient_rows, pair_rows = _derived_rows(self._rows("patient_codes", (patient_id,)))
        writes = [*(("insert_patient_by_diagnosis", r) for r in patient_rows),
                  *(("insert_comorbidity", r) for r in pair_rows)]
        self._send([b for chunk in batched(writes, MAX_LOGGED_BATCH) for b in self._batches(BatchType.LOGGED, chunk)])

    @_on_current
    def add_variants(self, *, variants: list[Variant]) -> None:
        """One LOGGED batch per call (its three tables), the batches sent concurrently."""
        requests: list[Request] = []
        for v in variants:
            values = FIELDS["variants"](v)
            requests += self._batches(BatchType.LOGGED, [
                ("insert_variant", values),
                ("insert_variant_by_region", (bucket(v.position), *values)),
                ("insert_variant_bucket", (v.chromosome, bucket(v.position))),
            ])
        self._send(requests)


# -- helpers

def _derived_rows(rows: list[Row]) -> tuple[list[Row], list[Row]]:
    """From one patient's (patient_id, name, age, sex, code) rows: its patients_by_diagnosis rows
    and its comorbidities rows (every ordered pair of distinct codes)."""
    if not rows:
        return [], []
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
