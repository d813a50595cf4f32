"""`postgres:jsonb`: each patient one JSONB document with its diagnoses embedded; variants and lab
results documents of their own (`jsonb_schema.py` says why and what it costs).

Same engine, settings, namespaces, connections, errors and explain as `postgres` (`engine.py`);
its tables are `jsonb_*` in the same schema, so the two designs load and hold data
independently. Every query is answered natively: containment on the GIN index for "has code X",
expression indexes for the key, age, region, depth, quality and lab history, and unnesting
(`jsonb_array_elements`) for the code aggregations.

Load = atomic replace in one transaction, as for every SQL design: drop and create the
`jsonb_*` tables, COPY each kind into a typed TEMP staging table (types, NOT NULL and duplicate
keys checked as the rows arrive), build the documents with one INSERT ... SELECT per table
(patients with their diagnoses aggregated in order), build the indexes, write the holdings row,
ANALYZE, commit. The staging tables drop with the transaction; a process killed mid-load
leaves the previous documents and nothing else.
"""

from __future__ import annotations

import datetime as dt
import json
from itertools import starmap
from operator import attrgetter
from typing import Any, ClassVar

from sqlalchemy import Table
from sqlalchemy.engine import Connection

from backends.base import BackendError
from backends.sql import jsonb_schema as js
from backends.sql.engine import PostgresEngine, qualified
from backends.sql.statements import Stmt, compile_stmt, holdings_spec
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

C = js.C
PATIENT_FIELDS = "(doc->>'patient_id')::bigint, doc->>'name', (doc->>'age')::int, doc->>'sex'"
VARIANT_ORDER = f"ORDER BY (doc->>'position')::bigint, (doc->>'variant_id') {C}"
CODES = "jsonb_array_elements(p.doc->'diagnoses') d"
PATIENT_CODES = "LATERAL (SELECT DISTINCT e->>'code' AS code FROM jsonb_array_elements(p.doc->'diagnoses') e) d"
"""Each patient's distinct codes: counting patients per code is then count(*), no count(DISTINCT)."""
RANK_CODES = f"GROUP BY d.code ORDER BY 2 DESC, d.code {C}"

