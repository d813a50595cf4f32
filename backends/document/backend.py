"""The document model: MongoDB through pymongo, designed as a MongoDB user would (`mongodb`,
the embedded design; `mongodb:referenced` is the other design, referenced.py).

Design (collections, document shapes and indexes in schema.py; the commands in queries.py):

- Diagnoses are EMBEDDED in their patient: `{_id, name, age, sex, diagnoses: [{diagnosis_id,
  code, diagnosed_on}, ...]}`. A patient has a handful of them (at most one per condition),
  they are read with the patient (patient_by_id is one document), and every diagnosis query
  becomes a single-collection query: the lecture's `{diagnoses: {$elemMatch: {code: "I10"}}}`
  on a multikey index, the counts an `$unwind` + `$group` with no join. add_patient is one
  atomic single-document insert, so no multi-document transaction is needed (the emulator has
  none). The lecture's hands-on imported diagnoses as a second collection and joined them with
  `$lookup` in every aggregation (that is `mongodb:referenced`); embedding removes that join.
  Its price: a new diagnosis rewrites its patient's document (`$push`, whose `$sort` keeps the
  array in catalog order), and loading diagnoses is one update per patient instead of plain inserts.
- Lab results are REFERENCED: one document each in their own collection, with `patient_id`.
  They grow without bound over a patient's life (embedded, every patient read would drag the
  history along, towards the 16 MiB document limit), and lab_history (one patient, one test,
  a date range) is a range scan of the index (patient_id, test_name, taken_on, _id) that
  returns them already in answer order. Bucketing them per (patient, test) (the bucket
  pattern; time-series collections on MongoDB 5+) pays when a series has hundreds of points;
  here a series has 1 to 5, so buckets would save little and turn every new result into an
  update of its bucket.
- Variant calls are REFERENCED too: millions of documents queried by region on their own,
  never with their patient. The compound index (chromosome, position, _id) answers the
  chromosome and region queries in their order; depth and quality have an index each.
  carriers_with_diagnosis is the one join: the distinct carriers in the region (`$group`)
  are joined to their patient by `$lookup` on `_id`.

Every query runs on the server: `find` with `$gt`, `$gte`/`$lte` and `$elemMatch` and
projections that return only the answer's fields, and aggregation pipelines (`$match`,
`$project` with set operators, `$unwind`, `$group`, `$sort`, `$lookup`) for the counts and
joins; none is finished in the client (patients_sharing_diagnoses first reads the asked
patient's codes, then ranks the others in one pipeline). Single documents are read with
`find_one`; collection handles are made once.

Loading (the atomic switch, what a killed load leaves, timeouts, errors, explain: store.py):
`insert_many(ordered=False)` per batch into staging collections without secondary indexes,
each built once its kind is complete (one pass over sorted keys beats maintaining them per
insert); diagnoses are one unordered `bulk_write` of `$push` updates per batch, one per
patient. The write concern (w, j) from settings applies to every write.

The local engine is an emulator, mongo-java-server 1.47 (`EngineInfo.differences` lists what
it does not do). No real `mongod` can be installed on the machines this is developed on:
MongoDB's binaries come only from its own download site (no Debian, PyPI, npm or Maven package
carries one), and FerretDB, the open alternative, lacks `$lookup` (1.x) or needs a PostgreSQL
extension that is not packaged (2.x). For real numbers point mmbench at a real MongoDB with
the same code: `docker compose up -d mongodb` (MongoDB 7, the default URL), a replica set
(`MMBENCH_MONGODB_URL='mongodb://h1,h2,h3/?replicaSet=rs0'`, `MMBENCH_MONGODB_WRITE_CONCERN=majority`)
or Atlas (`MMBENCH_MONGODB_URL='mongodb+srv://USER:PASSWORD@CLUSTER.mongodb.net/'`). The
pipelines use constructs both the emulator and MongoDB 5-8 run (`$replaceRoot`, set
operators, `$lookup` with localField/foreignField), and avoid what the emulator runs
pathologically: `$unwind` of a large `$lookup` result, which it copies whole into every
unwound document. `engine_info()` reads `buildInfo`: one without `gitVersion` is the emulator.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from pymongo import UpdateOne

from backends.base import BackendError
from backends.document import queries
from backends.document.queries import Command
from backends.document.schema import (
    COLLECTIONS,
    DOCUMENT_PER_ROW,
    INDEXES,
    LAB_RESULTS,
    PATIENTS,
    VARIANTS,
    diagnosis_item,
    lab_result_doc,
    patient_doc,
    push_diagnoses,
    to_code_count,
    to_patient,
    to_record,
    to_shared,
    variant_doc,
)
from backends.document.store import DRIVER_ERRORS, MongoStore
from models.dataset import EntityKind
from models.entities import (
    CodeCount,
    Diagnosis,
    Patient,
    PatientRecord,
    SharedDiagnoses,
)

_INSERTED: dict[EntityKind, tuple[str, Any]] = {
    # kinds loaded as one document per entity: collection, entity -> document
    "patients": (PATIENTS, patient_doc),
    "lab_results": (LAB_RESULTS, lab_result_doc),
    "variants": (VARIANTS, variant_doc),
}


class MongoBackend(MongoStore):
    name: ClassVar[str] = "mongodb"
    design = "embedded"
    collections = COLLECTIONS
    indexes = INDEXES
    document_per_row = DOCUMENT_PER_ROW
    access = queries.ACCESS

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._variants, self._patients = self.c[VARIANTS], self.c[PATIENTS]

    # -- loading

    def write_batch(self, kind: EntityKind, rows: list[Any]) -> None:
        with self._errors():
            if kind == "diagnoses":
                self._push_diagnoses(rows)
            else:
                collection, to_doc = _INSERTED[kind]
                self.staged(collection).insert_many([to_doc(r) for r in rows], ordered=False)

    def _push_diagnoses(self, rows: list[Diagnosis]) -> None:
        """One `$push` per patient: its diagnoses of this batch, kept in catalog order."""
        by_patient: dict[int, list[dict[str, Any]]] = {}
        for d in rows:
            by_patient.setdefault(d.patient_id, []).append(diagnosis_item(d))
        ops = [UpdateOne({"_id": pid}, push_diagnoses(items)) for pid, items in by_patient.items()]
        patients = self.staged(PATIENTS)
        result = patients.bulk_write(ops, ordered=False)
        if result.acknowledged and result.matched_count < len(ops):
            found = {d["_id"] for d in patients.find({"_id": {"$in": list(by_patient)}}, {"_id": 1})}
            missing = sorted(set(by_patient) - found)
            raise BackendError(f"{self.name}: diagnoses of {len(missing)} unknown patient(s), e.g. {missing[:5]}")

    # -- reads

    def _code_counts(self, command: Command) -> list[CodeCount]:
        return self._aggregate(command, to_code_count)

    def patient_by_id(self, *, patient_id: int) -> PatientRecord | None:
        """One document: the diagnoses are embedded, already in catalog order."""
        try:
            doc = self._patients.find_one({"_id": patient_id})
        except DRIVER_ERRORS as exc:
            raise self._error(exc) from None
        if doc is None:
            self._check_loaded()
            return None
        return to_record(doc)

    def patients_with_diagnosis(self, *, code: str) -> list[Patient]:
        return self._find(queries.patients_with_diagnosis(code=code), to_patient)

    def diagnosis_counts(self, *, min_age: int | None = None) -> list[CodeCount]:
        return self._code_counts(queries.diagnosis_counts(min_age=min_age))

    def carriers_with_diagnosis(self, *, chromosome: str, start: int, end: int, code: str) -> list[Patient]:
        command = queries.carriers_with_diagnosis(chromosome=chromosome, start=start, end=end, code=code)
        return self._aggregate(command, to_patient)

    def patients_sharing_diagnoses(self, *, patient_id: int) -> list[SharedDiagnoses]:
        """The asked patient's codes (one document), then the others ranked in one pipeline."""
        found = self._find_one(self._patients, {"_id": patient_id}, {"_id": 0, "diagnoses.code": 1})
        codes = sorted({d["code"] for d in found["diagnoses"]}) if found else []
        return self._aggregate(queries.patients_sharing_diagnoses(patient_id=patient_id, codes=codes), to_shared)

    def comorbid_codes(self, *, code: str) -> list[CodeCount]:
        return self._code_counts(queries.comorbid_codes(code=code))

    # -- writes

    def add_patient(self, *, patient: PatientRecord) -> None:
        """One document, diagnoses embedded: atomic without a transaction."""
        with self._errors():
            self._patients.insert_one(patient_doc(patient.patient, patient.diagnoses))

    def add_diagnosis(self, *, diagnosis_id: int, patient_id: int, code: str, diagnosed_on: dt.date) -> None:
        item = diagnosis_item(Diagnosis(diagnosis_id, patient_id, code, diagnosed_on))
        with self._errors():
            result = self._patients.update_one({"_id": patient_id}, push_diagnoses([item]))
        if result.acknowledged and result.matched_count == 0:
            raise BackendError(f"{self.name}: no patient {patient_id} to add diagnosis {diagnosis_id} to")

    # -- undoing an explained write (store.py)

    def _undo_patient(self, patient_id: int, diagnosis_ids: list[int]) -> None:
        self._patients.delete_one({"_id": patient_id})

    def _undo_diagnosis(self, patient_id: int, diagnosis_id: int) -> None:
        """$pull the scratch diagnosis: the rest of the array keeps its (sorted) order."""
        self._patients.update_one({"_id": patient_id}, {"$pull": {"diagnoses": {"diagnosis_id": diagnosis_id}}})
