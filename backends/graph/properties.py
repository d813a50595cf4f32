"""`neo4j:properties`: the graph design with diagnosis codes as list properties of the patient
(see `properties_schema.py` for the shape and what it gains and loses against `neo4j`).

Same engine, settings, namespaces, atomic-replace load, guard and `explain` as the default
design (`engine.py`); the variant and lab-result statements are the default design's
(`cypher.py`), scoped to this design's labels. The statements that differ are below: every
code-anchored question scans the patients and tests list membership, because no index
serves it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from backends.graph import cypher, properties_schema
from backends.graph.backend import Neo4jBackend
from backends.graph.engine import Design, Tx, Unmatched
from models.dataset import EntityKind
from models.entities import (
    CodeCount,
    Diagnosis,
    Patient,
    PatientRecord,
    SharedDiagnoses,
)

PATIENT_ROW = cypher.PATIENT_ROW

# The patient and its diagnoses, rebuilt from the three parallel lists in the catalog's order.
PATIENT_BY_ID = f"""
MATCH (p:Patient {{patient_id: $patient_id}})
RETURN {PATIENT_ROW}, COLLECT {{
    UNWIND range(0, size(p.diagnosis_ids) - 1) AS i
    WITH p.diagnosis_ids[i] AS did, p.diagnosis_codes[i] AS code, p.diagnosis_dates[i] AS day
    RETURN [did, code, day] ORDER BY day, code, did
}}"""

# No index serves list membership: a scan of the patients, each read once.
PATIENTS_WITH_DIAGNOSIS = f"MATCH (p:Patient) WHERE $code IN p.diagnosis_codes RETURN {PATIENT_ROW}"

DIAGNOSIS_COUNTS = """
MATCH (p:Patient)
UNWIND p.diagnosis_codes AS code
RETURN code, count(DISTINCT p) AS patients ORDER BY patients DESC, code"""

DIAGNOSIS_COUNTS_OLDER = """
MATCH (p:Patient) WHERE p.age > $min_age
UNWIND p.diagnosis_codes AS code
RETURN code, count(DISTINCT p) AS patients ORDER BY patients DESC, code"""

# Region seek -> carriers -> their own code list: no hop to a code node.
CARRIERS_WITH_DIAGNOSIS = f"""
MATCH (v:Variant) WHERE v.chromosome = $chromosome AND $start <= v.position <= $end
MATCH (v)<-[:CARRIES]-(p)
WITH DISTINCT p
WHERE $code IN p.diagnosis_codes
RETURN {PATIENT_ROW}"""

# My distinct codes, then one scan of the other patients counting the codes they share (each
# patient's list read once).
PATIENTS_SHARING_DIAGNOSES = """
MATCH (me:Patient {patient_id: $patient_id})
WITH me, COLLECT { UNWIND me.diagnosis_codes AS code RETURN DISTINCT code } AS mine
MATCH (other:Patient) WHERE other <> me
WITH other, mine, other.diagnosis_codes AS theirs
WITH other, size([code IN mine WHERE code IN theirs]) AS shared
WHERE shared > 0
RETURN other.patient_id AS patient_id, shared ORDER BY shared DESC, patient_id"""

# The patients with the code (a scan), then the other codes in their lists.
COMORBID_CODES = """
MATCH (p:Patient) WHERE $code IN p.diagnosis_codes
UNWIND p.diagnosis_codes AS other
WITH p, other WHERE other <> $code
RETURN other AS code, count(DISTINCT p) AS patients ORDER BY patients DESC, code"""

CREATE_PATIENTS = """
UNWIND $rows AS r
CREATE (:Patient {patient_id: r.patient_id, name: r.name, age: r.age, sex: r.sex,
                  diagnosis_ids: [], diagnosis_codes: [], diagnosis_dates: []})"""

# One row per patient (grouped by the client). The right-hand side reads the property it sets, so
# Cypher takes the node's write lock before reading it (the Neo4j manual, "Lost updates"):
# concurrent appends to one patient serialise instead of losing one another.
APPEND_DIAGNOSES = """
UNWIND $rows AS r
MATCH (p:Patient {patient_id: r.patient_id})
SET p.diagnosis_ids = p.diagnosis_ids + r.ids, p.diagnosis_codes = p.diagnosis_codes + r.codes,
    p.diagnosis_dates = p.diagnosis_dates + r.dates