# name: (SQL with {p} {l} {v} for the tables and %s placeholders, parameter names in order)
SQL: dict[str, tuple[str, tuple[str, ...]]] = {
    "variant_by_id": ("SELECT doc FROM {v} WHERE doc->>'variant_id' = %s", ("variant_id",)),
    "variants_by_chromosome": (f"SELECT doc FROM {{v}} WHERE doc->>'chromosome' = %s {VARIANT_ORDER}", ("chromosome",)),
    "variants_in_region": (
        "SELECT doc FROM {v} WHERE doc->>'chromosome' = %s AND (doc->>'position')::bigint BETWEEN %s AND %s "
        + VARIANT_ORDER, ("chromosome", "start", "end")),
    "variants_min_depth": ("SELECT doc FROM {v} WHERE (doc->>'depth')::int > %s", ("min_depth",)),
    "variants_min_quality": ("SELECT doc FROM {v} WHERE (doc->>'quality')::float8 > %s", ("min_quality",)),
    "all_variants": ("SELECT doc FROM {v}", ()),
    "patient_by_id": ("SELECT doc FROM {p} WHERE (doc->>'patient_id')::bigint = %s", ("patient_id",)),
    "patients_older_than": (f"SELECT {PATIENT_FIELDS} FROM {{p}} WHERE (doc->>'age')::int > %s", ("age",)),
    "patients_with_diagnosis": (f"SELECT {PATIENT_FIELDS} FROM {{p}} WHERE doc->'diagnoses' @> %s::jsonb",
                                ("has_code",)),
    "diagnosis_counts": (f"SELECT d.code, count(*) FROM {{p}} p, {PATIENT_CODES} {RANK_CODES}", ()),
    "diagnosis_counts_older": (
        f"SELECT d.code, count(*) FROM {{p}} p, {PATIENT_CODES} WHERE (p.doc->>'age')::int > %s {RANK_CODES}",
        ("min_age",)),
    "lab_history": (
        ("SELECT doc FROM {l} WHERE (doc->>'patient_id')::bigint = %s AND doc->>'test_name' = %s "
        f"AND (doc->>'taken_on') {C} BETWEEN %s AND %s ORDER BY (doc->>'taken_on') {C}, (doc->>'result_id')::bigint"),
        ("patient_id", "test_name", "since", "until")),
    "carriers_with_diagnosis": (
        (f"SELECT {PATIENT_FIELDS} FROM {{p}} WHERE doc->'diagnoses' @> %s::jsonb AND (doc->>'patient_id')::bigint IN "
        "(SELECT (v.doc->>'patient_id')::bigint FROM {v} v WHERE v.doc->>'chromosome' = %s "
        "AND (v.doc->>'position')::bigint BETWEEN %s AND %s)"),
        ("has_code", "chromosome", "start", "end")),
    "patients_sharing_diagnoses": (
        ("SELECT (o.doc->>'patient_id')::bigint, count(*) "
        f"FROM (SELECT DISTINCT d->>'code' AS code FROM {{p}} p, {CODES} WHERE (p.doc->>'patient_id')::bigint = %s) m "
        "JOIN {p} o ON o.doc->'diagnoses' @> jsonb_build_array(jsonb_build_object('code', m.code)) "
        "WHERE (o.doc->>'patient_id')::bigint <> %s GROUP BY 1 ORDER BY 2 DESC, 1"),
        ("patient_id", "other_than")),
    "comorbid_codes": (
        (f"SELECT d.code, count(*) FROM {{p}} p, {PATIENT_CODES} "
         f"WHERE p.doc->'diagnoses' @> %s::jsonb AND d.code <> %s {RANK_CODES}"),
        ("has_code", "code")),
    "insert_patients": ("INSERT INTO {p} (doc) VALUES (%s::jsonb)", ("doc",)),
    "insert_variants": ("INSERT INTO {v} (doc) VALUES (%s::jsonb)", ("doc",)),
    "add_diagnosis": (
        ("UPDATE {p} SET doc = jsonb_set(doc, '{{diagnoses}}', (SELECT jsonb_agg(e ORDER BY "
        f"(e->>'diagnosed_on') {C}, (e->>'code') {C}, (e->>'diagnosis_id')::bigint) "
        "FROM jsonb_array_elements((doc->'diagnoses') || %s::jsonb) e)) "
        "WHERE (doc->>'patient_id')::bigint = %s RETURNING 1"),
        ("diagnosis", "patient_id")),
}


def _diagnosis_doc(d: Diagnosis) -> dict[str, Any]:
    return {"diagnosis_id": d.diagnosis_id, "code": d.code, "diagnosed_on": d.diagnosed_on.isoformat()}


def _has_code(code: str) -> str:
    """The containment document of "has code X" (a bound parameter, never spliced)."""
    return json.dumps([{"code": code}])


def _variant(d: dict[str, Any]) -> Variant:
    return Variant(d["variant_id"], d["chromosome"], d["position"], d["reference_allele"], d["alternate_allele"],
                   d["genotype"], float(d["quality"]), d["depth"], d["patient_id"])


_VARIANT_DOC = attrgetter(*FIELDS["variants"])
_DAY = dt.date.fromisoformat


