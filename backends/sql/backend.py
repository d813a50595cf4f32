"""The relational model: SQLite (embedded) and PostgreSQL through SQLAlchemy 2 Core.

One implementation serves both engines; the schema is in `schema.py`. Every catalog query is
answered natively in SQL: joins, GROUP BY, COUNT(DISTINCT ...) and ORDER BY run in the
engine. Statements are SQLAlchemy Core constructs, compiled once and cached; psycopg 3
prepares them on the server after a few executions, SQLite's driver caches them.

Connections: reads go through an autocommit connection (no BEGIN/ROLLBACK round trips),
writes through a transactional one (`add_patient` inserts a patient and its diagnoses
atomically). Bulk loading runs in ONE transaction, so a failed load leaves nothing behind;
rows go in as driver-level executemany batches (SQLite) or COPY (PostgreSQL), with no
per-row round trips and no ORM.
"""

from __future__ import annotations

import abc
import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from operator import attrgetter
from pathlib import Path
from typing import Any, ClassVar, Self

from sqlalchemy import and_, bindparam, create_engine, distinct, event, func, inspect, select, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from backends.base import Backend, BackendError, EngineInfo, EngineUnavailable, NotLoaded, first_line
from backends.sql import schema
from backends.sql.schema import diagnoses, lab_results, patients, variants
from backends.sql.settings import PostgresSettings, SQLiteSettings, default_sqlite_url
from models.dataset import FIELDS, EntityKind
from models.entities import (
    CodeCount,
    Diagnosis,
    LabResult,
    Patient,
    PatientRecord,
    SharedDiagnoses,
    Variant,
)

PATIENT_COLS = (patients.c.patient_id, patients.c.name, patients.c.age, patients.c.sex)
VARIANT_COLS = tuple(variants.c[f] for f in FIELDS["variants"])
LAB_COLS = tuple(lab_results.c[f] for f in FIELDS["lab_results"])


