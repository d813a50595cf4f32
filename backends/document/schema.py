"""The collections, the shape of their documents, and one index per access path.

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
Dates are BSON dates (UTC midnight) through `CODEC_OPTIONS`, so date ranges are native
comparisons and `datetime.date` goes in and comes out. Strings compare with the simple
(binary) collation, which orders by code point as the reference does. Why this shape: the
docstring of backend.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from operator import attrgetter
from typing import Any

from bson.codec_options import CodecOptions, TypeCodec, TypeRegistry
from pymongo import ASCENDING, IndexModel

from models.dataset import EntityKind
from models.entities import Diagnosis, LabResult, Patient, PatientRecord, Variant, diagnosis_order

PATIENTS, LAB_RESULTS, VARIANTS = "patients", "lab_results", "variants"
COLLECTIONS = (PATIENTS, LAB_RESULTS, VARIANTS)

DIAGNOSIS_ORDER = {"diagnosed_on": ASCENDING, "code": ASCENDING, "diagnosis_id": ASCENDING}
"""The order of a patient's embedded diagnoses (`$push` keeps it with its `$sort` modifier)."""

PATIENT_FIELDS = {"name": 1, "age": 1, "sex": 1}
"""The projection of a Patient: the embedded diagnoses stay on the server."""


def _index(*keys: str) -> IndexModel:
    return IndexModel([(k, ASCENDING) for k in keys], name="_".join(keys).replace(".", "_"))


INDEXES: dict[EntityKind, tuple[str, tuple[IndexModel, ...]]] = {
    # kind loaded -> (collection, the indexes complete once that kind is in)
    "patients": (PATIENTS, (_index("age"),)),                       # patients_older_than, diagnosis_counts(min_age)
    "diagnoses": (PATIENTS, (_index("diagnoses.code"),)),           # $elemMatch / $in on codes
    "lab_results": (LAB_RESULTS, (_index("patient_id", "test_name", "taken_on", "_id"),)),  # lab_history
    "variants": (VARIANTS, (_index("chromosome", "position", "_id"),  # by chromosome, region: sorted by the index
                            _index("depth"), _index("quality"))),
}


class _DateCodec(TypeCodec):
    """`datetime.date` <-> BSON date at UTC midnight (BSON has no date-only type)."""

    python_type = dt.date
    bson_type = dt.datetime

    def transform_python(self, value: dt.date) -> dt.datetime:
        return dt.datetime(value.year, value.month, value.day)

    def transform_bson(self, value: dt.datetime) -> dt.date:
        return value.date()


CODEC_OPTIONS: CodecOptions = CodecOptions(type_registry=TypeRegistry([_DateCodec()]))


# -- entities <-> documents

def _to_doc(id_field: str, fields: tuple[str, ...]) -> Callable[[Any], dict[str, Any]]:
    """entity -> {_id: its id, other fields...}"""
    get = attrgetter(id_field, *fields)
    keys = ("_id", *fields)
    return lambda item: dict(zip(keys, get(item)))


def _from_doc(cls: type, id_field: str) -> Callable[[dict[str, Any]], Any]:
    """{_id, fields...} -> entity (the document is consumed)."""

    def build(doc: dict[str, Any]) -> Any:
        doc[id_field] = doc.pop("_id")
        return cls(**doc)

    return build


variant_doc = _to_doc("variant_id", tuple(Variant.__dataclass_fields__)[1:])
lab_result_doc = _to_doc("result_id", tuple(LabResult.__dataclass_fields__)[1:])
_patient_doc = _to_doc("patient_id", ("name", "age", "sex"))
to_variant: Callable[[dict[str, Any]], Variant] = _from_doc(Variant, "variant_id")
to_lab_result: Callable[[dict[str, Any]], LabResult] = _from_doc(LabResult, "result_id")
to_patient: Callable[[dict[str, Any]], Patient] = _from_doc(Patient, "patient_id")


def diagnosis_item(d: Diagnosis) -> dict[str, Any]:
    """A diagnosis as embedded in its patient (the patient_id is the parent's _id)."""
    return {"diagnosis_id": d.diagnosis_id, "code": d.code, "diagnosed_on": d.diagnosed_on}


def patient_doc(patient: Patient, diagnoses: tuple[Diagnosis, ...] = ()) -> dict[str, Any]:
    doc = _patient_doc(patient)
    doc["diagnoses"] = [diagnosis_item(d) for d in sorted(diagnoses, key=diagnosis_order)]
    return doc


def to_record(doc: Mapping[str, Any]) -> PatientRecord:
    """A patient document with its embedded diagnoses -> PatientRecord."""
    pid = doc["_id"]
    diagnoses = tuple(Diagnosis(patient_id=pid, **item) for item in doc["diagnoses"])
    return PatientRecord(Patient(pid, doc["name"], doc["age"], doc["sex"]), diagnoses)


def push_diagnoses(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The update that appends embedded diagnoses and keeps the array in catalog order."""
    return {"$push": {"diagnoses": {"$each": items, "$sort": DIAGNOSIS_ORDER}}}