class PostgresJsonbBackend(PostgresEngine):
    """The document design on PostgreSQL (see the module docstring)."""

    name: ClassVar[str] = "postgres:jsonb"
    METADATA = js.metadata
    KIND_TABLES = js.TABLES
    SPEC = holdings_spec(js.holdings)

    def _compile(self) -> dict[str, Stmt]:
        tables = {k: qualified(self.engine, self.schema, t.name) for k, t in
                  (("p", js.patients), ("l", js.lab_results), ("v", js.variants))}
        out = {name: compile_stmt(c, names, self.engine.dialect, self.schema) for name, (c, names) in self.SPEC.items()}
        out.update({name: Stmt(sql.format(**tables), names) for name, (sql, names) in SQL.items()})
        return out

    # -- loading: typed staging tables, then one INSERT ... SELECT per document table

    def _staging(self, admin: Connection) -> None:
        for kind, columns in js.STAGING.items():
            admin.exec_driver_sql(f"CREATE TEMP TABLE jsonb_stage_{kind} ({columns}) ON COMMIT DROP")

    def write_batch(self, kind: EntityKind, rows: list[Any]) -> None:
        get = attrgetter(*FIELDS[kind])
        with self._errors(), self._admin_dbapi().cursor() as cur, \
                cur.copy(f"COPY jsonb_stage_{kind} ({', '.join(FIELDS[kind])}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row(get(r))

    def finish_kind(self, kind: EntityKind) -> None:
        if kind == "patients":
            return  # their documents are built with their diagnoses
        table = js.TABLES[kind]
        with self._errors():
            admin = self._admin_connection()
            if kind == "diagnoses":
                orphans = admin.exec_driver_sql(
                    "SELECT min(d.patient_id) FROM jsonb_stage_diagnoses d "
                    "WHERE NOT EXISTS (SELECT 1 FROM jsonb_stage_patients p WHERE p.patient_id = d.patient_id)").scalar()
                if orphans is not None:
                    raise BackendError(f"{self.name}: a diagnosis of patient {orphans}, who is not in the data set")
            admin.exec_driver_sql(_BUILD[kind].format(t=qualified(self.engine, self.schema, table.name)))
            self._create_indexes(admin, table)

    def _create_indexes(self, admin: Connection, table: Table) -> None:
        for ddl in js.INDEXES[table.name]:
            admin.exec_driver_sql(ddl.format(t=qualified(self.engine, self.schema, table.name)))

    # -- reads

    def variant_by_id(self, *, variant_id: str) -> Variant | None:
        rows = self._all(self._q.variant_by_id, (variant_id,))
        return _variant(rows[0][0]) if rows else None

    def _variants(self, sql: str, params: tuple[Any, ...] = ()) -> list[Variant]:
        return [_variant(r[0]) for r in self._all(sql, params)]

    def variants_by_chromosome(self, *, chromosome: str) -> list[Variant]:
        return self._variants(self._q.variants_by_chromosome, (chromosome,))

    def variants_in_region(self, *, chromosome: str, start: int, end: int) -> list[Variant]:
        return self._variants(self._q.variants_in_region, (chromosome, start, end))

    def variants_min_depth(self, *, min_depth: int) -> list[Variant]:
        return self._variants(self._q.variants_min_depth, (min_depth,))

    def variants_min_quality(self, *, min_quality: float) -> list[Variant]:
        return self._variants(self._q.variants_min_quality, (min_quality,))

    def all_variants(self) -> list[Variant]:
        return self._variants(self._q.all_variants)

    def patient_by_id(self, *, patient_id: int) -> PatientRecord | None:
        rows = self._all(self._q.patient_by_id, (patient_id,))
        if not rows:
            return None
        d = rows[0][0]
        return PatientRecord(Patient(d["patient_id"], d["name"], d["age"], d["sex"]), tuple([
            Diagnosis(e["diagnosis_id"], patient_id, e["code"], _DAY(e["diagnosed_on"])) for e in d["diagnoses"]]))

    def patients_older_than(self, *, age: int) -> list[Patient]:
        return list(starmap(Patient, self._all(self._q.patients_older_than, (age,))))

    def patients_with_diagnosis(self, *, code: str) -> list[Patient]:
        return list(starmap(Patient, self._all(self._q.patients_with_diagnosis, (_has_code(code),))))

    def diagnosis_counts(self, *, min_age: int | None = None) -> list[CodeCount]:
        if min_age is None:
            return list(starmap(CodeCount, self._all(self._q.diagnosis_counts)))
        return list(starmap(CodeCount, self._all(self._q.diagnosis_counts_older, (min_age,))))

    def lab_history(self, *, patient_id: int, test_name: str, since: dt.date, until: dt.date) -> list[LabResult]:
        rows = self._all(self._q.lab_history, (patient_id, test_name, since.isoformat(), until.isoformat()))
        return [LabResult(d["result_id"], d["patient_id"], d["test_name"], float(d["value"]), d["unit"],
                          _DAY(d["taken_on"])) for (d,) in rows]

    def carriers_with_diagnosis(self, *, chromosome: str, start: int, end: int, code: str) -> list[Patient]:
        params = (_has_code(code), chromosome, start, end)
        return list(starmap(Patient, self._all(self._q.carriers_with_diagnosis, params)))

    def patients_sharing_diagnoses(self, *, patient_id: int) -> list[SharedDiagnoses]:
        return list(starmap(SharedDiagnoses, self._all(self._q.patients_sharing_diagnoses, (patient_id, patient_id))))

    def comorbid_codes(self, *, code: str) -> list[CodeCount]:
        return list(starmap(CodeCount, self._all(self._q.comorbid_codes, (_has_code(code), code))))

    # -- writes

    def add_patient(self, *, patient: PatientRecord) -> None:
        p = patient.patient
        ordered = sorted(patient.diagnoses, key=lambda d: (d.diagnosed_on, d.code, d.diagnosis_id))
        doc = {"patient_id": p.patient_id, "name": p.name, "age": p.age, "sex": p.sex,
               "diagnoses": [_diagnosis_doc(d) for d in ordered]}
        with self._errors(), self._tx():
            self._cur.execute(self._q.insert_patients, (json.dumps(doc),))

    def add_diagnosis(self, *, diagnosis_id: int, patient_id: int, code: str, diagnosed_on: dt.date) -> None:
        entry = json.dumps([{"diagnosis_id": diagnosis_id, "code": code, "diagnosed_on": diagnosed_on.isoformat()}])
        with self._errors(), self._tx():
            if not self._cur.execute(self._q.add_diagnosis, (entry, patient_id)).fetchall():
                raise BackendError(f"{self.name}: no patient {patient_id} to add diagnosis {diagnosis_id} to")

    def add_variants(self, *, variants: list[Variant]) -> None:
        if not variants:
            return
        names = FIELDS["variants"]
        docs = [(json.dumps(dict(zip(names, _VARIANT_DOC(v), strict=True))),) for v in variants]
        with self._errors(), self._tx():
            self._cur.executemany(self._q.insert_variants, docs)


_BUILD = {
    "diagnoses": (
        "INSERT INTO {t} (doc) SELECT jsonb_build_object('patient_id', p.patient_id, 'name', p.name, 'age', p.age, "
        "'sex', p.sex, 'diagnoses', COALESCE(d.list, '[]'::jsonb)) FROM jsonb_stage_patients p LEFT JOIN "
        "(SELECT patient_id, jsonb_agg(jsonb_build_object('diagnosis_id', diagnosis_id, 'code', code, "
        "'diagnosed_on', to_char(diagnosed_on, 'YYYY-MM-DD')) "
        f"ORDER BY diagnosed_on, code {C}, diagnosis_id) AS list FROM jsonb_stage_diagnoses GROUP BY patient_id) d "
        "USING (patient_id)"),
    "lab_results": (
        "INSERT INTO {t} (doc) SELECT jsonb_build_object('result_id', result_id, 'patient_id', patient_id, "
        "'test_name', test_name, 'value', value, 'unit', unit, 'taken_on', to_char(taken_on, 'YYYY-MM-DD')) "
        "FROM jsonb_stage_lab_results"),
    "variants": (
        "INSERT INTO {t} (doc) SELECT jsonb_build_object('variant_id', variant_id, 'chromosome', chromosome, "
        "'position', position, 'reference_allele', reference_allele, 'alternate_allele', alternate_allele, "
        "'genotype', genotype, 'quality', quality, 'depth', depth, 'patient_id', patient_id) "
        "FROM jsonb_stage_variants"),
}
