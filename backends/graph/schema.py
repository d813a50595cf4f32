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

Indexes: a uniqueness constraint (backed by a range index) on every id: Patient.patient_id,
Diagnosis.code, LabResult.result_id, Variant.variant_id and HAS_DIAGNOSIS.diagnosis_id (a
relationship uniqueness constraint, in Community since 5.7). They are the anchors of every
point lookup and of the bulk load, which matches relationship ends by id. Range indexes
serve the range filters: Variant(chromosome, position) (a composite: equality on the
chromosome, then a range seek on position, for the chromosome and region queries),
Patient(age), Variant(depth), Variant(quality). These four secondary indexes are built
after their entities are loaded (one population pass instead of maintenance per insert).
"""

from __future__ import annotations

from dataclasses import dataclass

from models.dataset import EntityKind


@dataclass(frozen=True)
class SchemaItem:
    """A named constraint or index and the Cypher that creates it."""

    name: str
    create: str


CONSTRAINTS: tuple[SchemaItem, ...] = (
    SchemaItem("patient_id", "CREATE CONSTRAINT patient_id IF NOT EXISTS "
                             "FOR (p:Patient) REQUIRE p.patient_id IS UNIQUE"),
    SchemaItem("diagnosis_code", "CREATE CONSTRAINT diagnosis_code IF NOT EXISTS "
                                 "FOR (c:Diagnosis) REQUIRE c.code IS UNIQUE"),
    SchemaItem("diagnosis_id", "CREATE CONSTRAINT diagnosis_id IF NOT EXISTS "
                               "FOR ()-[d:HAS_DIAGNOSIS]-() REQUIRE d.diagnosis_id IS UNIQUE"),
    SchemaItem("lab_result_id", "CREATE CONSTRAINT lab_result_id IF NOT EXISTS "
                                "FOR (r:LabResult) REQUIRE r.result_id IS UNIQUE"),
    SchemaItem("variant_id", "CREATE CONSTRAINT variant_id IF NOT EXISTS "
                             "FOR (v:Variant) REQUIRE v.variant_id IS UNIQUE"),
)

SECONDARY_INDEXES: dict[EntityKind, tuple[SchemaItem, ...]] = {
    "patients": (
        SchemaItem("patient_age", "CREATE RANGE INDEX patient_age IF NOT EXISTS FOR (p:Patient) ON (p.age)"),
    ),
    "variants": (
        SchemaItem("variant_region", "CREATE RANGE INDEX variant_region IF NOT EXISTS "
                                     "FOR (v:Variant) ON (v.chromosome, v.position)"),
        SchemaItem("variant_depth", "CREATE RANGE INDEX variant_depth IF NOT EXISTS FOR (v:Variant) ON (v.depth)"),
        SchemaItem("variant_quality", "CREATE RANGE INDEX variant_quality IF NOT EXISTS "
                                      "FOR (v:Variant) ON (v.quality)"),
    ),
}

ALL_SECONDARY: tuple[SchemaItem, ...] = tuple(i for items in SECONDARY_INDEXES.values() for i in items)

# -- maintenance statements (names are bound as parameters)

DROP_CONSTRAINT = "DROP CONSTRAINT $name IF EXISTS"
DROP_INDEX = "DROP INDEX $name IF EXISTS"
AWAIT_INDEXES = "CALL db.awaitIndexes($seconds)"
# Fresh index samples and an empty plan cache: the next queries are planned for the data loaded.
PREPARE_FOR_REPLANNING = "CALL db.prepareForReplanning($seconds)"
# Only mmbench's own relationships and nodes (the database may hold other data): relationships
# first, then nodes, in batches, so a transaction's state stays bounded, where DETACH DELETE of
# 10,000 patients would also take their ~140,000 relationships at once.
DELETE_ALL = (
    "MATCH ()-[r:HAS_DIAGNOSIS|HAS_RESULT|CARRIES]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 20000 ROWS",
    "MATCH (n) WHERE n:Patient OR n:Diagnosis OR n:LabResult OR n:Variant "
    "CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 20000 ROWS",
)