RETURN collect(p.patient_id)"""


class Neo4jPropertiesBackend(Neo4jBackend):
    """Diagnoses as three parallel list properties of the patient node."""

    name: ClassVar[str] = "neo4j:properties"
    design: ClassVar[Design] = properties_schema.DESIGN

    def patient_by_id(self, *, patient_id: int) -> PatientRecord | None:
        rows = self.read(PATIENT_BY_ID, {"patient_id": patient_id})
        if not rows:
            return None
        pid, name, age, sex, diagnoses = rows[0]
        return PatientRecord(Patient(pid, name, age, sex), tuple(
            Diagnosis(diagnosis_id, pid, code, on.to_native()) for diagnosis_id, code, on in diagnoses))

    def patients_with_diagnosis(self, *, code: str) -> list[Patient]:
        return [Patient(*r) for r in self.read(PATIENTS_WITH_DIAGNOSIS, {"code": code})]

    def diagnosis_counts(self, *, min_age: int | None = None) -> list[CodeCount]:
        if min_age is None:
            return [CodeCount(*r) for r in self.read(DIAGNOSIS_COUNTS, {})]
        return [CodeCount(*r) for r in self.read(DIAGNOSIS_COUNTS_OLDER, {"min_age": min_age})]

    def carriers_with_diagnosis(self, *, chromosome: str, start: int, end: int, code: str) -> list[Patient]:
        return [Patient(*r) for r in self.read(CARRIERS_WITH_DIAGNOSIS, {
            "chromosome": chromosome, "start": start, "end": end, "code": code})]

    def patients_sharing_diagnoses(self, *, patient_id: int) -> list[SharedDiagnoses]:
        return [SharedDiagnoses(*r) for r in self.read(PATIENTS_SHARING_DIAGNOSES, {"patient_id": patient_id})]

    def comorbid_codes(self, *, code: str) -> list[CodeCount]:
        return [CodeCount(*r) for r in self.read(COMORBID_CODES, {"code": code})]

    def add_diagnosis(self, *, diagnosis_id: int, patient_id: int, code: str, diagnosed_on: dt.date) -> None:
        diagnosis = Diagnosis(diagnosis_id, patient_id, code, diagnosed_on)
        self.write(lambda tx: self.write_rows(tx, "diagnoses", [diagnosis]))

    def write_rows(self, tx: Tx, kind: EntityKind, items: list[Any]) -> None:
        """Patients with empty diagnosis lists; diagnoses appended to their patient's lists (one
        row per patient); lab results and variants as in the default design."""
        if kind == "patients" and items:
            rows = [{"patient_id": p.patient_id, "name": p.name, "age": p.age, "sex": p.sex} for p in items]
            if tx.run(CREATE_PATIENTS, rows=rows).counters.nodes_created != len(rows):
                raise Unmatched(f"{self.name}: patients not written: the data changed during the write")
        elif kind == "diagnoses" and items:
            groups: dict[int, dict[str, Any]] = {}
            for d in items:
                row = groups.get(d.patient_id)
                if row is None:
                    row = groups[d.patient_id] = {"patient_id": d.patient_id, "ids": [], "codes": [], "dates": []}
                row["ids"].append(d.diagnosis_id)
                row["codes"].append(d.code)
                row["dates"].append(d.diagnosed_on)
            records, _ = tx.rows(APPEND_DIAGNOSES, rows=list(groups.values()))
            found = set(records[0][0]) if records else set()
            if len(found) != len(groups):
                missing = sum(len(row["ids"]) for pid, row in groups.items() if pid not in found)
                raise Unmatched(f"{self.name}: {missing} of {len(items)} diagnoses name a patient that does not exist")
        else:
            super().write_rows(tx, kind, items)
