"""The single-table DynamoDB design, `dynamodb:single-table`: every entity in one table with
overloaded keys and GSIs (`single_table_schema.py` says which, what it optimises and what it costs).

It shares everything but the schema with the default design (`core.py`): the settings and the
engine (dynalite, moto or AWS), load generations switched by one pointer item, holdings,
explain, errors, timeouts. Reads are Queries on the table or an overloaded index, never a Scan:
the reads of "every item of a type" are the 4 shards of GSI2, queried in parallel.

Load: into a fresh generation `<prefix>single-table-g<N>`, then one PutItem switches the pointer
in `<prefix>single-table-meta` (which also holds the Holdings); a killed load leaves an orphan
`...-g<N>` table, recorded in the metadata table and deleted by the next load (see `core.py`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from backends.base import Tier
from backends.kv import single_table_schema as st
from backends.kv.codec import Item, int_of, text_of, to_attribute
from backends.kv.core import DynamoDBCore
from backends.kv.schema import DIAGNOSIS, LAB_RESULT, PATIENT, VARIANT
from backends.kv.shapes import Shape
from backends.kv.single_table_schema import GSI1, GSI2, SingleTable
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

_KEYS = {"#pk": "pk", "#sk": "sk"}
_GSI1 = {"#g1pk": "gsi1pk", "#g1sk": "gsi1sk"}
_GSI2 = {"#g2pk": "gsi2pk"}
PATIENT_ITEMS = Shape("query", "#pk = :pk AND #sk <= :profile", names=_KEYS)
PATIENT_CODES = Shape("query", "#pk = :pk AND begins_with(#sk, :dx)", names=_KEYS, fields=("code",))
LAB_RANGE = Shape("query", "#pk = :pk AND #sk BETWEEN :low AND :high", names=_KEYS)
OLDER_THAN = Shape("query", "#g1pk = :g AND #g1sk > :age", names=_GSI1, index=GSI1)
WITH_CODE = Shape("query", "#g1pk = :g", names={"#g1pk": "gsi1pk"}, index=GSI1)
ON_CHROMOSOME = Shape("query", "#g1pk = :g", names={"#g1pk": "gsi1pk"}, index=GSI1)
IN_REGION = Shape("query", "#g1pk = :g AND #g1sk BETWEEN :start AND :end", names=_GSI1, index=GSI1)
CARRIERS_IN_REGION = Shape("query", "#g1pk = :g AND #g1sk BETWEEN :start AND :end", names=_GSI1, index=GSI1,
                           fields=("patient_id",))
VARIANTS = Shape("query", "#g2pk = :g", names=_GSI2, index=GSI2)
DEEPER = Shape("query", "#g2pk = :g", filter="#d > :d", names={**_GSI2, "#d": "depth"}, index=GSI2)
BETTER = Shape("query", "#g2pk = :g", filter="#q > :q", names={**_GSI2, "#q": "quality"}, index=GSI2)
DIAGNOSES = Shape("query", "#g2pk = :g", names=_GSI2, index=GSI2, fields=("code", "patient_id"))
DIAGNOSES_OLDER = Shape("query", "#g2pk = :g", filter="#age > :age", names={**_GSI2, "#age": "age"}, index=GSI2,
                        fields=("code", "patient_id"))
VARIANT_SHARDS = [{"S": g} for g in st.shards("VARIANT")]
DIAGNOSIS_SHARDS = [{"S": g} for g in st.shards("DIAGNOSIS")]
_PROFILE = {"S": st.PROFILE}


def _s(text: str) -> dict[str, str]:
    return {"S": text}


class SingleTableBackend(DynamoDBCore):
    """The catalog on one DynamoDB table with overloaded keys and GSIs (see single_table_schema.py)."""

    name: ClassVar[str] = "dynamodb:single-table"
    design: ClassVar[str] = "single-table"
    tiers: ClassVar[Mapping[Q, Tier]] = MappingProxyType({
        Q.VARIANTS_MIN_DEPTH: Tier.CLIENT,           # every variant read (GSI2 shards), filtered
        Q.VARIANTS_MIN_QUALITY: Tier.CLIENT,         # every variant read (GSI2 shards), filtered
        Q.DIAGNOSIS_COUNTS: Tier.CLIENT,             # every diagnosis read (GSI2 shards), counted in the client
        Q.COMORBID_CODES: Tier.CLIENT,               # every diagnosis read (GSI2 shards), counted in the client
        Q.CARRIERS_WITH_DIAGNOSIS: Tier.CLIENT,      # two GSI1 Queries joined in the client
        Q.PATIENTS_SHARING_DIAGNOSES: Tier.CLIENT,   # a GSI1 Query per code, counted in the client
    })

    @classmethod
    def tables_of(cls, prefix: str, generation: int) -> SingleTable:
        return SingleTable.of(prefix, generation)

    @classmethod
    def table_pattern(cls, prefix: str) -> re.Pattern[str]:
        return SingleTable.pattern(prefix)

    # -- writing

    def _write_rows(self, tables: SingleTable, kind: EntityKind, rows: list[Any]) -> None:
        if kind == "patients":
            items = [st.profile_item(p) for p in rows]
            if self._loading is not None:
                self._loading.update((p.patient_id, item) for p, item in zip(rows, items))
        elif kind == "diagnoses":
            profiles = self._profiles(d.patient_id for d in rows)
            items = [st.diagnosis_item(d, profiles[d.patient_id]) for d in rows]
        elif kind == "lab_results":
            items = [st.lab_item(r) for r in rows]
        else:
            items = [st.variant_item(v) for v in rows]
        self._put_all(tables, tables.data, items)

    def _patient_item(self, tables: SingleTable, patient_id: int) -> Item | None:
        with self._errors():
            return self._client.get_item(TableName=tables.data, ConsistentRead=True,
                                         Key={"pk": _s(st.patient_key(patient_id)), "sk": _PROFILE}).get("Item")

    def add_patient(self, *, patient: PatientRecord) -> None:
        tables = self.tables
        profile = st.profile_item(patient.patient)
        self._put_new(tables, tables.data, profile, "attribute_not_exists(pk)",
                      [st.diagnosis_item(d, profile) for d in patient.diagnoses],
                      refused=f"patient {patient.patient.patient_id} already exists")

    def add_diagnosis(self, *, diagnosis_id: int, patient_id: int, code: str, diagnosed_on: dt.date) -> None:
        tables = self.tables
        profile = self._profiles((patient_id,))[patient_id]
        item = st.diagnosis_item(Diagnosis(diagnosis_id, patient_id, code, diagnosed_on), profile)
        with self._errors():
            self._client.put_item(TableName=tables.data, Item=item)

    def add_variants(self, *, variants: list[Variant]) -> None:
        tables = self.tables
        self._put_all(tables, tables.data, [st.variant_item(v) for v in variants])

    # -- reading

    def _shards(self, shape: Shape, partitions: list[dict[str, str]], values: Mapping[str, Any] | None = None,
                ) -> list[Item]:
        """Every item of GSI2's shards of one type: one Query per shard, in parallel."""
        table = self.tables.data
        pages = self._in_parallel(lambda g=g: self._read(shape, table, {":g": g, **(values or {})})
                                  for g in partitions)
        return [item for page in pages for item in page]

    def variant_by_id(self, *, variant_id: str) -> Variant | None:
        item = self._get(self.tables.data, {"pk": _s(st.variant_key(variant_id)), "sk": _s("VARIANT")})
        return None if item is None else VARIANT.decode(item)

    def variants_by_chromosome(self, *, chromosome: str) -> list[Variant]:
        return _by_locus(self._read(ON_CHROMOSOME, self.tables.data, {":g": _s(f"CHR#{chromosome}")}))

    def variants_in_region(self, *, chromosome: str, start: int, end: int) -> list[Variant]:
        if start > end:
            return []
        return _by_locus(self._read(IN_REGION, self.tables.data, _region(chromosome, start, end)))

    def variants_min_depth(self, *, min_depth: int) -> list[Variant]:
        return [VARIANT.decode(i) for i in self._shards(DEEPER, VARIANT_SHARDS, {":d": to_attribute(min_depth)})]

    def variants_min_quality(self, *, min_quality: float) -> list[Variant]:
        values = {":q": to_attribute(float(min_quality))}
        return [VARIANT.decode(i) for i in self._shards(BETTER, VARIANT_SHARDS, values)]

    def all_variants(self) -> list[Variant]:
        return [VARIANT.decode(i) for i in self._shards(VARIANTS, VARIANT_SHARDS)]

    def patient_by_id(self, *, patient_id: int) -> PatientRecord | None:
        items = self._read(PATIENT_ITEMS, self.tables.data, {":pk": _s(st.patient_key(patient_id)),
                                                             ":profile": _PROFILE})
        if not items or items[-1]["sk"]["S"] != st.PROFILE:
            return None
        diagnoses = sorted((DIAGNOSIS.decode(i) for i in items[:-1]), key=diagnosis_order)
        return PatientRecord(PATIENT.decode(items[-1]), tuple(diagnoses))

    def patients_older_than(self, *, age: int) -> list[Patient]:
        items = self._read(OLDER_THAN, self.tables.data, {":g": _s(st.PATIENTS), ":age": _s(st.sortable(age))})
        return [PATIENT.decode(i) for i in items]

    def _with_code(self, code: str) -> list[Item]:
        """GSI1's entries of a code: one per diagnosis, with the patient's copied fields."""
        return self._read(WITH_CODE, self.tables.data, {":g": _s(f"CODE#{code}")})

    def patients_with_diagnosis(self, *, code: str) -> list[Patient]:
        return list({p.patient_id: p for p in map(PATIENT.decode, self._with_code(code))}.values())

    def _all_diagnoses(self, min_age: int | None = None) -> dict[str, set[int]]:
        """code -> patient ids, from GSI2's diagnosis shards."""
        items = (self._shards(DIAGNOSES, DIAGNOSIS_SHARDS) if min_age is None else
                 self._shards(DIAGNOSES_OLDER, DIAGNOSIS_SHARDS, {":age": to_attribute(min_age)}))
        patients: dict[str, set[int]] = defaultdict(set)
        for item in items:
            patients[text_of(item, "code")].add(int_of(item, "patient_id"))
        return patients

    def diagnosis_counts(self, *, min_age: int | None = None) -> list[CodeCount]:
        return rank_code_counts({code: len(ids) for code, ids in self._all_diagnoses(min_age).items()})

    def lab_history(self, *, patient_id: int, test_name: str, since: dt.date, until: dt.date) -> list[LabResult]:
        if since > until:
            return []
        low, high = st.taken_between(test_name, since, until)
        items = self._read(LAB_RANGE, self.tables.data, {":pk": _s(st.patient_key(patient_id)), ":low": _s(low),
                                                         ":high": _s(high)})
        results = (LAB_RESULT.decode(i) for i in items)
        return sorted((r for r in results if r.test_name == test_name), key=lambda r: (r.taken_on, r.result_id))

    def carriers_with_diagnosis(self, *, chromosome: str, start: int, end: int, code: str) -> list[Patient]:
        if start > end:
            return []
        table = self.tables.data
        in_region, having = self._in_parallel((
            lambda: self._read(CARRIERS_IN_REGION, table, _region(chromosome, start, end)),
            lambda: self._with_code(code),
        ))
        carriers = {int_of(i, "patient_id") for i in in_region if "patient_id" in i}
        return list({p.patient_id: p for p in map(PATIENT.decode, having) if p.patient_id in carriers}.values())

    def _codes_of(self, patient_id: int) -> list[Item]:
        return self._read(PATIENT_CODES, self.tables.data, {":pk": _s(st.patient_key(patient_id)), ":dx": _s(st.DX)})


def _region(chromosome: str, start: int, end: int) -> dict[str, Any]:
    """GSI1's key values of a region: the chromosome's partition, positions BETWEEN (as sortable strings)."""
    return {":g": _s(f"CHR#{chromosome}"), ":start": _s(st.sortable(max(start, -2**63))),
            ":end": _s(st.sortable(min(end, 2**63 - 1)))}


def _by_locus(items: list[Item]) -> list[Variant]:
    return sorted(map(VARIANT.decode, items), key=lambda v: (v.position, v.variant_id))
