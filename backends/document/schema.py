"""The embedded design (`mongodb`): collections, the shape of their documents, one index per access path.

    patients     {_id: patient_id, name, age, sex,
                  diagnoses: [{diagnosis_id, code, diagnosed_on}, ...]}   kept in catalog order
                                                 indexes: age; diagnoses.code (multikey)
    lab_results  {_id: result_id, patient_id, test_name, value, unit, taken_on}
                                                 index: (patient_id, test_name, taken_on, _id)
    variants     {_id: variant_id, chromosome, position, reference_allele, alternate_allele,
                  genotype, quality, depth, patient_id}
                                                 indexes: (chromosome, position, _id); depth; quality

Field names are the entities' field names, and each entity's id is the document's `_id`
(the primary key MongoDB indexes anyway), so documents map to entities without renaming.
Dates are BSON dates at UTC midnight (BSON has no date-only type): written as naive
`datetime`s, read back with pymongo's default codec options (no type registry, which would
cost a Python call per decoded value) and turned into `date`s by the converters below, so a
date round-trips exactly and date ranges are native comparisons. Strings compare with the
simple (binary) collation, which orders by code point as the reference does. The variants
and lab results collections are the same in both designs (referenced_schema.py reuses them).
Why this shape: the docstring of backend.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from operator import attrgetter, itemgetter
from typing import Any

from pymongo import ASCENDING, IndexModel

from models.dataset import FIELDS, EntityKind
from models.entities import (
    CodeCount,
    Diagnosis,
    LabResult,
    Patient,
    PatientRecord,
    SharedDiagnoses,
    Variant,
    diagnosis_order,
)

PATIENTS, LAB_RESULTS, VARIANTS = "patients", "lab_results", "variants"
COLLECTIONS = (PATIENTS, LAB_RESULTS, VARIANTS)

DIAGNOSIS_ORDER = {"diagnosed_on": ASCENDING, "code": ASCENDING, "diagnosis_id": ASCENDING}
"""The order of a patient's embedded diagnoses (`$push` keeps it with its `$sort` modifier)."""

PATIENT_FIELDS = {"name": 1, "age": 1, "sex": 1}
"""The projection of a Patient: the embedded diagnoses stay on the server."""


def index(*keys: str) -> IndexModel:
    return IndexModel([(k, ASCENDING) for k in keys], name="_".join(keys).replace(".", "_"))


LAB_RESULT_INDEXES = (index("patient_id", "test_name", "taken_on", "_id"),)   # lab_history
VARIANT_INDEXES = (index("chromosome", "position", "_id"),  # by chromosome, region: sorted by the index
                   index("depth"), index("quality"))

INDEXES: dict[EntityKind, tuple[str, tuple[IndexModel, ...]]] = {
    # kind loaded -> (collection, the indexes complete once that kind is in)
    "patients": (PATIENTS, (index("age"),)),                        # patients_older_than, diagnosis_counts(min_age)
    "diagnoses": (PATIENTS, (index("diagnoses.code"),)),            # $elemMatch / $in on codes
    "lab_results": (LAB_RESULTS, LAB_RESULT_INDEXES),
    "variants": (VARIANTS, VARIANT_INDEXES),
}

DOCUMENT_PER_ROW: dict[EntityKind, str] = {"patients": PATIENTS, "lab_results": LAB_RESULTS, "variants": VARIANTS}
"""Kinds stored one document per entity (a load's counts are checked against them)."""


def midnight(day: dt.date) -> dt.datetime:
    """A date as the BSON date stored for it (UTC midnight, naive as pymongo reads it back)."""
    return dt.datetime(day.year, day.month, day.day)


# -- entities <-> documents

_VARIANT_FIELDS = FIELDS["variants"][1:]
_variant_values = attrgetter(*FIELDS["variants"])
_variant_keys = ("_id", *_VARIANT_FIELDS)
_variant_items = itemgetter(*_variant_keys)


def variant_doc(v: Variant) -> dict[str, Any]:
    return dict(zip(_variant_keys, _variant_values(v)))


def to_variant(doc: Mapping[str, Any]) -> Variant:
    return Variant(*_variant_items(doc))


def lab_result_doc(r: LabResult) -> dict[str, Any]:
    return {"_id": r.result_id, "patient_id": r.patient_id, "test_name": r.test_name, "value": r.value,
            "unit": r.unit, "taken_on": midnight(r.taken_on)}


def to_lab_result(d: Mapping[str, Any]) -> LabResult:
    return LabResult(d["_id"], d["patient_id"], d["test_name"], d["value"], d["unit"], d["taken_on"].date())


def to_patient(d: Mapping[str, Any]) -> Patient:
    return Patient(d["_id"], d["name"], d["age"], d["sex"])


def to_code_count(d: Mapping[str, Any]) -> CodeCount:
    """{_id: code, patients} (a counting pipeline's output) -> CodeCount."""
    return CodeCount(d["_id"], d["patients"])


def to_shared(d: Mapping[str, Any]) -> SharedDiagnoses:
    """{_id: patient_id, shared} -> SharedDiagnoses."""
    return SharedDiagnoses(d["_id"], d["shared"])


def diagnosis_item(d: Diagnosis) -> dict[str, Any]:
    """A diagnosis as embedded in its patient (the patient_id is the parent's _id)."""
    return {"diagnosis_id": d.diagnosis_id, "code": d.code, "diagnosed_on": midnight(d.diagnosed_on)}


def patient_doc(patient: Patient, diagnoses: tuple[Diagnosis, ...] = ()) -> dict[str, Any]:
    return {"_id": patient.patient_id, "name": patient.name, "age": patient.age, "sex": patient.sex,
            "diagnoses": [diagnosis_item(d) for d in sorted(diagnoses, key=diagnosis_order)]}


def to_record(d: Mapping[str, Any]) -> PatientRecord:
    """A patient document with its embedded diagnoses -> PatientRecord."""
    pid = d["_id"]
    diagnoses = tuple(Diagnosis(x["diagnosis_id"], pid, x["code"], x["diagnosed_on"].date()) for x in d["diagnoses"])
    return PatientRecord(Patient(pid, d["name"], d["age"], d["sex"]), diagnoses)


def push_diagnoses(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The update that appends embedded diagnoses and keeps the array in catalog order."""
    return {"$push": {"diagnoses": {"$each": items, "$sort": DIAGNOSIS_ORDER}}}
