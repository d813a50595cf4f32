"""The DynamoDB schema, designed from the access patterns (the catalog's queries) backwards.

Three tables, all on-demand (PAY_PER_REQUEST: nothing to provision, the same definition works
on AWS). Their names carry the prefix (settings and namespace, `mmbench_` by default) and the
load generation, `mmbench_g<N>_patients` (see `backends/kv/core.py` for the atomic switch):

    patients      PK patient_id (N)   SK sk (S)
      profile       sk = "PROFILE"                                   Patient fields, entity = "patient"
      diagnosis     sk = "DX#<diagnosed_on>#<code>#<diagnosis_id>"   Diagnosis fields + the patient's
                                                                     name, age, sex (copies)
      GSI by_code   PK code (S)    SK patient_id (N)   projects name, age, sex   (diagnoses only)
      GSI by_age    PK entity (S)  SK age (N)          projects all              (profiles only)

    lab_results   PK patient_test (S) = "<patient_id>#<test_name>"
                  SK taken (S)        = "<taken_on>#<result_id>"     LabResult fields

    variants      PK variant_id (S)                                  Variant fields
      GSI by_locus  PK chromosome (S)  SK position (N)  projects all

Both indexes of `patients` are sparse: an item is in an index only if it has the index's
key attributes, so `by_code` holds the diagnoses and `by_age` the profiles, nothing else.

Why this shape:
- A patient and its diagnoses are one item collection (same partition key), so
  `patient_by_id` is ONE Query; the diagnosis sort key starts with the date and code, so
  they come back in the catalog's order ("DX#..." sorts before "PROFILE").
- Diagnoses carry copies of the patient's name, age and sex (patients are never updated
  in this catalog). The `by_code` index then answers "code -> patients" in one Query with
  no second read, `diagnosis_counts(min_age)` filters on the copied age, and the index
  holds only diagnoses, so scanning it reads nothing else. The price: `add_diagnosis`
  reads the profile first, and an update of a patient would have to rewrite its
  diagnosis items (same partition: one Query and one batch).
- `by_age` is a sparse index over the profiles under one partition key value, so
  "age > :a" is a key condition, not a filter. One key value means one index partition:
  fine for thousands to millions of small, rarely written profiles.
- Lab results are read by patient AND test over a date range: the composite partition key
  "<patient_id>#<test_name>" is an exact match and the ISO-date sort key makes
  `since <= taken_on <= until` a BETWEEN key condition.
- Variants live in their own table because the queries that must Scan (depth, quality)
  scan variants only: a Scan reads, and bills, the whole table. `by_locus` makes
  `variants_by_chromosome` a Query and `variants_in_region` a BETWEEN key condition
  on position.
- `by_locus` has only 25 partition key values (chromosomes), and chromosome 1 holds about
  8% of the calls. Fine at these scales; at whole-genome scale one would key it by
  (chromosome, 1 Mb bin) and Query each bin a region touches.
- Nothing is joined on the server (DynamoDB has no joins), so two queries combine Queries
  in the client (Tier.CLIENT): `carriers_with_diagnosis` (region on `by_locus` and code on
  `by_code`, intersected) and `patients_sharing_diagnoses` (the patient's codes from its
  item collection, then one `by_code` Query per code, in parallel, counted).

What stays a Scan with a FilterExpression (Tier.CLIENT), as in the lecture's console
example: `variants_min_depth` and `variants_min_quality` (Scan the variants table), and the
aggregations `diagnosis_counts` and `comorbid_codes` (Scan the sparse `by_code` index,
count in the client; DynamoDB has no GROUP BY). A Scan reads everything, 1 MB per page,
and the filter only trims what is returned: it costs the whole table's read units.
`comorbid_codes` could instead Query the code's patients and then each patient's item
collection (one Query per patient): cheaper for a rare code, but the common codes (I10)
cover half the patients, where one Scan of the diagnoses is cheaper than N round trips.

What an index would cost instead: a GSI keyed (constant, depth) or (constant, quality)
would turn the thresholds into key conditions, but every variant write would also write
each such index (one more write unit per index per item, and the storage again), and a
single partition key value gives the whole index one partition: on AWS about 1,000 write
units per second, so the bulk load of variants (10x the patients, written in bulk) would
be throttled by the index. Spreading it over N shard keys ("0".."N-1") removes the
bottleneck but turns each read into N Queries merged in the client. The comorbidity and
count aggregations would need pre-computed counter items maintained on every write
(DynamoDB Streams + a Lambda, in AWS terms). For patients the same sparse-index trick is
affordable (`by_age`), because profiles are few and rarely written.

Order: sort keys give the catalog's order; the final tie-break on an id (variant_id at equal
positions, result_id on the same day, diagnosis_id for the same date and code) is applied
by a stable sort in the client, because ids inside a string sort key would compare as
text, not as numbers.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from backends.kv.codec import EntityCodec, Item
from models.entities import Diagnosis, LabResult, Patient, Variant

PATIENT = EntityCodec(Patient)
DIAGNOSIS = EntityCodec(Diagnosis)
LAB_RESULT = EntityCodec(LabResult)
VARIANT = EntityCodec(Variant)

PROFILE = "PROFILE"
DX = "DX#"
PATIENT_ENTITY = "patient"
BY_CODE = "by_code"
BY_AGE = "by_age"
BY_LOCUS = "by_locus"
# Copied from a profile into each of its diagnoses (and projected into by_code).
PATIENT_COPY = ("name", "age", "sex")


ENTITIES = ("patients", "lab_results", "variants")


@dataclass(frozen=True)
class Tables:
    """The table names of one load generation: `<prefix>g<N>_patients`, `..._lab_results`, `..._variants`."""

    patients: str
    lab_results: str
    variants: str

    @classmethod
    def of(cls, prefix: str, generation: int) -> Tables:
        return cls(*(f"{prefix}g{generation}_{entity}" for entity in ENTITIES))

    @staticmethod
    def pattern(prefix: str) -> re.Pattern[str]:
        """Matches the table names of any generation under `prefix`; group 1 is the generation."""
        return re.compile(rf"{re.escape(prefix)}g(\d+)_(?:{'|'.join(ENTITIES)})")

    def __iter__(self) -> Iterator[str]:
        return iter((self.patients, self.lab_results, self.variants))

    def key_names(self, table: str) -> tuple[str, ...]:
        return {self.patients: ("patient_id", "sk"), self.lab_results: ("patient_test", "taken"),
                self.variants: ("variant_id",)}[table]

    def definitions(self) -> list[dict[str, Any]]:
        """CreateTable requests of every table."""
        return [
            table_request(self.patients, [("patient_id", "N"), ("sk", "S")],
                          Index(BY_CODE, ("code", "S"), ("patient_id", "N"), PATIENT_COPY),
                          Index(BY_AGE, ("entity", "S"), ("age", "N"))),
            table_request(self.lab_results, [("patient_test", "S"), ("taken", "S")]),
            table_request(self.variants, [("variant_id", "S")],
                          Index(BY_LOCUS, ("chromosome", "S"), ("position", "N"))),
        ]


Key = tuple[str, str]  # (attribute name, attribute type)


@dataclass(frozen=True)
class Index:
    """A global secondary index; `include` names the projected non-key attributes (None: all)."""

    name: str
    hash_key: Key
    range_key: Key
    include: tuple[str, ...] | None = None

    def request(self) -> dict[str, Any]:
        projection: dict[str, Any] = ({"ProjectionType": "INCLUDE", "NonKeyAttributes": list(self.include)}
                                      if self.include else {"ProjectionType": "ALL"})
        return {"IndexName": self.name, "KeySchema": _key_schema(self.hash_key, self.range_key),
                "Projection": projection}


def _key_schema(*keys: Key) -> list[dict[str, str]]:
    return [{"AttributeName": name, "KeyType": kind} for (name, _), kind in zip(keys, ("HASH", "RANGE"))]


def table_request(name: str, keys: list[Key], *indexes: Index) -> dict[str, Any]:
    """An on-demand table (no capacity to provision: the same request works on AWS)."""
    attributes = dict(keys)
    for index in indexes:
        attributes.update((index.hash_key, index.range_key))
    request: dict[str, Any] = {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": _key_schema(*keys),
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": t} for a, t in attributes.items()],
    }
    if indexes:
        request["GlobalSecondaryIndexes"] = [index.request() for index in indexes]
    return request


# -- items and key values


def _s(text: str) -> dict[str, str]:
    return {"S": text}


def profile_item(patient: Patient) -> Item:
    return {**PATIENT.encode(patient), "sk": _s(PROFILE), "entity": _s(PATIENT_ENTITY)}


def diagnosis_item(diagnosis: Diagnosis, patient: Item) -> Item:
    """A diagnosis item; `patient` is its patient's profile (or any item holding PATIENT_COPY)."""
    sk = f"{DX}{diagnosis.diagnosed_on.isoformat()}#{diagnosis.code}#{diagnosis.diagnosis_id}"
    return {**DIAGNOSIS.encode(diagnosis), "sk": _s(sk), **{a: patient[a] for a in PATIENT_COPY}}


def lab_partition(patient_id: int, test_name: str) -> str:
    return f"{patient_id}#{test_name}"


def lab_item(result: LabResult) -> Item:
    return {**LAB_RESULT.encode(result),
            "patient_test": _s(lab_partition(result.patient_id, result.test_name)),
            "taken": _s(f"{result.taken_on.isoformat()}#{result.result_id}")}


def taken_between(since: dt.date, until: dt.date) -> tuple[str, str]:
    """Sort-key bounds covering every `taken` of a day in [since, until] ('$' sorts after '#')."""
    return since.isoformat(), f"{until.isoformat()}$"


def variant_item(variant: Variant) -> Item:
    return VARIANT.encode(variant)
