"""The graph model: Neo4j 5 through the official `neo4j` Python driver.

The graph is described in `schema.py`, the statements in `cypher.py`. Every catalog query is
one Cypher statement with bound parameters, answered natively: the multi-hop questions
(`patients_sharing_diagnoses`, `comorbid_codes`, `carriers_with_diagnosis`) are traversals
from an indexed anchor, not joins. `profile()` runs a catalog query under PROFILE and
reports the plan's operators and database hits, for lectures and for checking plans.

Transactions: reads go through `Driver.execute_query` (a managed, retried auto-routed read
transaction); writes through `Session.execute_write` (a managed write transaction, retried
on transient errors): `add_patient` creates the patient and its diagnoses atomically, and a
write whose relationship finds no patient at its other end is rolled back with an error.

Bulk load: each batch is one managed write transaction of `UNWIND $rows` statements; code
nodes are merged before the relationships that point at them, and relationship ends are
matched through the uniqueness constraints on the ids. A single transaction for the whole
load (as the SQL backend does) would hold every change in the server's heap, so a failed
load is undone by deleting what was written instead. The secondary range indexes are built
after their entity kind is loaded, and the load ends with fresh index samples and an
empty plan cache, so queries are planned for the data just loaded.
"""

from __future__ import annotations

import datetime as dt
from importlib import metadata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit

import neo4j
from neo4j import GraphDatabase, ManagedTransaction, NotificationMinimumSeverity, Result, RoutingControl
from neo4j.exceptions import AuthError, DriverError, Neo4jError, ServiceUnavailable, SessionExpired

from backends.base import Backend, BackendError, EngineInfo, EngineUnavailable, first_line, run_query
from backends.graph import cypher, schema
from backends.graph.settings import Neo4jSettings
from models.catalog import Q
from models.dataset import EntityKind
from models.entities import (
    CodeCount,
    Diagnosis,
    LabResult,
    Patient,
    PatientRecord,
    SharedDiagnoses,
    Variant,
)

PRODUCT = "Neo4j"
BOLT_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")
INDEX_WAIT_S = 600  # how long a load waits for index population and resampling

FIELDS: dict[EntityKind, tuple[str, ...]] = {
    "patients": tuple(Patient.__dataclass_fields__),
    "diagnoses": tuple(Diagnosis.__dataclass_fields__),
    "lab_results": tuple(LabResult.__dataclass_fields__),
    "variants": tuple(Variant.__dataclass_fields__),
}


@dataclass(frozen=True)
class PlanProfile:
    """What PROFILE reports for one statement: operators (top-down), db hits and rows."""

    operators: tuple[str, ...]
    db_hits: int
    rows: int
    plan: dict[str, Any]