class SQLBackend(Backend):
    """Shared by SQLite and PostgreSQL; subclasses say how to connect and bulk-insert."""

    model: ClassVar[str] = "sql"
    product: ClassVar[str]

    def __init__(self, engine: Engine, address: str) -> None:
        self.engine, self.address = engine, address
        try:
            self._read: Connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            try:
                self._write: Connection = engine.connect()
            except OperationalError:
                self._read.close()
                raise
        except OperationalError as exc:
            engine.dispose()
            raise EngineUnavailable(self.name, self.product, address, _first_line(exc)) from None

    def close(self) -> None:
        self._read.close()
        self._write.close()
        self.engine.dispose()

    def engine_info(self) -> EngineInfo:
        return EngineInfo(self.product, self._server_version(), emulator=False,
                          driver=self._driver_version(), address=self.address)

    @abc.abstractmethod
    def _server_version(self) -> str: ...

    @abc.abstractmethod
    def _driver_version(self) -> str: ...

    # -- schema and loading

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Driver errors as one line: EngineUnavailable if the connection is lost, else BackendError."""
        try:
            yield
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise EngineUnavailable(self.name, self.product, self.address, _first_line(exc)) from None
            raise BackendError(f"{self.name}: {_first_line(exc)}") from None

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._errors(), self._write.begin():
            yield

    def reset(self) -> None:
        with self._transaction():
            schema.metadata.drop_all(self._write)
            schema.metadata.create_all(self._write)

    def begin_load(self) -> None:
        """One transaction for the whole load; secondary indexes are rebuilt per table after it."""
        self._load_tx = self._write.begin()
        for table in schema.TABLES.values():
            for index in table.indexes:
                index.drop(self._write)

    def finish_kind(self, kind: EntityKind) -> None:
        for index in schema.TABLES[kind].indexes:
            index.create(self._write)

    def end_load(self) -> None:
        self._load_tx.commit()
        self._read.execute(text("ANALYZE"))

    def abort_load(self) -> None:
        if self._write.in_transaction():
            self._write.rollback()

    # -- reads

    def _all(self, stmt: Any, params: dict[str, Any] | None = None) -> list[Any]:
        with self._errors():
            try:
                return self._read.execute(stmt, params or {}).all()
            except DBAPIError as exc:
                if not exc.connection_invalidated and not inspect(self._read).has_table("variants"):
                    raise NotLoaded(self.name, "tables") from None
                raise

    def variant_by_id(self, *, variant_id: str) -> Variant | None:
        rows = self._all(_VARIANT_BY_ID, {"variant_id": variant_id})
        return Variant(*rows[0]) if rows else None

    def variants_by_chromosome(self, *, chromosome: str) -> list[Variant]:
        return [Variant(*r) for r in self._all(_VARIANTS_BY_CHROMOSOME, {"chromosome": chromosome})]

    def variants_in_region(self, *, chromosome: str, start: int, end: int) -> list[Variant]:
        return [Variant(*r) for r in self._all(_VARIANTS_IN_REGION, {"chromosome": chromosome, "start": start, "end": end})]

    def variants_min_depth(self, *, min_depth: int) -> list[Variant]:
        return [Variant(*r) for r in self._all(_VARIANTS_MIN_DEPTH, {"min_depth": min_depth})]

    def variants_min_quality(self, *, min_quality: float) -> list[Variant]:
        return [Variant(*r) for r in self._all(_VARIANTS_MIN_QUALITY, {"min_quality": min_quality})]

    def all_variants(self) -> list[Variant]:
        return [Variant(*r) for r in self._all(_ALL_VARIANTS)]

    def patient_by_id(self, *, patient_id: int) -> PatientRecord | None:
        rows = self._all(_PATIENT_BY_ID, {"patient_id": patient_id})
        if not rows:
            return None
        patient = Patient(*rows[0][:4])
        found = tuple(Diagnosis(r[4], patient_id, r[5], r[6]) for r in rows if r[4] is not None)
        return PatientRecord(patient, found)

    def patients_older_than(self, *, age: int) -> list[Patient]:
        return [Patient(*r) for r in self._all(_PATIENTS_OLDER_THAN, {"age": age})]

    def patients_with_diagnosis(self, *, code: str) -> list[Patient]:
        return [Patient(*r) for r in self._all(_PATIENTS_WITH_DIAGNOSIS, {"code": code})]

    def diagnosis_counts(self, *, min_age: int | None = None) -> list[CodeCount]:
        if min_age is None:
            rows = self._all(_DIAGNOSIS_COUNTS)
        else:
            rows = self._all(_DIAGNOSIS_COUNTS_OLDER, {"min_age": min_age})
        return [CodeCount(*r) for r in rows]

    def lab_history(self, *, patient_id: int, test_name: str, since: dt.date, until: dt.date) -> list[LabResult]:
        params = {"patient_id": patient_id, "test_name": test_name, "since": since, "until": until}
        return [LabResult(*r) for r in self._all(_LAB_HISTORY, params)]

    def carriers_with_diagnosis(self, *, chromosome: str, start: int, end: int, code: str) -> list[Patient]:
        params = {"chromosome": chromosome, "start": start, "end": end, "code": code}
        return [Patient(*r) for r in self._all(_CARRIERS_WITH_DIAGNOSIS, params)]

    def patients_sharing_diagnoses(self, *, patient_id: int) -> list[SharedDiagnoses]:
        return [SharedDiagnoses(*r) for r in self._all(_PATIENTS_SHARING, {"patient_id": patient_id})]

    def comorbid_codes(self, *, code: str) -> list[CodeCount]:
        return [CodeCount(*r) for r in self._all(_COMORBID, {"code": code})]

    # -- writes

    def add_patient(self, *, patient: PatientRecord) -> None:
        with self._transaction():
            self._write.execute(patients.insert(), [_row_dict("patients", patient.patient)])
            if patient.diagnoses:
                self._write.execute(diagnoses.insert(), [_row_dict("diagnoses", d) for d in patient.diagnoses])

    def add_diagnosis(self, *, diagnosis_id: int, patient_id: int, code: str, diagnosed_on: dt.date) -> None:
        with self._transaction():
            self._write.execute(diagnoses.insert(), [{"diagnosis_id": diagnosis_id, "patient_id": patient_id,
                                                      "code": code, "diagnosed_on": diagnosed_on}])

    def add_variants(self, *, variants: list[Variant]) -> None:
        if not variants:
            return
        with self._transaction():
            self._write.execute(schema.variants.insert(), [_row_dict("variants", v) for v in variants])


def _row_dict(kind: EntityKind, item: Any) -> dict[str, Any]:
    return {f: getattr(item, f) for f in FIELDS[kind]}


def _first_line(exc: BaseException) -> str:
    """The DBAPI driver's own message, not SQLAlchemy's wrapping."""
    return first_line(getattr(exc, "orig", None) or exc)


# -- the statements, built once (bound parameters only)

_p, _d, _v, _l = patients, diagnoses, variants, lab_results
_d2 = diagnoses.alias("other")
_REGION = and_(_v.c.chromosome == bindparam("chromosome"), _v.c.position.between(bindparam("start"), bindparam("end")))

_VARIANT_BY_ID = select(*VARIANT_COLS).where(_v.c.variant_id == bindparam("variant_id"))
_VARIANTS_BY_CHROMOSOME = (select(*VARIANT_COLS).where(_v.c.chromosome == bindparam("chromosome"))
                           .order_by(_v.c.position, _v.c.variant_id))
_VARIANTS_IN_REGION = select(*VARIANT_COLS).where(_REGION).order_by(_v.c.position, _v.c.variant_id)
_VARIANTS_MIN_DEPTH = select(*VARIANT_COLS).where(_v.c.depth > bindparam("min_depth"))
_VARIANTS_MIN_QUALITY = select(*VARIANT_COLS).where(_v.c.quality > bindparam("min_quality"))
_ALL_VARIANTS = select(*VARIANT_COLS)
_PATIENT_BY_ID = (
    select(*PATIENT_COLS, _d.c.diagnosis_id, _d.c.code, _d.c.diagnosed_on)
    .select_from(_p.outerjoin(_d, _d.c.patient_id == _p.c.patient_id))
    .where(_p.c.patient_id == bindparam("patient_id"))
    .order_by(_d.c.diagnosed_on, _d.c.code, _d.c.diagnosis_id)
)
_PATIENTS_OLDER_THAN = select(*PATIENT_COLS).where(_p.c.age > bindparam("age"))
_PATIENTS_WITH_DIAGNOSIS = select(*PATIENT_COLS).where(
    _p.c.patient_id.in_(select(_d.c.patient_id).where(_d.c.code == bindparam("code"))))
_N_PATIENTS = func.count(distinct(_d.c.patient_id))
_DIAGNOSIS_COUNTS = (select(_d.c.code, _N_PATIENTS).group_by(_d.c.code)
                     .order_by(_N_PATIENTS.desc(), _d.c.code))
_DIAGNOSIS_COUNTS_OLDER = (
    select(_d.c.code, _N_PATIENTS).join(_p, _p.c.patient_id == _d.c.patient_id)
    .where(_p.c.age > bindparam("min_age")).group_by(_d.c.code).order_by(_N_PATIENTS.desc(), _d.c.code)
)
_LAB_HISTORY = (
    select(*LAB_COLS)
    .where(_l.c.patient_id == bindparam("patient_id"), _l.c.test_name == bindparam("test_name"),
           _l.c.taken_on.between(bindparam("since"), bindparam("until")))
    .order_by(_l.c.taken_on, _l.c.result_id)
)
_CARRIERS_WITH_DIAGNOSIS = select(*PATIENT_COLS).where(
    _p.c.patient_id.in_(select(_v.c.patient_id).where(_REGION)),
    _p.c.patient_id.in_(select(_d.c.patient_id).where(_d.c.code == bindparam("code"))),
)
_N_SHARED = func.count(distinct(_d2.c.code))
_PATIENTS_SHARING = (
    select(_d2.c.patient_id, _N_SHARED)
    .select_from(_d.join(_d2, and_(_d2.c.code == _d.c.code, _d2.c.patient_id != _d.c.patient_id)))
    .where(_d.c.patient_id == bindparam("patient_id"))
    .group_by(_d2.c.patient_id).order_by(_N_SHARED.desc(), _d2.c.patient_id)
)
_N_COMORBID = func.count(distinct(_d2.c.patient_id))
_COMORBID = (
    select(_d2.c.code, _N_COMORBID)
    .select_from(_d.join(_d2, _d2.c.patient_id == _d.c.patient_id))
    .where(_d.c.code == bindparam("code"), _d2.c.code != bindparam("code"))
    .group_by(_d2.c.code).order_by(_N_COMORBID.desc(), _d2.c.code)
)


# -- the two engines

def _row_getter(kind: EntityKind, iso_dates: bool) -> Callable[[Any], tuple[Any, ...]]:
    """Entity -> row tuple in column order (dates as ISO text for SQLite's DATE columns)."""
    get = attrgetter(*FIELDS[kind])
    if not iso_dates or kind not in ("diagnoses", "lab_results"):
        return get
    last = len(FIELDS[kind]) - 1

    def row(item: Any) -> tuple[Any, ...]:
        values = get(item)
        return (*values[:last], values[last].isoformat())

    return row


class SQLiteBackend(SQLBackend):
    """SQLite, embedded: a file (default under the state dir) or `sqlite://` in memory."""

    name: ClassVar[str] = "sqlite"
    product: ClassVar[str] = "SQLite"

    @classmethod
    def from_settings(cls, settings: SQLiteSettings | None = None) -> Self:
        settings = settings or SQLiteSettings()
        url = make_url(settings.url or default_sqlite_url())
        if url.database in (None, "", ":memory:"):
            # Two connections must see one database: a named, shared-cache memory database.
            url = make_url(f"sqlite:///file:mmbench-{uuid.uuid4().hex}?mode=memory&cache=shared&uri=true")
            address = ":memory:"
        else:
            Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            address = str(url.database)
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return cls(engine, address)

    def _server_version(self) -> str:
        import sqlite3

        return sqlite3.sqlite_version

    def _driver_version(self) -> str:
        import sqlalchemy

        return f"sqlalchemy {sqlalchemy.__version__} + sqlite3 (Python stdlib)"

    def write_batch(self, kind: EntityKind, rows: list[Any]) -> None:
        row = _row_getter(kind, iso_dates=True)
        self._write.exec_driver_sql(_INSERT_SQL[kind], [row(r) for r in rows])


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # The driver's own implicit BEGIN skips DDL; SQLAlchemy's recipe: let us emit BEGIN (below).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys = ON")
    cur.execute("PRAGMA journal_mode = WAL")
    cur.execute("PRAGMA synchronous = NORMAL")
    # A 32 MiB page cache (default 2 MiB) keeps bulk loads and index builds fast; SQLite's
    # memory stays bounded by it whatever the scale (larger sorts spill to temp files).
    cur.execute("PRAGMA cache_size = -32768")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
        conn.exec_driver_sql("BEGIN")


_INSERT_SQL = {
    kind: f"INSERT INTO {kind} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"
    for kind, cols in FIELDS.items()
}


class PostgresBackend(SQLBackend):
    """PostgreSQL through psycopg 3; bulk load with COPY."""

    name: ClassVar[str] = "postgres"
    product: ClassVar[str] = "PostgreSQL"

    @classmethod
    def from_settings(cls, settings: PostgresSettings | None = None) -> Self:
        settings = settings or PostgresSettings()
        url = make_url(settings.url)
        address = f"{url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"
        engine = create_engine(url, connect_args={"connect_timeout": 5})
        return cls(engine, address)

    def _server_version(self) -> str:
        return str(self._read.execute(text("SHOW server_version")).scalar_one())

    def _driver_version(self) -> str:
        import psycopg
        import sqlalchemy

        return f"sqlalchemy {sqlalchemy.__version__} + psycopg {psycopg.__version__}"

    def write_batch(self, kind: EntityKind, rows: list[Any]) -> None:
        row = _row_getter(kind, iso_dates=False)
        dbapi = self._write.connection.driver_connection
        with dbapi.cursor() as cur, cur.copy(_COPY_SQL[kind]) as copy:
            for r in rows:
                copy.write_row(row(r))


_COPY_SQL = {kind: f"COPY {kind} ({', '.join(cols)}) FROM STDIN" for kind, cols in FIELDS.items()}
