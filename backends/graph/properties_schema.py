"""The `neo4j:properties` design: diagnosis codes as list properties of the patient node.

    (:Patient {patient_id, name, age, sex,
               diagnosis_ids: [int], diagnosis_codes: [str], diagnosis_dates: [date]})
        -[:HAS_RESULT]->  (:LabResult {result_id, test_name, value, unit, taken_on})
        -[:CARRIES]->     (:Variant {variant_id, chromosome, position, ...})

A patient's diagnoses are three parallel lists on its node: the i-th diagnosis is
(`diagnosis_ids[i]`, `diagnosis_codes[i]`, `diagnosis_dates[i]`). Every write appends to the
three lists in one SET, so they stay aligned, and Neo4j stores lists of integers, strings and
`Date` values natively (homogeneous arrays), so ids, codes and dates round-trip exactly, with no
encoding. `patient_by_id` orders them on the server (diagnosed_on, code, id). Lab results and
variants are the default design's nodes and relationships.

What it optimises: the patient is one node read, and a question that starts from patients
already in hand gets their codes for free (`carriers_with_diagnosis` filters the carriers by
`$code IN p.diagnosis_codes` instead of walking HAS_DIAGNOSIS relationships). What it costs:
no index serves membership in a list (range indexes do not index list elements), so every
question that starts from a code (`patients_with_diagnosis`, `comorbid_codes`,
`diagnosis_counts`, `patients_sharing_diagnoses`) scans all patients and reads their lists,
where the default design walks from one code node to exactly its patients; a diagnosis id can
no longer be constrained unique by the engine; and adding a diagnosis rewrites the patient's
three lists (Cypher locks the node before reading lists it rewrites, so concurrent writes to
one patient serialise instead of losing an update).

Indexes: uniqueness constraints on Patient.patient_id, LabResult.result_id, Variant.variant_id;
range indexes on Patient(age), Variant(chromosome, position), Variant(depth), Variant(quality),
all scoped to the namespace and generation like the default design's (see `engine.py`).
"""

from __future__ import annotations

from backends.graph import schema
from backends.graph.engine import Design

LABELS = ("LabResult", "Variant", "Patient")
TYPES = ("HAS_RESULT", "CARRIES")

DESIGN = Design(
    marker="Props", labels=LABELS, types=TYPES,
    schema=tuple(item for item in schema.CONSTRAINTS + schema.INDEXES
                 if item.name not in {"diagnosis_code", "diagnosis_id"}),
)
