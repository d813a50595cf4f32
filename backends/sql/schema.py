"""The relational schema: normalised tables with foreign keys, and one index per access path.

    patients     (patient_id PK, name, age, sex)                      index: age
    diagnoses    (diagnosis_id PK, patient_id FK -> patients, code, diagnosed_on)
                                                                       index: (code, patient_id), (patient_id, code)
    lab_results  (result_id PK, patient_id FK -> patients, test_name, value, unit, taken_on)
                                                                       index: (patient_id, test_name, taken_on)
    variants     (variant_id PK, chromosome, position, reference_allele, alternate_allele,
                  genotype, quality, depth, patient_id FK -> patients)
                                                                       index: (chromosome, position, variant_id),
                                                                              depth, quality
    mmbench_holdings (id PK = 1, holdings: the Holdings record as JSON, writes_since)
                                                                       written by a load, in its transaction

This is the lecture's `patients` / `medical_records` design grown to the whole domain:
`diagnoses` is its `medical_records` (one row per ICD-10-CM code given on a date).
Text keys that the catalog orders by (code, variant_id) use the "C" collation on
PostgreSQL, so ordering is by code point as in the reference (SQLite's default BINARY
collation already is).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)


def _c_text(length: int | None = None) -> String:
    """Text compared by code point on every engine."""
    base = String(length) if length else Text()
    return base.with_variant(String(length, collation="C"), "postgresql")


def _key() -> BigInteger:
    """A 64-bit integer primary key; on SQLite `INTEGER PRIMARY KEY`, the rowid itself (a lookup by
    key reads the table's own B-tree, no separate index)."""
    return BigInteger().with_variant(Integer(), "sqlite")


metadata = MetaData()

patients = Table(
    "patients", metadata,
    Column("patient_id", _key(), primary_key=True, autoincrement=False),
    Column("name", Text, nullable=False),
    Column("age", Integer, nullable=False),
    Column("sex", String(1), nullable=False),
    Index("ix_patients_age", "age"),
)

diagnoses = Table(
    "diagnoses", metadata,
    Column("diagnosis_id", _key(), primary_key=True, autoincrement=False),
    Column("patient_id", BigInteger, ForeignKey("patients.patient_id"), nullable=False),
    Column("code", _c_text(16), nullable=False),
    Column("diagnosed_on", Date, nullable=False),
    Index("ix_diagnoses_code_patient", "code", "patient_id"),
    Index("ix_diagnoses_patient_code", "patient_id", "code"),
)

lab_results = Table(
    "lab_results", metadata,
    Column("result_id", _key(), primary_key=True, autoincrement=False),
    Column("patient_id", BigInteger, ForeignKey("patients.patient_id"), nullable=False),
    Column("test_name", Text, nullable=False),
    Column("value", Double, nullable=False),
    Column("unit", Text, nullable=False),
    Column("taken_on", Date, nullable=False),
    Index("ix_lab_results_patient_test_date", "patient_id", "test_name", "taken_on"),
)

variants = Table(
    "variants", metadata,
    Column("variant_id", _c_text(), primary_key=True),
    Column("chromosome", _c_text(2), nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("reference_allele", Text, nullable=False),
    Column("alternate_allele", Text, nullable=False),
    Column("genotype", Text, nullable=False),
    Column("quality", Double, nullable=False),
    Column("depth", Integer, nullable=False),
    Column("patient_id", BigInteger, ForeignKey("patients.patient_id"), nullable=True),
    Index("ix_variants_region", "chromosome", "position", "variant_id"),
    Index("ix_variants_depth", "depth"),
    Index("ix_variants_quality", "quality"),
)

holdings = Table(
    "mmbench_holdings", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("holdings", Text, nullable=False),
    Column("writes_since", BigInteger, nullable=False),
)

TABLES = {"patients": patients, "diagnoses": diagnoses, "lab_results": lab_results, "variants": variants}
