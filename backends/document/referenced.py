"""The referenced document design, `mongodb:referenced`: patients, diagnoses and lab results in
their own collections, joined with `$lookup` where the embedded design (`mongodb`, backend.py)
reads one document. Collections and indexes: referenced_schema.py; engine, load switch,
errors and explain: store.py (shared with the embedded design; its own database,
`mmbench-referenced`).

What it optimises: every entity is a small document of its own, written with a plain insert.
Loading diagnoses is `insert_many` (the embedded design sends one `$push` update per patient),
a new diagnosis is one small insert that rewrites nothing, and questions about diagnoses alone
(the counts, the patients sharing codes) read the `diagnoses` collection and its indexes
without touching a patient. It is the shape the lecture's hands-on imported into Atlas, and
the one a relational schema maps to one-to-one.

What it costs: reading a patient with its diagnoses is a join, the lecture's pipeline style —
`$lookup` from `patients` into `diagnoses` (by `patient_id`, on an index), `$unwind`, `$sort`
and `$group`, where the embedded design reads one document. Writing a
patient with diagnoses is two inserts, not atomic without a multi-document transaction (the
emulator and a standalone server have none): if the second fails, the first is deleted again.
There are no foreign keys: add_diagnosis first checks that its patient exists (a second round
trip), and a load checks each batch of diagnoses against the staged patients.

The pipelines, and why. The emulator looks up `_id` in an index and walks a collection for
everything else (a `$lookup` on `patient_id` walks `diagnoses` once per document reaching it;
a `$lookup` sub-pipeline evaluates its `$expr` on every foreign document), so where two forms
are equally idiomatic on a real MongoDB the one the emulator runs in linear time is used:
- patient_by_id: `$match` the patient, `$lookup` its diagnoses (localField/foreignField:
  MongoDB uses the index (patient_id, ...)), `$unwind`, `$sort` into catalog order, `$group`
  back into one document — the lecture's `$lookup` / `$unwind` / `$group`. (A `let` +
  `$expr` sub-pipeline with `$sort` reads better and took 500 ms instead of 75 ms per call on
  the emulator at scale 10.)
- patients_with_diagnosis: the distinct patient ids having the code (`diagnoses`, `$group`),
  then `$lookup` into `patients` by `_id`.
- diagnosis_counts: `diagnoses` grouped per patient (`$addToSet`: a code given twice counts
  once), with min_age each patient `$lookup`ed by `_id`, `$unwind` and `$match`ed on age, then
  `$unwind` the codes and `$group` per code: the lecture's Aggregation 2 turned round. (Its
  own direction, the older patients `$lookup`ing their diagnoses by `patient_id`, is the same
  work on a real MongoDB but walks `diagnoses` once per patient on the emulator: 1.1 s instead
  of 0.08 s at scale 1, quadratic in the scale.)
- comorbid_codes, carriers_with_diagnosis: two commands. First the patients concerned
  (`distinct` patient_id of the diagnoses with the code; of the variants in the region), then
  one pipeline over `diagnoses` with `$in` those patients (per patient its other codes, then
  per code; or the carriers having the code, `$lookup`ed into `patients` by `_id`).
  Index-driven on a real MongoDB; on the emulator one walk of `diagnoses` instead of one per
  patient (for comorbid_codes at scale 1, 80 ms instead of 780 ms).
- patients_sharing_diagnoses: the patient's codes (`find` on the patient_id index), then one
  pipeline over `diagnoses`: `$match` `$in` those codes, `$group` per patient with `$addToSet`
  (distinct codes), `$size`, `$sort`.
- variants and lab results: as in the embedded design (queries.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from backends.base import BackendError
from backends.document import queries
from backends.document.queries import Aggregate, Find
from backends.document.referenced_schema import (
    COLLECTIONS,
    DIAGNOSES,
    DIAGNOSIS_ORDER,
    DOCUMENT_PER_ROW,
    INDEXES,
    diagnosis_doc,
    patient_doc,
    to_record,
)
from backends.document.schema import (
    LAB_RESULTS,
    PATIENT_FIELDS,
    PATIENTS,
    VARIANTS,
    lab_result_doc,
    to_code_count,
    to_patient,
    to_shared,
    variant_doc,
)
from backends.document.store import DRIVER_ERRORS, MongoStore
from models.catalog import Q
from models.dataset import EntityKind
from models.entities import (
    CodeCount,
    Diagnosis,
    Patient,
    PatientRecord,
    SharedDiagnoses,
)

# -- the commands of this design (variants and lab results: queries.py)

_CODES_PER_PATIENT = {"$group": {"_id": "$patient_id", "codes": {"$addToSet": "$code"}}}
"""Diagnoses -> one document per patient with its distinct codes (a code given twice counts once)."""

_TO_PATIENTS = [
    # from documents {_id: patient_id}: the patients themselves
    {"$lookup": {"from": PATIENTS, "localField": "_id", "foreignField": "_id", "as": "patient"}},
    {"$unwind": "$patient"},
    {"$replaceRoot": {"newRoot": "$patient"}},
]


def patient_by_id(*, patient_id: int) -> Aggregate:
    """The patient, `$lookup` of its diagnoses, `$unwind`, `$sort` into catalog order, `$group`
    back into one document (`$push` keeps the sorted order; a patient without diagnoses gets [])."""
    return Aggregate(PATIENTS, [
        {"$match": {"_id": patient_id}},
        {"$lookup": {"from": DIAGNOSES, "localField": "_id", "foreignField": "patient_id", "as": "diagnoses"}},
        {"$unwind": {"path": "$diagnoses", "preserveNullAndEmptyArrays": True}},
        {"$sort": {f"diagnoses.{k}": v for k, v in DIAGNOSIS_ORDER.items()}},
        {"$group": {"_id": "$_id", "name": {"$first": "$name"}, "age": {"$first": "$age"}, "sex": {"$first": "$sex"},
                    "diagnoses": {"$push": "$diagnoses"}}},
    ])


def patients_with_diagnosis(*, code: str) -> Aggregate:
    return Aggregate(DIAGNOSES, [{"$match": {"code": code}}, {"$group": {"_id": "$patient_id"}}, *_TO_PATIENTS])


def diagnosis_counts(*, min_age: int | None = None) -> Aggregate:
    """Each patient's distinct codes; with min_age, `$lookup` of the patient by `_id`, `$unwind`,
    `$match` on age; then patients per code."""
    older = [] if min_age is None else [
        {"$lookup": {"from": PATIENTS, "localField": "_id", "foreignField": "_id", "as": "patient"}},
        {"$unwind": "$patient"},
        {"$match": {"patient.age": {"$gt": min_age}}},
    ]
    return Aggregate(DIAGNOSES, [_CODES_PER_PATIENT, *older, *queries.COUNT_CODES])


def comorbid_codes(*, code: str, patient_ids: list[int]) -> Aggregate:
    """The other codes of the patients having `code` (found first: `distinct`), per patient once."""
    return Aggregate(DIAGNOSES, [
        {"$match": {"patient_id": {"$in": patient_ids}, "code": {"$ne": code}}},
        _CODES_PER_PATIENT,
        *queries.COUNT_CODES,
    ])


def codes_of(*, patient_id: int) -> Find:
    return Find(DIAGNOSES, {"patient_id": patient_id}, {"_id": 0, "code": 1})


def patients_sharing_diagnoses(*, patient_id: int, codes: list[str]) -> Aggregate:
    return Aggregate(DIAGNOSES, [
        {"$match": {"code": {"$in": codes}, "patient_id": {"$ne": patient_id}}},
        {"$group": {"_id": "$patient_id", "codes": {"$addToSet": "$code"}}},
        {"$project": {"shared": {"$size": "$codes"}}},
        {"$sort": {"shared": -1, "_id": 1}},
    ])


def carriers_with_diagnosis(*, code: str, carriers: list[int]) -> Aggregate:
    """Of the region's carriers (found first: `distinct`), those having `code`, as patients."""
    return Aggregate(DIAGNOSES, [
        {"$match": {"code": code, "patient_id": {"$in": carriers}}},
        {"$group": {"_id": "$patient_id"}},
        *_TO_PATIENTS,
        {"$project": PATIENT_FIELDS},
    ])


