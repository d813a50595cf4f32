"""Every CQL statement the backend runs on its data, as text to prepare once per data generation
(`{ks}`: the generation's keyspace).

Values are always bound (`?`); only the keyspace name, a validated identifier, is formatted in.
Statements in `WRITES` run at the write consistency level, all others at the read level.
Column lists follow the entity field order, so rows map straight onto the dataclasses.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import itemgetter
from typing import Any

from models.dataset import FIELDS

VARIANT = ", ".join(FIELDS["variants"])
LAB = ", ".join(FIELDS["lab_results"])
PATIENT = ", ".join(FIELDS["patients"])
DIAGNOSIS = ", ".join(FIELDS["diagnoses"])
REGION = "chromosome = ? AND bucket = ? AND position >= ? AND position <= ?"


def _insert(table: str, columns: str) -> str:
    marks = ", ".join("?" for _ in columns.split(","))
    return f"INSERT INTO {{ks}}.{table} ({columns}) VALUES ({marks})"


CQL: dict[str, str] = {
    # -- writes
    "insert_patient": _insert("patients", PATIENT),
    "insert_diagnosis": _insert("patients", DIAGNOSIS),
    "insert_patient_by_diagnosis": _insert("patients_by_diagnosis", f"code, {PATIENT}"),
    "insert_comorbidity": _insert("comorbidities", "code, other_code, patient_id"),
    "insert_lab_result": _insert("lab_results", LAB),
    "insert_variant": _insert("variants", VARIANT),
    "insert_variant_by_region": _insert("variants_by_region", f"bucket, {VARIANT}"),
    "insert_variant_bucket": _insert("variant_buckets", "chromosome, bucket"),
    # -- patients and diagnoses
    "patient_by_id": f"SELECT {PATIENT}, diagnosis_id, code, diagnosed_on FROM {{ks}}.patients WHERE patient_id = ?",
    "patient_codes": f"SELECT {PATIENT}, code FROM {{ks}}.patients WHERE patient_id = ?",
    "all_patient_codes": f"SELECT {PATIENT}, code FROM {{ks}}.patients",
    "patients_older_than": f"SELECT DISTINCT {PATIENT} FROM {{ks}}.patients WHERE age > ?",
    "patients_with_diagnosis": f"SELECT {PATIENT} FROM {{ks}}.patients_by_diagnosis WHERE code = ?",
    "patient_ids_with_diagnosis": "SELECT patient_id FROM {ks}.patients_by_diagnosis WHERE code = ?",
    "diagnosis_counts": "SELECT code, COUNT(*) FROM {ks}.patients_by_diagnosis GROUP BY code",
    "diagnosis_counts_older": "SELECT code, COUNT(*) FROM {ks}.patients_by_diagnosis WHERE age > ? GROUP BY code",
    "comorbid_codes": "SELECT other_code, COUNT(*) FROM {ks}.comorbidities WHERE code = ? GROUP BY other_code",
    "lab_history": (f"SELECT {LAB} FROM {{ks}}.lab_results"
                    " WHERE patient_id = ? AND test_name = ? AND taken_on >= ? AND taken_on <= ?"),
    # -- variants
    "variant_by_id": f"SELECT {VARIANT} FROM {{ks}}.variants WHERE variant_id = ?",
    "variants_min_depth": f"SELECT {VARIANT} FROM {{ks}}.variants WHERE depth > ?",
    "variants_min_quality": f"SELECT {VARIANT} FROM {{ks}}.variants WHERE quality > ?",
    "all_variants": f"SELECT {VARIANT} FROM {{ks}}.variants",
    "variant_buckets": "SELECT bucket FROM {ks}.variant_buckets WHERE chromosome = ? AND bucket >= ? AND bucket <= ?",
    "variants_in_bucket": f"SELECT {VARIANT} FROM {{ks}}.variants_by_region WHERE {REGION}",
    "carriers_in_bucket": f"SELECT patient_id FROM {{ks}}.variants_by_region WHERE {REGION}",
    # -- undoing an explained write (scratch ids only)
    "delete_patient": "DELETE FROM {ks}.patients WHERE patient_id = ?",
    "delete_patient_by_diagnosis": "DELETE FROM {ks}.patients_by_diagnosis WHERE code = ? AND patient_id = ?",
    "delete_comorbidity": "DELETE FROM {ks}.comorbidities WHERE code = ? AND other_code = ? AND patient_id = ?",
    "delete_variant": "DELETE FROM {ks}.variants WHERE variant_id = ?",
    "delete_variant_by_region": ("DELETE FROM {ks}.variants_by_region"
                                 " WHERE chromosome = ? AND bucket = ? AND position = ? AND variant_id = ?"),
    "delete_variant_bucket": "DELETE FROM {ks}.variant_buckets WHERE chromosome = ? AND bucket = ?",
}


PARTITION_KEY: dict[str, Callable[[tuple[Any, ...]], Any] | None] = {
    "insert_patient": None,  # one row per partition (the static columns)
    "insert_diagnosis": itemgetter(1),  # patient_id
    "insert_patient_by_diagnosis": itemgetter(0),  # code
    "insert_comorbidity": itemgetter(0),  # code
    "insert_lab_result": itemgetter(1, 2),  # patient_id, test_name
    "insert_variant": None,  # variant_id
    "insert_variant_by_region": itemgetter(0, 2),  # bucket, chromosome
    "insert_variant_bucket": itemgetter(0),  # chromosome
}
"""How to find the partition of an insert's parameter tuple (None: every row is its own), so bulk
loads can send the rows of one partition together."""

WRITES = frozenset(name for name in CQL if name.startswith(("insert_", "delete_")))
