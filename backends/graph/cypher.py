"""Every Cypher statement of the graph backend: the catalog's reads, the writes, the bulk load.

All values are bound parameters (`$name`); the only text put together here is property
lists taken from the entity field names. Labels and relationship types are written unscoped
(`:Patient`): the engine scopes them to the namespace and generation, and puts the generation
guard in front of each catalog statement (see `engine.py`). Each selective read starts from an index: a
uniqueness constraint for ids and codes, a range index for ages, depths, qualities and
regions (`all_variants` and the unfiltered `diagnosis_counts` scan their label). The
multi-hop questions are traversals from that anchor (see the notes on each), checked with
PROFILE (`explain`).

Labels are left off a pattern's far end when the relationship type alone fixes it (only
patients have HAS_DIAGNOSIS, HAS_RESULT and CARRIES; HAS_DIAGNOSIS always ends at a
Diagnosis), which spares a label check per row.
"""

from __future__ import annotations

from models.dataset import FIELDS


def _props(var: str, names: tuple[str, ...]) -> str:
    return ", ".join(f"{var}.{n}" for n in names)


PATIENT_PROPS = FIELDS["patients"]
VARIANT_PROPS = tuple(f for f in FIELDS["variants"] if f != "patient_id")
LAB_PROPS = tuple(f for f in FIELDS["lab_results"] if f != "patient_id")

PATIENT_ROW = _props("p", PATIENT_PROPS)
# A variant's patient is read across CARRIES (none for a call without a sample).
VARIANT_ROW = f"{_props('v', VARIANT_PROPS)}, [(v)<-[:CARRIES]-(p) | p.patient_id][0]"

# -- variants

VARIANT_BY_ID = f"MATCH (v:Variant {{variant_id: $variant_id}}) RETURN {VARIANT_ROW}"

# Composite index seek on (chromosome, position): a composite index serves a query only with a
# predicate on each of its properties, hence the (always true) `position IS NOT NULL`.
VARIANTS_BY_CHROMOSOME = f"""
MATCH (v:Variant) WHERE v.chromosome = $chromosome AND v.position IS NOT NULL
RETURN {VARIANT_ROW} ORDER BY v.position, v.variant_id"""

VARIANTS_IN_REGION = f"""
MATCH (v:Variant) WHERE v.chromosome = $chromosome AND $start <= v.position <= $end
RETURN {VARIANT_ROW} ORDER BY v.position, v.variant_id"""

VARIANTS_MIN_DEPTH = f"MATCH (v:Variant) WHERE v.depth > $min_depth RETURN {VARIANT_ROW}"

VARIANTS_MIN_QUALITY = f"MATCH (v:Variant) WHERE v.quality > $min_quality RETURN {VARIANT_ROW}"

ALL_VARIANTS = f"MATCH (v:Variant) RETURN {VARIANT_ROW}"

# -- patients and diagnoses

# The patient and, in one row, its diagnoses in the catalog's order (a COLLECT subquery).
PATIENT_BY_ID = f"""
MATCH (p:Patient {{patient_id: $patient_id}})
RETURN {PATIENT_ROW}, COLLECT {{
    MATCH (p)-[d:HAS_DIAGNOSIS]->(c)
    RETURN [d.diagnosis_id, c.code, d.diagnosed_on] ORDER BY d.diagnosed_on, c.code, d.diagnosis_id
}}"""

PATIENTS_OLDER_THAN = f"MATCH (p:Patient) WHERE p.age > $age RETURN {PATIENT_ROW}"

# From the code node to its patients; DISTINCT: a patient may have the code twice.
PATIENTS_WITH_DIAGNOSIS = f"""
MATCH (:Diagnosis {{code: $code}})<-[:HAS_DIAGNOSIS]-(p)
WITH DISTINCT p
RETURN {PATIENT_ROW}"""

# Every code node and the distinct patients reaching it.
DIAGNOSIS_COUNTS = """
MATCH (c:Diagnosis)<-[:HAS_DIAGNOSIS]-(p)
RETURN c.code AS code, count(DISTINCT p) AS patients ORDER BY patients DESC, code"""

