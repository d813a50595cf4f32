"""The raw-driver baseline of the SQL backends for the adapter-overhead benchmark (#17).

What a competent user of each driver writes to ask the same questions: the stdlib `sqlite3`
module and `psycopg` 3, hand-written SQL with bound parameters, autocommit connections,
`conn.execute(...).fetchall()` (the drivers' documented shortcut), rows turned into the same
domain objects. Same settings and namespace as the backends (the data must already be loaded);
psycopg prepares statements after its default threshold, as the backend does by default.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any, Self

from backends.sql.settings import (
    PostgresSettings,
    SQLiteSettings,
    postgres_schema,
    postgres_url,
    read_settings,
    sqlite_database,
)
from models.entities import Diagnosis, LabResult, Patient, PatientRecord, Variant

VARIANT = ("SELECT variant_id, chromosome, position, reference_allele, alternate_allele, genotype, quality, depth, "
           "patient_id FROM variants")
PATIENT = ("SELECT p.patient_id, p.name, p.age, p.sex, d.diagnosis_id, d.code, d.diagnosed_on FROM patients p "
           "LEFT JOIN diagnoses d ON d.patient_id = p.patient_id WHERE p.patient_id = {p} "
           "ORDER BY d.diagnosed_on, d.code, d.diagnosis_id")
LABS = ("SELECT result_id, patient_id, test_name, value, unit, taken_on FROM lab_results WHERE patient_id = {p} "
        "AND test_name = {p} AND taken_on BETWEEN {p} AND {p} ORDER BY taken_on, result_id")


def _queries(p: str) -> dict[str, str]:
    """The statements with the driver's placeholder `p`, built once."""
    return {
        "variant_by_id": VARIANT + f" WHERE variant_id = {p}",
        "patient_by_id": PATIENT.format(p=p),
        "variants_in_region": VARIANT + f" WHERE chromosome = {p} AND position BETWEEN {p} AND {p} "
                                        "ORDER BY position, variant_id",
        "variants_by_chromosome": VARIANT + f" WHERE chromosome = {p} ORDER BY position, variant_id",
        "patients_older_than": f"SELECT patient_id, name, age, sex FROM patients WHERE age > {p}",
        "lab_history": LABS.format(p=p),
    }


QMARK, FORMAT = _queries("?"), _queries("%s")


def _record(rows: list[Any], patient_id: int, day: Any = None) -> PatientRecord | None:
    if not rows:
        return None
    p = rows[0]
    patient = Patient(p[0], p[1], p[2], p[3])
    if p[4] is None:
        return PatientRecord(patient)
    if day is None:
        return PatientRecord(patient, tuple([Diagnosis(r[4], patient_id, r[5], r[6]) for r in rows]))
    return PatientRecord(patient, tuple([Diagnosis(r[4], patient_id, r[5], day(r[6])) for r in rows]))


class RawSQLite:
    name = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    @classmethod
    def from_settings(cls) -> Self:
        path = sqlite_database(read_settings(SQLiteSettings, "sqlite", "MMBENCH_SQLITE_"))
        if path is None:
            raise ValueError("an in-memory SQLite database is private to its backend: point MMBENCH_SQLITE_URL at a file")
        return cls(sqlite3.connect(path, isolation_level=None))

    def variant_by_id(self, variant_id: str) -> Variant | None:
        row = self.conn.execute(QMARK["variant_by_id"], (variant_id,)).fetchone()
        return Variant(*row) if row else None

    def patient_by_id(self, patient_id: int) -> PatientRecord | None:
        rows = self.conn.execute(QMARK["patient_by_id"], (patient_id,)).fetchall()
        return _record(rows, patient_id, dt.date.fromisoformat)

    def variants_in_region(self, chromosome: str, start: int, end: int) -> list[Variant]:
        sql = QMARK["variants_in_region"]
        return [Variant(*r) for r in self.conn.execute(sql, (chromosome, start, end)).fetchall()]

    def variants_by_chromosome(self, chromosome: str) -> list[Variant]:
        sql = QMARK["variants_by_chromosome"]
        return [Variant(*r) for r in self.conn.execute(sql, (chromosome,)).fetchall()]

    def patients_older_than(self, age: int) -> list[Patient]:
        sql = QMARK["patients_older_than"]
        return [Patient(*r) for r in self.conn.execute(sql, (age,)).fetchall()]

    def lab_history(self, patient_id: int, test_name: str, since: dt.date, until: dt.date) -> list[LabResult]:
        params = (patient_id, test_name, since.isoformat(), until.isoformat())
        rows = self.conn.execute(QMARK["lab_history"], params).fetchall()
        return [LabResult(a, b, c, d, e, dt.date.fromisoformat(f)) for a, b, c, d, e, f in rows]

    def close(self) -> None:
        self.conn.close()


class RawPostgres:
    name = "postgres"

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    @classmethod
    def from_settings(cls) -> Self:
        import psycopg

        settings = read_settings(PostgresSettings, "postgres", "MMBENCH_POSTGRES_")
        url = postgres_url(settings)
        schema = postgres_schema()
        conn = psycopg.connect(host=url.host, port=url.port, user=url.username, password=url.password,
                               dbname=url.database, connect_timeout=settings.connect_timeout, autocommit=True,
                               options=f"-c search_path={schema}" if schema else None)
        return cls(conn)

    def variant_by_id(self, variant_id: str) -> Variant | None:
        row = self.conn.execute(FORMAT["variant_by_id"], (variant_id,)).fetchone()
        return Variant(*row) if row else None

    def variant_row(self, variant_id: str) -> tuple[Any, ...] | None:
        """The leanest loop psycopg allows (the saturation benchmark's floor): one cursor reused,
        the row as the driver returns it, no domain object."""
        cur = self.__dict__.get("_cur") or self.__dict__.setdefault("_cur", self.conn.cursor())
        cur.execute(FORMAT["variant_by_id"], (variant_id,))
        return cur.fetchone()

    def patient_by_id(self, patient_id: int) -> PatientRecord | None:
        return _record(self.conn.execute(FORMAT["patient_by_id"], (patient_id,)).fetchall(), patient_id)

    def variants_in_region(self, chromosome: str, start: int, end: int) -> list[Variant]:
        sql = FORMAT["variants_in_region"]
        return [Variant(*r) for r in self.conn.execute(sql, (chromosome, start, end)).fetchall()]

    def variants_by_chromosome(self, chromosome: str) -> list[Variant]:
        sql = FORMAT["variants_by_chromosome"]
        return [Variant(*r) for r in self.conn.execute(sql, (chromosome,)).fetchall()]

    def patients_older_than(self, age: int) -> list[Patient]:
        sql = FORMAT["patients_older_than"]
        return [Patient(*r) for r in self.conn.execute(sql, (age,)).fetchall()]

    def lab_history(self, patient_id: int, test_name: str, since: dt.date, until: dt.date) -> list[LabResult]:
        rows = self.conn.execute(FORMAT["lab_history"], (patient_id, test_name, since, until)).fetchall()
        return [LabResult(*r) for r in rows]

    def close(self) -> None:
        self.conn.close()


RAW = {"sqlite": RawSQLite, "postgres": RawPostgres}
