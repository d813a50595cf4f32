"""The key-value model: Amazon DynamoDB through boto3's low-level client (dynalite or moto locally).

The default design, `dynamodb`: one table per entity with GSIs for the other access paths
(`schema.py` says which and why). Loads, generations, holdings, errors and explain are shared
with the other designs (`core.py`); items are encoded by `codec.py` (numbers exact) and every
request's consumed capacity is summed by `capacity.py`.

- Reads: GetItem, Query on the table or a GSI (key conditions, never a filter where a key
  can do), or Scan + FilterExpression where no key can (Tier.CLIENT, see `tiers`). Every
  Query and Scan follows LastEvaluatedKey (`core._read`). The requests are built once per
  query shape (`shapes.py`); a call only adds the values.
- Writes: BatchWriteItem in requests of 25 items (what boto3's `batch_writer` sends), on a
  thread pool of `workers` parallel requests, and unprocessed items are re-sent with
  exponential backoff and jitter. `add_patient` is one TransactWriteItems (the profile and
  its diagnoses, all or nothing; a duplicate patient_id is refused); dynalite has no
  transactions, so there it is a conditional PutItem and a batch (see `core._put_new`).
- Fan-out reads (one Query per code, or a region and a code) run on the same pool.
- Reads are eventually consistent (DynamoDB's default, half the cost); the emulators are always
  consistent. On AWS a read right after a write may miss it for up to about a second.
  `MMBENCH_DYNAMODB_CONSISTENT_READ=true` reads the tables with ConsistentRead (twice the read
  units); GSI reads stay eventually consistent, as DynamoDB allows nothing else.

Load: into a fresh generation of the three tables, then one PutItem switches the pointer
(`<prefix>meta`, item `current`, which also holds the Holdings); a killed load leaves orphan
`<prefix>g<N>_*` tables that the next load deletes (details in `core.py`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from backends.base import Tier
from backends.kv import schema
from backends.kv.codec import Item, int_of, text_of, to_attribute
from backends.kv.core import DynamoDBCore
from backends.kv.schema import (
    BY_AGE,
    BY_CODE,
    BY_LOCUS,
    DIAGNOSIS,
    DX,
    LAB_RESULT,
    PATIENT,
    PROFILE,
    VARIANT,
    Tables,
)
from backends.kv.shapes import Shape
from models.catalog import Q
from models.dataset import EntityKind
from models.entities import (
    CodeCount,
    Diagnosis,
    LabResult,
    Patient,
    PatientRecord,
    Variant,
    diagnosis_order,
    rank_code_counts,
)

# The access paths, built once (see shapes.py): `#x` are attribute names, `:x` the values of a call.
PATIENT_ITEMS = Shape("query", "#pk = :pk AND #sk <= :profile", names={"#pk": "patient_id", "#sk": "sk"})
PATIENT_CODES = Shape("query", "#pk = :pk AND begins_with(#sk, :dx)", names={"#pk": "patient_id", "#sk": "sk"},
                      fields=("code",))
OLDER_THAN = Shape("query", "#e = :e AND #age > :age", names={"#e": "entity", "#age": "age"}, index=BY_AGE)
WITH_CODE = Shape("query", "#c = :c", names={"#c": "code"}, index=BY_CODE)
ALL_DIAGNOSES = Shape("scan", index=BY_CODE, fields=("code", "patient_id"))
DIAGNOSES_OLDER = Shape("scan", filter="#age > :age", names={"#age": "age"}, index=BY_CODE, fields=("code", "patient_id"))
LAB_RANGE = Shape("query", "#p = :p AND #t BETWEEN :since AND :until", names={"#p": "patient_test", "#t": "taken"})
ON_CHROMOSOME = Shape("query", "#c = :c", names={"#c": "chromosome"}, index=BY_LOCUS)
IN_REGION = Shape("query", "#c = :c AND #pos BETWEEN :start AND :end", names={"#c": "chromosome", "#pos": "position"},
                  index=BY_LOCUS)
CARRIERS_IN_REGION = Shape("query", "#c = :c AND #pos BETWEEN :start AND :end",
                           names={"#c": "chromosome", "#pos": "position"}, index=BY_LOCUS, fields=("patient_id",))
DEEPER = Shape("scan", filter="#d > :d", names={"#d": "depth"})
BETTER = Shape("scan", filter="#q > :q", names={"#q": "quality"})
EVERY = Shape("scan")

_PROFILE = {"S": PROFILE}
_DX = {"S": DX}
_PATIENT_ENTITY = {"S": schema.PATIENT_ENTITY}


def _n(value: float) -> dict[str, str]:
    return to_attribute(value)


class DynamoDBBackend(DynamoDBCore):
    """The catalog on three DynamoDB tables (see schema.py)."""

    name: ClassVar[str] = "dynamodb"
    tiers: ClassVar[Mapping[Q, Tier]] = MappingProxyType({
        Q.VARIANTS_MIN_DEPTH: Tier.CLIENT,           # Scan + FilterExpression
        Q.VARIANTS_MIN_QUALITY: Tier.CLIENT,         # Scan + FilterExpression
        Q.DIAGNOSIS_COUNTS: Tier.CLIENT,             # Scan of by_code, counted in the client
        Q.COMORBID_CODES: Tier.CLIENT,               # Scan of by_code, counted in the client
        Q.CARRIERS_WITH_DIAGNOSIS: Tier.CLIENT,      # two Queries joined in the client
        Q.PATIENTS_SHARING_DIAGNOSES: Tier.CLIENT,   # a Query per code, counted in the client
    })

    @classmethod
    def tables_of(cls, prefix: str, generation: int) -> Tables:
        return Tables.of(prefix, generation)

    @classmethod
    def table_pattern(cls, prefix: str) -> re.Pattern[str]:
        return Tables.pattern(prefix)

    # -- writing

    def _write_rows(self, tables: Tables, kind: EntityKind, rows: list[Any]) -> None:
        if kind == "patients":
            items = [schema.profile_item(p) for p in rows]
            if self._loading is not None:
                self._loading.update((p.patient_id, item) for p, item in zip(rows, items))
            self._put_all(tables, tables.patients, items)
        elif kind == "diagnoses":
            profiles = self._profiles(d.patient_id for d in rows)
            self._put_all(tables, tables.patients, [schema.diagnosis_item(d, profiles[d.patient_id]) for d in rows])
        elif kind == "lab_results":
            self._put_all(tables, tables.lab_results, [schema.lab_item(r) for r in rows])
        else:
            self._put_all(tables, tables.variants, [schema.variant_item(v) for v in rows])

    def _patient_item(self, tables: Tables, patient_id: int) -> Item | None:
        with self._errors():
            return self._client.get_item(TableName=tables.patients, ConsistentRead=True,
                                         Key={"patient_id": _n(patient_id), "sk": _PROFILE}).get("Item")

    def add_patient(self, *, patient: PatientRecord) -> None:
        tables = self.tables
        profile = schema.profile_item(patient.patient)
        self._put_new(tables, tables.patients, profile, "attribute_not_exists(patient_id)",
                      [schema.diagnosis_item(d, profile) for d in patient.diagnoses],
                      refused=f"patient {patient.patient.patient_id} already exists")

    def add_diagnosis(self, *, diagnosis_id: int, patient_id: int, code: str, diagnosed_on: dt.date) -> None:
        tables = self.tables
        diagnosis = Diagnosis(diagnosis_id, patient_id, code, diagnosed_on)
        profile = self._profiles((patient_id,))[patient_id]
        with self._errors():
            self._client.put_item(TableName=tables.patients, Item=schema.diagnosis_item(diagnosis, profile))

    def add_variants(self, *, variants: list[Variant]) -> None:
        tables = self.tables
        self._put_all(tables, tables.variants, [schema.variant_item(v) for v in variants])

    # -- reading

    def variant_by_id(self, *, variant_id: str) -> Variant | None:
        item = self._get(self.tables.variants, {"variant_id": {"S": variant_id}})
        return None if item is None else VARIANT.decode(item)

    def variants_by_chromosome(self, *, chromosome: str) -> list[Variant]:
        return _by_locus(self._read(ON_CHROMOSOME, self.tables.variants, {":c": {"S": chromosome}}))

    def variants_in_region(self, *, chromosome: str, start: int, end: int) -> list[Variant]:
        if start > end:
            return []  # BETWEEN with bounds out of order is an error in DynamoDB
        return _by_locus(self._read(IN_REGION, self.tables.variants, _region(chromosome, start, end)))

    def variants_min_depth(self, *, min_depth: int) -> list[Variant]:
        return [VARIANT.decode(i) for i in self._read(DEEPER, self.tables.variants, {":d": _n(min_depth)})]

    def variants_min_quality(self, *, min_quality: float) -> list[Variant]:
        return [VARIANT.decode(i) for i in self._read(BETTER, self.tables.variants, {":q": _n(float(min_quality))})]

    def all_variants(self) -> list[Variant]:
        return [VARIANT.decode(i) for i in self._read(EVERY, self.tables.variants)]

    def patient_by_id(self, *, patient_id: int) -> PatientRecord | None:
        items = self._read(PATIENT_ITEMS, self.tables.patients, {":pk": _n(patient_id), ":profile": _PROFILE})
        if not items or items[-1]["sk"]["S"] != PROFILE:
            return None
        diagnoses = sorted((DIAGNOSIS.decode(i) for i in items[:-1]), key=diagnosis_order)
        return PatientRecord(PATIENT.decode(items[-1]), tuple(diagnoses))

    def patients_older_than(self, *, age: int) -> list[Patient]:
        items = self._read(OLDER_THAN, self.tables.patients, {":e": _PATIENT_ENTITY, ":age": _n(age)})
        return [PATIENT.decode(i) for i in items]

    def _with_code(self, code: str) -> list[Item]:
        """The by_code entries of a code: one per diagnosis, with the patient's fields."""
        return self._read(WITH_CODE, self.tables.patients, {":c": {"S": code}})

    def patients_with_diagnosis(self, *, code: str) -> list[Patient]:
        return list({p.patient_id: p for p in map(PATIENT.decode, self._with_code(code))}.values())

    def _all_diagnoses(self, min_age: int | None = None) -> dict[str, set[int]]:
        """code -> patient ids, from a Scan of the sparse by_code index (diagnoses only)."""
        items = (self._read(ALL_DIAGNOSES, self.tables.patients) if min_age is None else
                 self._read(DIAGNOSES_OLDER, self.tables.patients, {":age": _n(min_age)}))
        patients: dict[str, set[int]] = defaultdict(set)
        for item in items:
            patients[text_of(item, "code")].add(int_of(item, "patient_id"))
        return patients

    def diagnosis_counts(self, *, min_age: int | None = None) -> list[CodeCount]:
        return rank_code_counts({code: len(ids) for code, ids in self._all_diagnoses(min_age).items()})

    def lab_history(self, *, patient_id: int, test_name: str, since: dt.date, until: dt.date) -> list[LabResult]:
        if since > until:
            return []  # BETWEEN with bounds out of order is an error in DynamoDB
        low, high = schema.taken_between(since, until)
        items = self._read(LAB_RANGE, self.tables.lab_results, {
            ":p": {"S": schema.lab_partition(patient_id, test_name)}, ":since": {"S": low}, ":until": {"S": high}})
        return sorted(map(LAB_RESULT.decode, items), key=lambda r: (r.taken_on, r.result_id))

    def carriers_with_diagnosis(self, *, chromosome: str, start: int, end: int, code: str) -> list[Patient]:
        if start > end:
            return []
        tables = self.tables
        in_region, having = self._in_parallel((
            lambda: self._read(CARRIERS_IN_REGION, tables.variants, _region(chromosome, start, end)),
            lambda: self._with_code(code),
        ))
        carriers = {int_of(i, "patient_id") for i in in_region if "patient_id" in i}
        return list({p.patient_id: p for p in map(PATIENT.decode, having) if p.patient_id in carriers}.values())

    def _codes_of(self, patient_id: int) -> list[Item]:
        return self._read(PATIENT_CODES, self.tables.patients, {":pk": _n(patient_id), ":dx": _DX})


# -- helpers


def _region(chromosome: str, start: int, end: int) -> dict[str, Any]:
    """The by_locus key values of a region: a BETWEEN on the sort key, not a filter."""
    return {":c": {"S": chromosome}, ":start": _n(start), ":end": _n(end)}


def _by_locus(items: list[Item]) -> list[Variant]:
    """Variants in the catalog's order: the index gives position order, variant_id breaks ties."""
    return sorted(map(VARIANT.decode, items), key=lambda v: (v.position, v.variant_id))
