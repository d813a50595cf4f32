"""The relational model: SQLite (embedded) and PostgreSQL, normalised tables (`schema.py`).

Every catalog query is answered natively in SQL: joins, GROUP BY, COUNT(DISTINCT ...) and
ORDER BY run in the engine. The statements are SQLAlchemy Core constructs (`statements.py`)
compiled once per backend into the driver's SQL; each query is one `execute` on a reused DBAPI
cursor and its rows become domain objects through their constructors (`engine.py` says why
and how connections, transactions and errors work).

Load = atomic replace in one transaction, DDL included (`engine.py`): drop and create the
tables, insert every row (SQLite: executemany; PostgreSQL: COPY), build the secondary indexes
per table once its rows are in, write the `mmbench_holdings` row, ANALYZE, commit. A process
killed mid-load leaves the previous data and nothing else (the transaction never commits).

Namespaces: SQLite a file per namespace (`mmbench-<ns>.db` next to `mmbench.db`), PostgreSQL a
schema per namespace (`mmbench_<ns>`; the default namespace keeps the unqualified names).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from itertools import starmap
from operator import attrgetter
from typing import Any, ClassVar

from backends.sql import schema
from backends.sql.engine import PostgresEngine, SQLBackend, SQLiteEngine, qualified
from backends.sql.statements import SPEC
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


class Relational(SQLBackend):
    """The normalised design's queries, on either engine. `_date_in` / `_date_out` convert dates
    where the engine stores them as text (SQLite); None where the driver does it (PostgreSQL)."""

    METADATA = schema.metadata
    KIND_TABLES = schema.TABLES
    SPEC = SPEC
    _date_in: ClassVar[Callable[[dt.date], Any] | None] = None
    _date_out: ClassVar[Callable[[Any], dt.date] | None] = None

    # -- reads

    def variant_by_id(self, *, variant_id: str) -> Variant | None:
        row = self._one(self._q.variant_by_id, (variant_id,))
        return Variant(*row) if row else None

    def variants_by_chromosome(self, *, chromosome: str) -> list[Variant]:
        return list(starmap(Variant, self._all(self._q.variants_by_chromosome, (chromosome,))))

    def variants_in_region(self, *, chromosome: str, start: int, end: int) -> list[Variant]:
        return list(starmap(Variant, self._all(self._q.variants_in_region, (chromosome, start, end))))

    def variants_min_depth(self, *, min_depth: int) -> list[Variant]:
        return list(starmap(Variant, self._all(self._q.variants_min_depth, (min_depth,))))

    def variants_min_quality(self, *, min_quality: float) -> list[Variant]:
        return list(starmap(Variant, self._all(self._q.variants_min_quality, (min_quality,))))

    def all_variants(self) -> list[Variant]:
        return list(starmap(Variant, self._all(self._q.all_variants)))

    def patient_by_id(self, *, patient_id: int) -> PatientRecord | None:
        rows = self._all(self._q.patient_by_id, (patient_id,))
        if not rows:
            return None
        first = rows[0]
        if first[4] is None:  # the outer join's row of a patient without diagnoses
            return PatientRecord(Patient(first[0], first[1], first[2], first[3]))
        conv = self._date_out
        if conv is None:
            found = tuple([Diagnosis(r[4], patient_id, r[5], r[6]) for r in rows])
        else:
            found = tuple([Diagnosis(r[4], patient_id, r[5], conv(r[6])) for r in rows])
        return PatientRecord(Patient(first[0], first[1], first[2], first[3]), found)

    def patients_older_than(self, *, age: int) -> list[Patient]:
        return list(starmap(Patient, self._all(self._q.patients_older_than, (age,))))

    def patients_with_diagnosis(self, *, code: str) -> list[Patient]:
        return list(starmap(Patient, self._all(self._q.patients_with_diagnosis, (code,))))

    def diagnosis_counts(self, *, min_age: int | None = None) -> list[CodeCount]:
        if min_age is None:
            return list(starmap(CodeCount, self._all(self._q.diagnosis_counts)))
        return list(starmap(CodeCount, self._all(self._q.diagnosis_counts_older, (min_age,))))

    def lab_history(self, *, patient_id: int, test_name: str, since: dt.date, until: dt.date) -> list[LabResult]:
        conv_in, conv = self._date_in, self._date_out
        if conv_in is not None:
            since, until = conv_in(since), conv_in(until)
        rows = self._all(self._q.lab_history, (patient_id, test_name, since, until))
        if conv is None:
            return list(starmap(LabResult, rows))
        return [LabResult(a, b, c, d, e, conv(f)) for a, b, c, d, e, f in rows]

    def carriers_with_diagnosis(self, *, chromosome: str, start: int, end: int, code: str) -> list[Patient]:
        return list(starmap(Patient, self._all(self._q.carriers_with_diagnosis, (chromosome, start, end, code))))

    def patients_sharing_diagnoses(self, *, patient_id: int) -> list[SharedDiagnoses]:
        return list(starmap(SharedDiagnoses, self._all(self._q.patients_sharing_diagnoses, (patient_id,))))

    def comorbid_codes(self, *, code: str) -> list[CodeCount]:
        return list(starmap(CodeCount, self._all(self._q.comorbid_codes, (code, code))))

    # -- writes: one transaction each

    def add_patient(self, *, patient: PatientRecord) -> None:
        with self._errors(), self._tx():
            self._cur.execute(self._q.insert_patients, _PATIENT_ROW(patient.patient))
            if patient.diagnoses:
                row = self._row("diagnoses")
                self._cur.executemany(self._q.insert_diagnoses, [row(d) for d in patient.diagnoses])

    def add_diagnosis(self, *, diagnosis_id: int, patient_id: int, code: str, diagnosed_on: dt.date) -> None:
        day = diagnosed_on if self._date_in is None else self._date_in(diagnosed_on)
        with self._errors(), self._tx():
            self._cur.execute(self._q.insert_diagnoses, (diagnosis_id, patient_id, code, day))

    def add_variants(self, *, variants: list[Variant]) -> None:
        if not variants:
            return
        with self._errors(), self._tx():
            self._cur.executemany(self._q.insert_variants, [_VARIANT_ROW(v) for v in variants])

    def _row(self, kind: EntityKind) -> Callable[[Any], tuple[Any, ...]]:
        """Entity -> row tuple in column order (dates converted for the engine)."""
        get = attrgetter(*FIELDS[kind])
        conv = self._date_in
        if conv is None or kind not in ("diagnoses", "lab_results"):
            return get

        def row(item: Any) -> tuple[Any, ...]:
            values = get(item)
            return (*values[:-1], conv(values[-1]))

        return row


_PATIENT_ROW = attrgetter(*FIELDS["patients"])
_VARIANT_ROW = attrgetter(*FIELDS["variants"])


class SQLiteBackend(Relational, SQLiteEngine):
    """The relational design on SQLite (DATE columns hold ISO text)."""

    _date_in = staticmethod(dt.date.isoformat)
    _date_out = staticmethod(dt.date.fromisoformat)

    def write_batch(self, kind: EntityKind, rows: list[Any]) -> None:
        row = self._row(kind)
        with self._errors():
            self._admin_dbapi().executemany(getattr(self._q, f"insert_{kind}"), [row(r) for r in rows])


class PostgresBackend(Relational, PostgresEngine):
    """The relational design on PostgreSQL; bulk load with COPY."""

    def write_batch(self, kind: EntityKind, rows: list[Any]) -> None:
        row = self._row(kind)
        table = qualified(self.engine, self.schema, schema.TABLES[kind].name)
        with self._errors(), self._admin_dbapi().cursor() as cur, \
                cur.copy(f"COPY {table} ({', '.join(FIELDS[kind])}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row(row(r))
