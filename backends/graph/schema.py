"""The property graph: patients at the centre, codes as shared nodes, constraints on every id.

    (:Patient {patient_id, name, age, sex})
        -[:HAS_DIAGNOSIS {diagnosis_id, diagnosed_on}]-> (:Diagnosis {code})
        -[:HAS_RESULT]->  (:LabResult {result_id, test_name, value, unit, taken_on})
        -[:CARRIES]->     (:Variant {variant_id, chromosome, position, reference_allele,
                                     alternate_allele, genotype, quality, depth})

Why this shape:
- A `Diagnosis` node is an ICD-10-CM code, one per code; a diagnosis (the lecture's medical
  record row) is the HAS_DIAGNOSIS relationship, carrying its id and date. Patients with the
  same code meet at that node, so "who shares my diagnoses" and "what co-occurs with E11.9"
  are two-hop traversals patient -> code -> patient whose cost is the degrees walked, not
  the size of a table. A code node is dense (hypertension reaches ~40% of patients); Neo4j
  groups a dense node's relationships by type and direction, so walking from a code to its
  patients touches only HAS_DIAGNOSIS. A patient (~25 relationships of three types) stays
  below the engine's dense-node threshold (`db.relationship_grouping_threshold`, 50), so
  walking from a patient to its codes reads its whole relationship chain: that is where most
  db hits of `comorbid_codes` and `carriers_with_diagnosis` go (a threshold of 10 cuts them
  about threefold; it is a server setting, not part of this schema).
- Lab results are nodes, not properties of a relationship to a shared `(:LabTest {name})`
  node: such a node would be a supernode by design (every patient's glucose hangs off one
  node) and no query goes through it. `lab_history` starts from the patient (~10 results
  each) and filters them by test and date; a node also keeps the result's own identity
  (`result_id`, constrained unique) and leaves room to link a result to what it measured.
- A `Variant` is one genotype call, as in the catalog, and CARRIES links it to the patient
  whose sample it came from (calls without a sample have no CARRIES). Foreign keys are
  relationships only: no `patient_id` property is copied onto diagnoses, results or
  variants; answers that need it read it across the relationship.
- Dates are Neo4j `Date` values (the driver maps `datetime.date`), so date ranges compare
  natively; chromosome and code are strings, compared by code point as the catalog wants.

Names: every label, relationship type, index and constraint above carries the scope of its
namespace and generation slot (`Patient_graph_a`, `patient_id_graph_a`): see `engine.py`.

Indexes: a uniqueness constraint (backed by a range index) on every id: Patient.patient_id,
Diagnosis.code, LabResult.result_id, Variant.variant_id and HAS_DIAGNOSIS.diagnosis_id (a
relationship uniqueness constraint, in Community since 5.7). They are the anchors of every
point lookup and of the bulk load, which matches relationship ends by id. Range indexes
serve the range filters: Variant(chromosome, position) (a composite: equality on the
chromosome, then a range seek on position, for the chromosome and region queries),
Patient(age), Variant(depth), Variant(quality). All are created on the empty labels when a
load begins and maintained as rows arrive: at these sizes, dropping and rebuilding them after
the load cost more than it saved.
"""

from __future__ import annotations

from backends.graph.engine import Design, SchemaItem

LABELS = ("LabResult", "Variant", "Diagnosis", "Patient")  # emptied in this order (see engine.Design)
TYPES = ("HAS_DIAGNOSIS", "HAS_RESULT", "CARRIES")

CONSTRAINTS: tuple[SchemaItem, ...] = (
    SchemaItem("patient_id", "CONSTRAINT",
               "CREATE CONSTRAINT {name} IF NOT EXISTS FOR (p:Patient) REQUIRE p.patient_id IS UNIQUE"),
    SchemaItem("diagnosis_code", "CONSTRAINT",
               "CREATE CONSTRAINT {name} IF NOT EXISTS FOR (c:Diagnosis) REQUIRE c.code IS UNIQUE"),
    SchemaItem("diagnosis_id", "CONSTRAINT",
               "CREATE CONSTRAINT {name} IF NOT EXISTS FOR ()-[d:HAS_DIAGNOSIS]-() REQUIRE d.diagnosis_id IS UNIQUE"),
    SchemaItem("lab_result_id", "CONSTRAINT",
               "CREATE CONSTRAINT {name} IF NOT EXISTS FOR (r:LabResult) REQUIRE r.result_id IS UNIQUE"),
    SchemaItem("variant_id", "CONSTRAINT",
               "CREATE CONSTRAINT {name} IF NOT EXISTS FOR (v:Variant) REQUIRE v.variant_id IS UNIQUE"),
)

INDEXES: tuple[SchemaItem, ...] = (
    SchemaItem("patient_age", "INDEX", "CREATE RANGE INDEX {name} IF NOT EXISTS FOR (p:Patient) ON (p.age)"),
    SchemaItem("variant_region", "INDEX",
               "CREATE RANGE INDEX {name} IF NOT EXISTS FOR (v:Variant) ON (v.chromosome, v.position)"),
    SchemaItem("variant_depth", "INDEX", "CREATE RANGE INDEX {name} IF NOT EXISTS FOR (v:Variant) ON (v.depth)"),
    SchemaItem("variant_quality", "INDEX", "CREATE RANGE INDEX {name} IF NOT EXISTS FOR (v:Variant) ON (v.quality)"),
)

DESIGN = Design(marker="", labels=LABELS, types=TYPES, schema=CONSTRAINTS + INDEXES, dense=("Diagnosis",))