ACCESS: dict[Q, str] = {
    **queries.ACCESS,
    Q.PATIENT_BY_ID: "the _id index of patients, then the diagnoses index (patient_id, ...) for the $lookup",
    Q.PATIENTS_WITH_DIAGNOSIS: "the diagnoses index (code, patient_id) (covered), then the _id index of patients",
    Q.DIAGNOSIS_COUNTS: "a scan of diagnoses (with min_age: and the _id index of patients for each patient's "
                        "$lookup)",
    Q.COMORBID_CODES: "a DISTINCT_SCAN of the diagnoses index (code, patient_id), then (patient_id, ...) for the $in",
    Q.PATIENTS_SHARING_DIAGNOSES: "the diagnoses index (patient_id, ...) (the patient's codes), then (code, "
                                  "patient_id) for the $in",
    Q.CARRIERS_WITH_DIAGNOSIS: "chromosome_position__id (the distinct carriers), then the diagnoses index (code, "
                               "patient_id) for the $in, and the _id index of patients",
    Q.ADD_PATIENT: "two inserts: the patient, then its diagnoses (no transaction: the first is undone if the "
                   "second fails)",
    Q.ADD_DIAGNOSIS: "the _id index (does the patient exist?), then one insert",
}

_INSERTED: dict[EntityKind, tuple[str, Any]] = {
    "patients": (PATIENTS, patient_doc),
    "diagnoses": (DIAGNOSES, diagnosis_doc),
    "lab_results": (LAB_RESULTS, lab_result_doc),
    "variants": (VARIANTS, variant_doc),
}


