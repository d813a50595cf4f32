"""The referenced design (`mongodb:referenced`): every entity in its own collection.

    patients     {_id: patient_id, name, age, sex}          index: age
    diagnoses    {_id: diagnosis_id, patient_id, code, diagnosed_on}
                                                 indexes: (patient_id, diagnosed_on, code, _id): a
                                                 patient's diagnoses in catalog order, the $lookup
                                                 from patients; (code, patient_id): the patients
                                                 having a code, without reading a document
    lab_results  as in the embedded design (schema.py)
    variants     as in the embedded design (schema.py)

The shape the lecture's hands-on imported into Atlas (a `patients` and a `diagnoses`
collection, joined by `patient_id`). Field names, `_id`s and BSON dates as in schema.py.
What it optimises and what it costs: referenced.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backends.document.schema import (
    LAB_RESULT_INDEXES,
    LAB_RESULTS,
    PATIENTS,
    VARIANT_INDEXES,
    VARIANTS,
    index,
    midnight,
)
from models.dataset import EntityKind
from models.entities import Diagnosis, Patient, PatientRecord

DIAGNOSES = "diagnoses"
COLLECTIONS = (PATIENTS, DIAGNOSES, LAB_RESULTS, VARIANTS)

INDEXES = {
    "patients": (PATIENTS, (index("age"),)),                                     # patients_older_than
    "diagnoses": (DIAGNOSES, (index("patient_id", "diagnosed_on", "code", "_id"),  # a patient's, in order
                              index("code", "patient_id"))),                      # who has a code
    "lab_results": (LAB_RESULTS, LAB_RESULT_INDEXES),
    "variants": (VARIANTS, VARIANT_INDEXES),
}

DOCUMENT_PER_ROW: dict[EntityKind, str] = {"patients": PATIENTS, "diagnoses": DIAGNOSES,
                                           "lab_results": LAB_RESULTS, "variants": VARIANTS}

DIAGNOSIS_ORDER = {"diagnosed_on": 1, "code": 1, "_id": 1}


def patient_doc(p: Patient) -> dict[str, Any]:
    return {"_id": p.patient_id, "name": p.name, "age": p.age, "sex": p.sex}


def diagnosis_doc(d: Diagnosis) -> dict[str, Any]:
    return {"_id": d.diagnosis_id, "patient_id": d.patient_id, "code": d.code, "diagnosed_on": midnight(d.diagnosed_on)}


def to_record(d: Mapping[str, Any]) -> PatientRecord:
    """A patient document with its looked-up `diagnoses` (already in catalog order) -> PatientRecord."""
    pid = d["_id"]
    diagnoses = tuple(Diagnosis(x["_id"], pid, x["code"], x["diagnosed_on"].date()) for x in d["diagnoses"])
    return PatientRecord(Patient(pid, d["name"], d["age"], d["sex"]), diagnoses)
