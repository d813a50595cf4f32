"""The catalog's reads in the embedded design as MongoDB commands: a `find` or a pipeline per query.

Each builder takes the query's keyword parameters and returns a `Find` or an `Aggregate`.
Values go into the command document as BSON, never spliced into text, and literal arrays
inside expressions are wrapped in `$literal`, so a value is never read as a field path. Every
filter, sort, join and group runs on the server: the client only turns the documents it
receives into entities. The variant and lab result commands serve both designs.

`ACCESS` says how a real MongoDB answers each query with the indexes of schema.py (check a
deployment with `mmbench explain`); the emulator uses none of them (store.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

from backends.document.schema import (
    LAB_RESULTS,
    PATIENT_FIELDS,
    PATIENTS,
    VARIANTS,
    midnight,
)
from models.catalog import Q

BY_POSITION = [("position", 1), ("_id", 1)]
BY_DATE = [("taken_on", 1), ("_id", 1)]


class Find(NamedTuple):
    collection: str
    filter: dict[str, Any]
    projection: dict[str, Any] | None = None
    sort: list[tuple[str, int]] | None = None


class Aggregate(NamedTuple):
    collection: str
    pipeline: list[dict[str, Any]]


Command = Find | Aggregate

ACCESS: dict[Q, str] = {
    Q.VARIANT_BY_ID: "the _id index",
    Q.VARIANTS_BY_CHROMOSOME: "a range scan of chromosome_position__id, already in answer order (no sort)",
    Q.VARIANTS_IN_REGION: "a range scan of chromosome_position__id, already in answer order (no sort)",
    Q.VARIANTS_MIN_DEPTH: "a range scan of the depth index",
    Q.VARIANTS_MIN_QUALITY: "a range scan of the quality index",
    Q.ALL_VARIANTS: "a collection scan: it reads everything",
    Q.PATIENT_BY_ID: "the _id index: one document, diagnoses embedded",
    Q.PATIENTS_OLDER_THAN: "a range scan of the age index",
    Q.PATIENTS_WITH_DIAGNOSIS: "the multikey diagnoses_code index",
    Q.DIAGNOSIS_COUNTS: "a collection scan (with min_age: a range scan of the age index)",
    Q.LAB_HISTORY: "patient_id_test_name_taken_on__id: equality, equality, range, in answer order",
    Q.CARRIERS_WITH_DIAGNOSIS: "chromosome_position__id, then the _id index of patients for each distinct carrier",
    Q.PATIENTS_SHARING_DIAGNOSES: "the _id index (the patient's codes), then diagnoses_code ($in)",
    Q.COMORBID_CODES: "the multikey diagnoses_code index",
    Q.ADD_PATIENT: "one document inserted (the _id index and the secondary indexes updated)",
    Q.ADD_DIAGNOSIS: "the _id index, then the patient's document rewritten ($push with $sort)",
    Q.ADD_VARIANTS: "documents inserted (the _id index and the secondary indexes updated)",
}


# -- variants (both designs)

def region(chromosome: str, start: int, end: int) -> dict[str, Any]:
    return {"chromosome": chromosome, "position": {"$gte": start, "$lte": end}}


def variants_by_chromosome(*, chromosome: str) -> Find:
    return Find(VARIANTS, {"chromosome": chromosome}, None, BY_POSITION)


def variants_in_region(*, chromosome: str, start: int, end: int) -> Find:
    return Find(VARIANTS, region(chromosome, start, end), None, BY_POSITION)


def variants_min_depth(*, min_depth: int) -> Find:
    return Find(VARIANTS, {"depth": {"$gt": min_depth}})


def variants_min_quality(*, min_quality: float) -> Find:
    return Find(VARIANTS, {"quality": {"$gt": min_quality}})


def all_variants() -> Find:
    return Find(VARIANTS, {})


def region_carriers(chromosome: str, start: int, end: int) -> list[dict[str, Any]]:
    """The distinct carriers of the variants in a region, as `{_id: patient_id}` documents."""
    return [{"$match": region(chromosome, start, end)}, {"$group": {"_id": "$patient_id"}}]


# -- lab results (both designs)

def lab_history(*, patient_id: int, test_name: str, since: dt.date, until: dt.date) -> Find:
    return Find(LAB_RESULTS, {"patient_id": patient_id, "test_name": test_name,
                              "taken_on": {"$gte": midnight(since), "$lte": midnight(until)}}, None, BY_DATE)


# -- patients and their embedded diagnoses

def patients_older_than(*, age: int) -> Find:
    return Find(PATIENTS, {"age": {"$gt": age}}, PATIENT_FIELDS)


def patients_with_diagnosis(*, code: str) -> Find:
    """The lecture's query: {diagnoses: {$elemMatch: {code: "I10"}}}."""
    return Find(PATIENTS, {"diagnoses": {"$elemMatch": {"code": code}}}, PATIENT_FIELDS)