class ReferencedMongoBackend(MongoStore):
    name: ClassVar[str] = "mongodb:referenced"
    design = "referenced"
    database_suffix = "-referenced"
    collections = COLLECTIONS
    indexes = INDEXES
    document_per_row = DOCUMENT_PER_ROW
    access = ACCESS

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._variants, self._patients, self._diagnoses = self.c[VARIANTS], self.c[PATIENTS], self.c[DIAGNOSES]

    # -- loading

    def write_batch(self, kind: EntityKind, rows: list[Any]) -> None:
        collection, to_doc = _INSERTED[kind]
        with self._errors():
            if kind == "diagnoses":
                self._check_patients(rows)
            self.staged(collection).insert_many([to_doc(r) for r in rows], ordered=False)

    def _check_patients(self, rows: list[Diagnosis]) -> None:
        """No foreign keys: the batch's patients must be among the staged ones."""
        ids = list({d.patient_id for d in rows})
        found = {d["_id"] for d in self.staged(PATIENTS).find({"_id": {"$in": ids}}, {"_id": 1})}
        missing = sorted(set(ids) - found)
        if missing:
            raise BackendError(f"{self.name}: diagnoses of {len(missing)} unknown patient(s), e.g. {missing[:5]}")

    # -- reads

    def _code_counts(self, command: Aggregate) -> list[CodeCount]:
        return self._aggregate(command, to_code_count)

    def patient_by_id(self, *, patient_id: int) -> PatientRecord | None:
        docs = self._aggregate(patient_by_id(patient_id=patient_id))
        return to_record(docs[0]) if docs else None

    def patients_with_diagnosis(self, *, code: str) -> list[Patient]:
        return self._aggregate(patients_with_diagnosis(code=code), to_patient)

    def diagnosis_counts(self, *, min_age: int | None = None) -> list[CodeCount]:
        return self._code_counts(diagnosis_counts(min_age=min_age))

    def carriers_with_diagnosis(self, *, chromosome: str, start: int, end: int, code: str) -> list[Patient]:
        carriers = self._distinct(VARIANTS, "patient_id", queries.region(chromosome, start, end))
        return self._aggregate(carriers_with_diagnosis(code=code, carriers=carriers), to_patient)

    def patients_sharing_diagnoses(self, *, patient_id: int) -> list[SharedDiagnoses]:
        codes = sorted({d["code"] for d in self._find(codes_of(patient_id=patient_id))})
        if not codes:
            return []
        return self._aggregate(patients_sharing_diagnoses(patient_id=patient_id, codes=codes), to_shared)

    def comorbid_codes(self, *, code: str) -> list[CodeCount]:
        having = self._distinct(DIAGNOSES, "patient_id", {"code": code})
        return self._code_counts(comorbid_codes(code=code, patient_ids=having))

    def _distinct(self, collection: str, key: str, filter: dict[str, Any]) -> list[Any]:
        """The distinct values of `key` (no null: a variant without a patient carries nobody)."""
        try:
            values = self.c[collection].distinct(key, filter)
        except DRIVER_ERRORS as exc:
            raise self._error(exc) from None
        if not values and not self._schema_seen:
            self._check_loaded()
        return [v for v in values if v is not None]

    # -- writes

    def add_patient(self, *, patient: PatientRecord) -> None:
        """Two inserts; without a transaction, the patient is deleted again if its diagnoses fail."""
        pid = patient.patient.patient_id
        with self._errors():
            self._patients.insert_one(patient_doc(patient.patient))
        if not patient.diagnoses:
            return
        try:
            self._diagnoses.insert_many([diagnosis_doc(d) for d in patient.diagnoses], ordered=True)
        except DRIVER_ERRORS as exc:
            error = self._error(exc)
            try:
                self._undo_patient(pid, [d.diagnosis_id for d in patient.diagnoses if d.patient_id == pid])
            except DRIVER_ERRORS as cleanup:
                error.add_note(f"and deleting patient {pid} again failed too: {self._line(cleanup)}")
            raise error from None

    def add_diagnosis(self, *, diagnosis_id: int, patient_id: int, code: str, diagnosed_on: dt.date) -> None:
        with self._errors():
            if self._patients.find_one({"_id": patient_id}, {"_id": 1}) is None:
                raise BackendError(f"{self.name}: no patient {patient_id} to add diagnosis {diagnosis_id} to")
            self._diagnoses.insert_one(diagnosis_doc(Diagnosis(diagnosis_id, patient_id, code, diagnosed_on)))

    # -- undoing an explained write (store.py)

    def _undo_patient(self, patient_id: int, diagnosis_ids: list[int]) -> None:
        self._patients.delete_one({"_id": patient_id})
        if diagnosis_ids:
            self._diagnoses.delete_many({"_id": {"$in": diagnosis_ids}, "patient_id": patient_id})

    def _undo_diagnosis(self, patient_id: int, diagnosis_id: int) -> None:
        self._diagnoses.delete_one({"_id": diagnosis_id, "patient_id": patient_id})