class Neo4jBackend(Backend):
    """Neo4j 5 (Community or Enterprise, local or Aura) over Bolt."""

    name: ClassVar[str] = "neo4j"
    model: ClassVar[str] = "graph"

    def __init__(self, driver: neo4j.Driver, database: str, address: str) -> None:
        self._driver, self._database, self.address = driver, database, address
        self._profiles: list[PlanProfile] | None = None

    @classmethod
    def from_settings(cls, settings: Neo4jSettings | None = None) -> Self:
        settings = settings or Neo4jSettings()
        address = _address(settings.url)
        if urlsplit(settings.url).scheme not in BOLT_SCHEMES:
            raise BackendError(f"neo4j: MMBENCH_NEO4J_URL {address!r} is not a Bolt URL; "
                               f"use one of {', '.join(s + '://' for s in BOLT_SCHEMES)}")
        try:
            driver = GraphDatabase.driver(
                settings.url, auth=settings.auth, connection_timeout=settings.connect_timeout,
                connection_acquisition_timeout=settings.connect_timeout,
                notifications_min_severity=NotificationMinimumSeverity.OFF,
            )
        except (ValueError, DriverError) as exc:  # a malformed URL or option
            raise BackendError(f"neo4j: invalid settings for {address}: {first_line(exc)}") from None
        try:
            driver.verify_connectivity()
        except AuthError as exc:
            driver.close()
            raise BackendError(f"neo4j: authentication failed at {address}: {first_line(exc)}; "
                               "set MMBENCH_NEO4J_USER / MMBENCH_NEO4J_PASSWORD") from None
        except (ServiceUnavailable, SessionExpired, OSError) as exc:
            driver.close()
            raise EngineUnavailable(cls.name, PRODUCT, address, _root_cause(exc)) from None
        return cls(driver, settings.database, address)

    def close(self) -> None:
        self._driver.close()

    def engine_info(self) -> EngineInfo:
        version, edition = self._rows(cypher.ENGINE_INFO)[0]
        return EngineInfo(f"{PRODUCT} {edition.title()}", version, emulator=False,
                          driver=_driver_version(), address=self.address)

    # -- plumbing

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Driver failures as one-line BackendError / EngineUnavailable."""
        try:
            yield
        except (ServiceUnavailable, SessionExpired) as exc:
            raise EngineUnavailable(self.name, PRODUCT, self.address, _root_cause(exc)) from None
        except Neo4jError as exc:
            raise BackendError(f"neo4j: {exc.code}: {first_line(exc)}") from None

    @contextmanager
    def _session(self) -> Iterator[neo4j.Session]:
        with self._errors(), self._driver.session(database=self._database) as session:
            yield session

    def _rows(self, statement: str, **params: Any) -> list[list[Any]]:
        """Run a read statement; its rows as lists of values (PROFILEd inside `profile()`)."""
        profiling = self._profiles is not None
        with self._errors():
            rows, summary = self._driver.execute_query(
                f"PROFILE {statement}" if profiling else statement, params,
                database_=self._database, routing_=RoutingControl.READ,
                result_transformer_=_values_and_summary,
            )
        if profiling:
            self._profiles.append(_plan_profile(summary.profile))
        return rows

    def _write(self, work: Callable[[ManagedTransaction], None]) -> None:
        with self._session() as session:
            session.execute_write(work)

    def _run_admin(self, statement: str, **params: Any) -> list[list[Any]]:
        """An auto-commit statement (schema changes, procedures, CALL IN TRANSACTIONS)."""
        with self._session() as session:
            return session.run(statement, params).values()

    def profile(self, query: Q | str, params: dict[str, Any] | None = None) -> list[PlanProfile]:
        """Run a catalog read under PROFILE: one PlanProfile per statement it ran."""
        self._profiles = []
        try:
            run_query(self, query, params or {})
            return self._profiles
        finally:
            self._profiles = None

    # -- schema and loading

    def reset(self) -> None:
        """Drop mmbench's constraints and indexes, delete its nodes, recreate the schema."""
        for item in schema.CONSTRAINTS:
            self._run_admin(schema.DROP_CONSTRAINT, name=item.name)
        for item in schema.ALL_SECONDARY:
            self._run_admin(schema.DROP_INDEX, name=item.name)
        self._delete_all()
        for item in schema.CONSTRAINTS + schema.ALL_SECONDARY:
            self._run_admin(item.create)
        self._run_admin(schema.AWAIT_INDEXES, seconds=INDEX_WAIT_S)

    def _delete_all(self) -> None:
        for statement in schema.DELETE_ALL:
            self._run_admin(statement)

    def begin_load(self) -> None:
        """Secondary indexes go away for the load; each comes back when its kind is loaded."""
        for item in schema.ALL_SECONDARY:
            self._run_admin(schema.DROP_INDEX, name=item.name)

    def write_batch(self, kind: EntityKind, rows: list[Any]) -> None:
        self._write(lambda tx: _write_rows(tx, kind, rows))

    def finish_kind(self, kind: EntityKind) -> None:
        for item in schema.SECONDARY_INDEXES.get(kind, ()):
            self._run_admin(item.create)
        self._run_admin(schema.AWAIT_INDEXES, seconds=INDEX_WAIT_S)

    def end_load(self) -> None:
        self._run_admin(schema.PREPARE_FOR_REPLANNING, seconds=INDEX_WAIT_S)

    def abort_load(self) -> None:
        """Batches were committed one by one: delete them, and restore the indexes."""
        self._delete_all()
        for item in schema.ALL_SECONDARY:
            self._run_admin(item.create)

    # -- reads

    def variant_by_id(self, *, variant_id: str) -> Variant | None:
        rows = self._rows(cypher.VARIANT_BY_ID, variant_id=variant_id)
        return Variant(*rows[0]) if rows else None

    def variants_by_chromosome(self, *, chromosome: str) -> list[Variant]:
        return _variants(self._rows(cypher.VARIANTS_BY_CHROMOSOME, chromosome=chromosome))

    def variants_in_region(self, *, chromosome: str, start: int, end: int) -> list[Variant]:
        return _variants(self._rows(cypher.VARIANTS_IN_REGION, chromosome=chromosome, start=start, end=end))

    def variants_min_depth(self, *, min_depth: int) -> list[Variant]:
        return _variants(self._rows(cypher.VARIANTS_MIN_DEPTH, min_depth=min_depth))

    def variants_min_quality(self, *, min_quality: float) -> list[Variant]:
        return _variants(self._rows(cypher.VARIANTS_MIN_QUALITY, min_quality=min_quality))

    def all_variants(self) -> list[Variant]:
        return _variants(self._rows(cypher.ALL_VARIANTS))

    def patient_by_id(self, *, patient_id: int) -> PatientRecord | None:
        rows = self._rows(cypher.PATIENT_BY_ID, patient_id=patient_id)
        if not rows:
            return None
        *fields, diagnoses = rows[0]
        return PatientRecord(Patient(*fields), tuple(
            Diagnosis(diagnosis_id, patient_id, code, on.to_native()) for diagnosis_id, code, on in diagnoses))

    def patients_older_than(self, *, age: int) -> list[Patient]:
        return _patients(self._rows(cypher.PATIENTS_OLDER_THAN, age=age))

    def patients_with_diagnosis(self, *, code: str) -> list[Patient]:
        return _patients(self._rows(cypher.PATIENTS_WITH_DIAGNOSIS, code=code))

    def diagnosis_counts(self, *, min_age: int | None = None) -> list[CodeCount]:
        if min_age is None:
            return _code_counts(self._rows(cypher.DIAGNOSIS_COUNTS))
        return _code_counts(self._rows(cypher.DIAGNOSIS_COUNTS_OLDER, min_age=min_age))

    def lab_history(self, *, patient_id: int, test_name: str, since: dt.date, until: dt.date) -> list[LabResult]:
        rows = self._rows(cypher.LAB_HISTORY, patient_id=patient_id, test_name=test_name, since=since, until=until)
        return [LabResult(result_id, patient_id, test, value, unit, on.to_native())
                for result_id, test, value, unit, on in rows]

    def carriers_with_diagnosis(self, *, chromosome: str, start: int, end: int, code: str) -> list[Patient]:
        return _patients(self._rows(cypher.CARRIERS_WITH_DIAGNOSIS, chromosome=chromosome,
                                    start=start, end=end, code=code))

    def patients_sharing_diagnoses(self, *, patient_id: int) -> list[SharedDiagnoses]:
        return [SharedDiagnoses(*r) for r in self._rows(cypher.PATIENTS_SHARING_DIAGNOSES, patient_id=patient_id)]

    def comorbid_codes(self, *, code: str) -> list[CodeCount]:
        return _code_counts(self._rows(cypher.COMORBID_CODES, code=code))

    # -- writes

    def add_patient(self, *, patient: PatientRecord) -> None:
        def work(tx: ManagedTransaction) -> None:
            _write_rows(tx, "patients", [patient.patient])
            _write_rows(tx, "diagnoses", list(patient.diagnoses))

        self._write(work)

    def add_diagnosis(self, *, diagnosis_id: int, patient_id: int, code: str, diagnosed_on: dt.date) -> None:
        diagnosis = Diagnosis(diagnosis_id, patient_id, code, diagnosed_on)
        self._write(lambda tx: _write_rows(tx, "diagnoses", [diagnosis]))

    def add_variants(self, *, variants: list[Variant]) -> None:
        self._write(lambda tx: _write_rows(tx, "variants", variants))


