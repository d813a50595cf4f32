"""The single-table DynamoDB design (`dynamodb:single-table`): every entity in ONE table, with
overloaded partition and sort keys and overloaded GSIs, as AWS teaches it (Rick Houlihan's
re:Invent talks, "The DynamoDB Book"). The default design (`schema.py`) uses three tables.

One table `<prefix>single-table-g<N>` (on-demand), keys `pk` and `sk` (strings), two GSIs whose
key attributes mean something different for each entity type:

    entity      pk                 sk                                GSI1 gsi1pk / gsi1sk           GSI2 gsi2pk / gsi2sk
    patient     PATIENT#<id>       PROFILE                           PATIENTS / <age>               -
    diagnosis   PATIENT#<id>       DX#<date>#<code>#<diagnosis_id>   CODE#<code> / <patient id>     DIAGNOSIS#<shard> / <pk>#<sk>
    lab result  PATIENT#<id>       RESULT#<test>#<date>#<result_id>  -                              -
    variant     VARIANT#<id>       VARIANT                           CHR#<chromosome> / <position>  VARIANT#<shard> / <id>

(`<age>`, `<position>`, `<patient id>` are order-preserving 20-digit strings: overloaded key
attributes have one type, S, so numbers are written to sort as text.) Each item also keeps its
entity's own fields, as in the three-table design (a diagnosis with copies of its patient's
name, age and sex), and `type`.

What it optimises:
- One item collection per patient holds the profile, the diagnoses AND the lab results
  (pre-joined): `patient_by_id` is one Query (`sk <= PROFILE`: "DX#..." sorts before, "RESULT#..."
  after), `lab_history` one Query on the same partition (`sk BETWEEN RESULT#<test>#<since> AND
  ...<until>`), no second table.
- GSI1 is overloaded with three access paths in one index: patients by age (one partition
  `PATIENTS`, age a key condition), diagnoses by code (`CODE#<code>`: code -> patients with their
  copied fields, one Query) and variants by locus (`CHR#<c>`, position BETWEEN).
- GSI2 is overloaded AND sparse: only diagnoses and variants are in it, under type partitions
  sharded 4 ways (`VARIANT#0`..`VARIANT#3`, by a hash of the id) so a bulk load is not throttled by
  one partition's write limit (about 1,000 units a second on AWS). "Every variant" or "every
  diagnosis" is then 4 parallel Queries that read only that type, instead of a Scan of a table
  that holds everything.
- One table to provision, back up, stream and secure; all entities in one place for transactions.

What it costs:
- Writes: a variant is written three times (table, GSI1, GSI2), a diagnosis three times, a
  profile twice: more write units and storage than the three-table design (which writes a
  variant twice).
- The thresholds (`variants_min_depth`, `variants_min_quality`) stay FilterExpressions: they read
  every variant (through GSI2) and return a few, like the three-table design's Scan.
- The aggregations (`diagnosis_counts`, `comorbid_codes`) read every diagnosis from GSI2 and count
  in the client (DynamoDB has no GROUP BY), as the other design does from its sparse index.
- Keys are opaque strings built in code: the table cannot be read without this module, and ad-hoc
  questions (by test name, by genotype...) have no path at all. A new access pattern means a new
  overloaded key, backfilled into every item.
- Patients by age sit in one GSI1 partition (fine for thousands to millions of rarely written
  profiles; shard it like GSI2 beyond that).
"""

from __future__ import annotations

import datetime as dt
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from backends.base import BackendError
from backends.kv.codec import Item
from backends.kv.schema import (
    DIAGNOSIS,
    LAB_RESULT,
    PATIENT,
    PATIENT_COPY,
    VARIANT,
    Index,
    table_request,
)
from models.entities import Diagnosis, LabResult, Patient, Variant

PROFILE = "PROFILE"
DX = "DX#"
RESULT = "RESULT#"
GSI1, GSI2 = "gsi1", "gsi2"
SHARDS = 4
PATIENTS = "PATIENTS"
_OFFSET = 2**63


def sortable(n: int) -> str:
    """An int64 as a 20-digit string that sorts as the number does (-2**63 -> all zeros)."""
    if not -_OFFSET <= n < _OFFSET:
        raise BackendError(f"dynamodb:single-table: {n} is outside the 64-bit range its sort keys encode")
    return f"{n + _OFFSET:020d}"