COUNT_CODES = [
    # from one document per patient holding its distinct `codes`: patients per code, ranked
    {"$unwind": "$codes"},
    {"$group": {"_id": "$codes", "patients": {"$sum": 1}}},
    {"$sort": {"patients": -1, "_id": 1}},
]


def diagnosis_counts(*, min_age: int | None = None) -> Aggregate:
    """Distinct codes per patient ($setUnion drops a code given twice), then count per code."""
    older = [{"$match": {"age": {"$gt": min_age}}}] if min_age is not None else []
    distinct_codes = {"$project": {"_id": 0, "codes": {"$setUnion": ["$diagnoses.code", []]}}}
    return Aggregate(PATIENTS, [*older, distinct_codes, *COUNT_CODES])


def comorbid_codes(*, code: str) -> Aggregate:
    """Patients having `code`; their other distinct codes ($setDifference); count per code."""
    other_codes = {"$project": {"_id": 0, "codes": {"$setDifference": ["$diagnoses.code", {"$literal": [code]}]}}}
    return Aggregate(PATIENTS, [{"$match": {"diagnoses.code": code}}, other_codes, *COUNT_CODES])


def codes_of(*, patient_id: int) -> Find:
    """The asked patient's codes: the first step of patients_sharing_diagnoses."""
    return Find(PATIENTS, {"_id": patient_id}, {"_id": 0, "diagnoses.code": 1})


def patients_sharing_diagnoses(*, patient_id: int, codes: list[str]) -> Aggregate:
    """The other patients having any of `codes` (multikey index, $in), with how many distinct
    codes they share ($setIntersection), ranked.

    Two commands (codes_of, then this) rather than one `$lookup` self-join: MongoDB runs the
    join well ($lookup + $unwind coalesce), but the emulator copies the whole joined array
    into every unwound document, which is quadratic (seconds per call at scale 1).
    """
    return Aggregate(PATIENTS, [
        {"$match": {"diagnoses.code": {"$in": codes}, "_id": {"$ne": patient_id}}},
        {"$project": {"shared": {"$size": {"$setIntersection": ["$diagnoses.code", {"$literal": codes}]}}}},
        {"$sort": {"shared": -1, "_id": 1}},
    ])


def carriers_with_diagnosis(*, chromosome: str, start: int, end: int, code: str) -> Aggregate:
    """Distinct carriers in the region ($group), joined to their patient ($lookup on _id),
    kept if they have the code."""
    return Aggregate(VARIANTS, [
        *region_carriers(chromosome, start, end),
        {"$lookup": {"from": PATIENTS, "localField": "_id", "foreignField": "_id", "as": "patient"}},
        {"$unwind": "$patient"},
        {"$match": {"patient.diagnoses.code": code}},
        {"$replaceRoot": {"newRoot": "$patient"}},
        {"$project": PATIENT_FIELDS},
    ])