# -- writing entities

def _write_rows(tx: ManagedTransaction, kind: EntityKind, items: list[Any]) -> None:
    """Create the nodes and relationships of a batch of one kind, inside `tx`.

    A relationship whose patient does not exist would be silently missing: it raises
    instead, which rolls the transaction back.
    """
    if not items:
        return
    rows = [{f: getattr(item, f) for f in FIELDS[kind]} for item in items]
    if kind == "patients":
        tx.run(cypher.CREATE_PATIENTS, rows=rows).consume()
        return
    if kind == "diagnoses":
        tx.run(cypher.MERGE_CODES, codes=sorted({r["code"] for r in rows})).consume()
        statement, linked = cypher.CREATE_DIAGNOSES, len(rows)
    elif kind == "lab_results":
        statement, linked = cypher.CREATE_LAB_RESULTS, len(rows)
    else:
        statement, linked = cypher.CREATE_VARIANTS, sum(r["patient_id"] is not None for r in rows)
    created = tx.run(statement, rows=rows).consume().counters.relationships_created
    if created != linked:
        raise BackendError(f"neo4j: {linked - created} of {len(rows)} {kind} name a patient that does not exist")


# -- rows to domain objects

def _values_and_summary(result: Result) -> tuple[list[list[Any]], neo4j.ResultSummary]:
    rows = result.values()
    return rows, result.consume()


def _variants(rows: list[list[Any]]) -> list[Variant]:
    return [Variant(*r) for r in rows]


def _patients(rows: list[list[Any]]) -> list[Patient]:
    return [Patient(*r) for r in rows]


def _code_counts(rows: list[list[Any]]) -> list[CodeCount]:
    return [CodeCount(*r) for r in rows]


def _plan_profile(plan: dict[str, Any]) -> PlanProfile:
    operators: list[str] = []
    db_hits = 0

    def walk(node: dict[str, Any]) -> None:
        nonlocal db_hits
        operators.append(node["operatorType"].split("@")[0])
        db_hits += node.get("dbHits", 0)
        for child in node.get("children", ()):
            walk(child)

    walk(plan)
    return PlanProfile(tuple(operators), db_hits, plan.get("rows", 0), plan)


def _driver_version() -> str:
    """The driver, and whether its Rust extension packs and unpacks messages (it is faster)."""
    try:
        rust = f" + neo4j-rust-ext {metadata.version('neo4j-rust-ext')}"
    except metadata.PackageNotFoundError:
        rust = " (pure Python)"
    return f"neo4j-python-driver {neo4j.__version__}{rust}"


def _address(url: str) -> str:
    """The URL without credentials (it goes into results files)."""
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def _root_cause(exc: BaseException) -> str:
    """The innermost reason of a connection failure (e.g. "Connection refused")."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    lines = str(exc).strip().splitlines()
    return lines[-1] if lines else type(exc).__name__