def patient_key(patient_id: int) -> str:
    return f"PATIENT#{patient_id}"


def variant_key(variant_id: str) -> str:
    return f"VARIANT#{variant_id}"


def shard(key: str) -> int:
    """A stable shard of GSI2's type partitions (crc32: the same in every process)."""
    return zlib.crc32(key.encode("utf-8")) % SHARDS


def shards(kind: str) -> list[str]:
    """GSI2 partition keys of an entity type: `VARIANT#0`...`VARIANT#3`."""
    return [f"{kind}#{k}" for k in range(SHARDS)]


@dataclass(frozen=True)
class SingleTable:
    """The one table of one load generation."""

    data: str

    @classmethod
    def of(cls, prefix: str, generation: int) -> SingleTable:
        return cls(f"{prefix}g{generation}")

    @staticmethod
    def pattern(prefix: str) -> re.Pattern[str]:
        return re.compile(rf"{re.escape(prefix)}g(\d+)")

    def __iter__(self) -> Iterator[str]:
        return iter((self.data,))

    def key_names(self, table: str) -> tuple[str, ...]:
        return ("pk", "sk")

    def definitions(self) -> list[dict[str, Any]]:
        return [table_request(self.data, [("pk", "S"), ("sk", "S")],
                              Index(GSI1, ("gsi1pk", "S"), ("gsi1sk", "S")),
                              Index(GSI2, ("gsi2pk", "S"), ("gsi2sk", "S")))]


def _s(text: str) -> dict[str, str]:
    return {"S": text}


def profile_item(patient: Patient) -> Item:
    return {**PATIENT.encode(patient), "pk": _s(patient_key(patient.patient_id)), "sk": _s(PROFILE),
            "type": _s("patient"), "gsi1pk": _s(PATIENTS), "gsi1sk": _s(sortable(patient.age))}


def diagnosis_item(diagnosis: Diagnosis, patient: Item) -> Item:
    """A diagnosis item; `patient` is its patient's profile item (for the copied fields)."""
    pk = patient_key(diagnosis.patient_id)
    sk = f"{DX}{diagnosis.diagnosed_on.isoformat()}#{diagnosis.code}#{diagnosis.diagnosis_id}"
    return {**DIAGNOSIS.encode(diagnosis), **{a: patient[a] for a in PATIENT_COPY},
            "pk": _s(pk), "sk": _s(sk), "type": _s("diagnosis"),
            "gsi1pk": _s(f"CODE#{diagnosis.code}"), "gsi1sk": _s(sortable(diagnosis.patient_id)),
            "gsi2pk": _s(f"DIAGNOSIS#{shard(pk + sk)}"), "gsi2sk": _s(f"{pk}#{sk}")}


def lab_sk(test_name: str, taken_on: dt.date | str, result_id: int | str = "") -> str:
    day = taken_on.isoformat() if isinstance(taken_on, dt.date) else taken_on
    return f"{RESULT}{test_name}#{day}#{result_id}"


def taken_between(test_name: str, since: dt.date, until: dt.date) -> tuple[str, str]:
    """Sort-key bounds covering every result of a test taken on a day in [since, until] ('$' > '#')."""
    return f"{RESULT}{test_name}#{since.isoformat()}", f"{RESULT}{test_name}#{until.isoformat()}$"


def lab_item(result: LabResult) -> Item:
    return {**LAB_RESULT.encode(result), "pk": _s(patient_key(result.patient_id)),
            "sk": _s(lab_sk(result.test_name, result.taken_on, result.result_id)), "type": _s("lab_result")}


def variant_item(variant: Variant) -> Item:
    pk = variant_key(variant.variant_id)
    return {**VARIANT.encode(variant), "pk": _s(pk), "sk": _s("VARIANT"), "type": _s("variant"),
            "gsi1pk": _s(f"CHR#{variant.chromosome}"), "gsi1sk": _s(sortable(variant.position)),
            "gsi2pk": _s(f"VARIANT#{shard(pk)}"), "gsi2sk": _s(variant.variant_id)}