# Start from the (range-indexed) older patients, then walk to their codes.
DIAGNOSIS_COUNTS_OLDER = """
MATCH (p:Patient) WHERE p.age > $min_age
MATCH (p)-[:HAS_DIAGNOSIS]->(c)
RETURN c.code AS code, count(DISTINCT p) AS patients ORDER BY patients DESC, code"""

# From the patient to its ~10 results, filtered by test and date.
LAB_HISTORY = f"""
MATCH (:Patient {{patient_id: $patient_id}})-[:HAS_RESULT]->(r:LabResult)
WHERE r.test_name = $test_name AND $since <= r.taken_on <= $until
RETURN {_props('r', LAB_PROPS)} ORDER BY r.taken_on, r.result_id"""

# -- the multi-hop questions

# Region seek on the composite index -> carriers across CARRIES, de-duplicated -> keep those
# with a HAS_DIAGNOSIS to the code node (found once by its unique index): an Expand(Into)
# between two bound nodes, no scan of the code's (possibly thousands of) patients.
CARRIERS_WITH_DIAGNOSIS = f"""
MATCH (c:Diagnosis {{code: $code}})
MATCH (v:Variant) WHERE v.chromosome = $chromosome AND $start <= v.position <= $end
MATCH (v)<-[:CARRIES]-(p)
WITH DISTINCT c, p
WHERE (p)-[:HAS_DIAGNOSIS]->(c)
RETURN {PATIENT_ROW}"""

# Patient -> its distinct codes -> the other patients with each code; count codes per patient.
PATIENTS_SHARING_DIAGNOSES = """
MATCH (me:Patient {patient_id: $patient_id})-[:HAS_DIAGNOSIS]->(c)
WITH DISTINCT me, c
MATCH (c)<-[:HAS_DIAGNOSIS]-(other)
WHERE other <> me
WITH other, count(DISTINCT c) AS shared
RETURN other.patient_id AS patient_id, shared ORDER BY shared DESC, patient_id"""

# Code -> its distinct patients -> their other codes; count patients per code.
COMORBID_CODES = """
MATCH (c:Diagnosis {code: $code})<-[:HAS_DIAGNOSIS]-(p)
WITH DISTINCT c, p
MATCH (p)-[:HAS_DIAGNOSIS]->(other)
WHERE other <> c
WITH other, count(DISTINCT p) AS patients
RETURN other.code AS code, patients ORDER BY patients DESC, code"""

# -- writes: the bulk load and the catalog's writes share these ($rows: a batch of entity maps)

CREATE_PATIENTS = """
UNWIND $rows AS r
CREATE (:Patient {patient_id: r.patient_id, name: r.name, age: r.age, sex: r.sex})"""

# Code nodes first (MERGE on the unique code), then the relationships between indexed ids.
MERGE_CODES = "UNWIND $codes AS code MERGE (:Diagnosis {code: code})"

CREATE_DIAGNOSES = """
UNWIND $rows AS r
MATCH (p:Patient {patient_id: r.patient_id})
MATCH (c:Diagnosis {code: r.code})
CREATE (p)-[:HAS_DIAGNOSIS {diagnosis_id: r.diagnosis_id, diagnosed_on: r.diagnosed_on}]->(c)"""

# Each result node is created with its relationship to the (indexed, already loaded) patient.
CREATE_LAB_RESULTS = """
UNWIND $rows AS r
MATCH (p:Patient {patient_id: r.patient_id})
CREATE (p)-[:HAS_RESULT]->(:LabResult {result_id: r.result_id, test_name: r.test_name,
                                       value: r.value, unit: r.unit, taken_on: r.taken_on})"""

# Variant nodes, then CARRIES from their patient where the call has one.
CREATE_VARIANTS = """
UNWIND $rows AS r
CREATE (v:Variant {variant_id: r.variant_id, chromosome: r.chromosome, position: r.position,
                   reference_allele: r.reference_allele, alternate_allele: r.alternate_allele,
                   genotype: r.genotype, quality: r.quality, depth: r.depth})
WITH v, r.patient_id AS patient_id WHERE patient_id IS NOT NULL
MATCH (p:Patient {patient_id: patient_id})
CREATE (p)-[:CARRIES]->(v)"""
