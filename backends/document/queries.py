"""The catalog's reads as MongoDB commands: a `find` or an aggregation pipeline per query.

Each builder takes the query's keyword parameters and returns a `Find` or an `Aggregate`.
Values go into the command document as BSON, never spliced into text, and literal arrays
inside expressions are wrapped in `$literal`, so a value is never read as a field path. The
backend runs the commands; `MongoBackend.explain()` asks a server for their plans. Every
filter, sort, join and group runs on the server: the client only turns the documents it
receives into entities.

Index use as designed for real MongoDB (indexes in schema.py; the emulator has no explain
and builds no secondary indexes, so check a deployment with `MongoBackend.explain`):
  variant_by_id, patient_by_id                 _id
  variants_by_chromosome, variants_in_region   chromosome_position__id: range scan, already in
                                               answer order (no in-memory sort)
  variants_min_depth / _min_quality            depth / quality
  patients_older_than, diagnosis_counts(min_age) age
  patients_with_diagnosis, comorbid_codes      diagnoses_code (multikey)
  lab_history                                  patient_id_test_name_taken_on__id: equality,
                                               equality, range, in answer order
  carriers_with_diagnosis                      chromosome_position__id, then _id of patients
                                               for the $lookup of each distinct carrier
  patients_sharing_diagnoses                   _id (its codes), then diagnoses_code ($in)
  all_variants, diagnosis_counts()             a collection scan: they read everything
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pymongo.database import Database

from backends.document.schema import LAB_RESULTS, PATIENT_FIELDS, PATIENTS, VARIANTS

BY_POSITION = (("position", 1), ("_id", 1))
BY_DATE = (("taken_on", 1), ("_id", 1))


@dataclass(frozen=True)
class Find:
    collection: str
    filter: dict[str, Any]
    projection: dict[str, Any] | None = None
    sort: tuple[tuple[str, int], ...] = ()
    limit: int = 0

    def run(self, db: Database) -> Iterable[dict[str, Any]]:
        return db[self.collection].find(self.filter, self.projection, sort=list(self.sort) or None,
                                        limit=self.limit)

    def command(self) -> dict[str, Any]:
        cmd: dict[str, Any] = {"find": self.collection, "filter": self.filter}
        if self.projection:
            cmd["projection"] = self.projection
        if self.sort:
            cmd["sort"] = dict(self.sort)
        if self.limit:
            cmd["limit"] = self.limit
        return cmd


@dataclass(frozen=True)
class Aggregate:
    collection: str
    pipeline: list[dict[str, Any]] = field(default_factory=list)

    def run(self, db: Database) -> Iterable[dict[str, Any]]:
        return db[self.collection].aggregate(self.pipeline)

    def command(self) -> dict[str, Any]:
        return {"aggregate": self.collection, "pipeline": self.pipeline, "cursor": {}}


Command = Find | Aggregate


# -- variants

def _region(chromosome: str, start: int, end: int) -> dict[str, Any]:
    return {"chromosome": chromosome, "position": {"$gte": start, "$lte": end}}


def variant_by_id(*, variant_id: str) -> Find:
    return Find(VARIANTS, {"_id": variant_id}, limit=1)


def variants_by_chromosome(*, chromosome: str) -> Find:
    return Find(VARIANTS, {"chromosome": chromosome}, sort=BY_POSITION)


def variants_in_region(*, chromosome: str, start: int, end: int) -> Find:
    return Find(VARIANTS, _region(chromosome, start, end), sort=BY_POSITION)


def variants_min_depth(*, min_depth: int) -> Find:
    return Find(VARIANTS, {"depth": {"$gt": min_depth}})


def variants_min_quality(*, min_quality: float) -> Find:
    return Find(VARIANTS, {"quality": {"$gt": min_quality}})


def all_variants() -> Find:
    return Find(VARIANTS, {})


# -- patients and their embedded diagnoses

def patient_by_id(*, patient_id: int) -> Find:
    """The whole document: the diagnoses are embedded, already in catalog order."""
    return Find(PATIENTS, {"_id": patient_id}, limit=1)


def patients_older_than(*, age: int) -> Find:
    return Find(PATIENTS, {"age": {"$gt": age}}, PATIENT_FIELDS)


def patients_with_diagnosis(*, code: str) -> Find:
    """The lecture's query: {diagnoses: {$elemMatch: {code: "I10"}}}."""
    return Find(PATIENTS, {"diagnoses": {"$elemMatch": {"code": code}}}, PATIENT_FIELDS)


_COUNT_CODES = [
    # from one document per patient holding its distinct `codes`: patients per code, ranked
    {"$unwind": "$codes"},
    {"$group": {"_id": "$codes", "patients": {"$sum": 1}}},
    {"$sort": {"patients": -1, "_id": 1}},
]


def diagnosis_counts(*, min_age: int | None = None) -> Aggregate:
    """Distinct codes per patient ($setUnion drops a code given twice), then count per code."""
    older = [{"$match": {"age": {"$gt": min_age}}}] if min_age is not None else []
    distinct_codes = {"$project": {"_id": 0, "codes": {"$setUnion": ["$diagnoses.code", []]}}}
    return Aggregate(PATIENTS, [*older, distinct_codes, *_COUNT_CODES])


def comorbid_codes(*, code: str) -> Aggregate:
    """Patients having `code`; their other distinct codes ($setDifference); count per code."""
    other_codes = {"$project": {"_id": 0, "codes": {"$setDifference": ["$diagnoses.code", {"$literal": [code]}]}}}
    return Aggregate(PATIENTS, [{"$match": {"diagnoses.code": code}}, other_codes, *_COUNT_CODES])


def codes_of(*, patient_id: int) -> Find:
    """The asked patient's codes: the first step of patients_sharing_diagnoses."""
    return Find(PATIENTS, {"_id": patient_id}, {"_id": 0, "diagnoses.code": 1}, limit=1)


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
        {"$match": _region(chromosome, start, end)},
        {"$group": {"_id": "$patient_id"}},
        {"$lookup": {"from": PATIENTS, "localField": "_id", "foreignField": "_id", "as": "patient"}},
        {"$unwind": "$patient"},
        {"$match": {"patient.diagnoses.code": code}},
        {"$replaceRoot": {"newRoot": "$patient"}},
        {"$project": PATIENT_FIELDS},
    ])


# -- lab results

def lab_history(*, patient_id: int, test_name: str, since: Any, until: Any) -> Find:
    return Find(LAB_RESULTS, {"patient_id": patient_id, "test_name": test_name,
                              "taken_on": {"$gte": since, "$lte": until}}, sort=BY_DATE)


# -- plans

def plan_summary(explained: Mapping[str, Any]) -> list[str]:
    """The access paths in an `explain` answer: index names (in the order found) and
    "COLLSCAN" where a collection is scanned. Walks the whole answer, so it reads classic and
    slot-based plans and the `indexesUsed` of $lookup stages (executionStats verbosity)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            if node.get("stage") == "COLLSCAN" and "COLLSCAN" not in found:
                found.append("COLLSCAN")
            names = [node.get("indexName"), *(node.get("indexesUsed") or ())]  # $lookup: indexesUsed
            found.extend(n for n in names if isinstance(n, str) and n not in found)
            for key, value in node.items():
                if key not in ("rejectedPlans", "command"):
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(explained)
    return found
