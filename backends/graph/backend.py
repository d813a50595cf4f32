"""The graph model: Neo4j 5 through the official `neo4j` Python driver, the default design.

The graph is described in `schema.py`, the statements in `cypher.py`; what every graph design
shares (namespaces as label scopes, the atomic-replace load through a generation pointer node,
the generation guard, transactions, timeouts, errors, `explain`) in `engine.py`. Every catalog
query is one Cypher statement with bound parameters, answered natively: the multi-hop questions
(`patients_sharing_diagnoses`, `comorbid_codes`, `carriers_with_diagnosis`) are traversals
from an indexed anchor, not joins.

Load and replace: see `engine.py`: a load writes a fresh generation slot (`Patient_<ns>_b`...)
with its constraints and indexes in place, then one commit on the pointer node switches to it
and the old slot is dropped. A process killed mid-load leaves a partly written staging slot
(or a partly dropped old slot), which the next load of the namespace empties before writing.

Writes (`add_patient`, `add_diagnosis`, `add_variants`) are managed write transactions:
`add_patient` creates the patient and its diagnoses atomically, and a write whose
relationship finds no patient at its other end is rolled back with an error.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from backends.graph import cypher, schema
from backends.graph.engine import Design, GraphBackend, Tx, Unmatched
from models.dataset import FIELDS, EntityKind
from models.entities import (
    CodeCount,
    Diagnosis,
    LabResult,
    Patient,
    PatientRecord,
    SharedDiagnoses,
    Variant,
)


class Neo4jBackend(GraphBackend):
    """Patients, diagnosis codes, lab results and variant calls as nodes; diagnoses as relationships."""

    name: ClassVar[str] = "neo4j"
    design: ClassVar[Design] = schema.DESIGN

    # -- reads

    def variant_by_id(self, *, variant_id: str) -> Variant | None:
        rows = self.read(cypher.VARIANT_BY_ID, {"variant_id": variant_id})
        return Variant(*rows[0]) if rows else None

    def variants_by_chromosome(self, *, chromosome: str) -> list[Variant]:
        return [Variant(*r) for r in self.read(cypher.VARIANTS_BY_CHROMOSOME, {"chromosome": chromosome})]

    def variants_in_region(self, *, chromosome: str, start: int, end: int) -> list[Variant]:
        return [Variant(*r) for r in self.read(cypher.VARIANTS_IN_REGION,
                                               {"chromosome": chromosome, "start": start, "end": end})]

    def variants_min_depth(self, *, min_depth: int) -> list[Variant]:
        return [Variant(*r) for r in self.read(cypher.VARIANTS_MIN_DEPTH, {"min_depth": min_depth})]

    def variants_min_quality(self, *, min_quality: float) -> list[Variant]:
        return [Variant(*r) for r in self.read(cypher.VARIANTS_MIN_QUALITY, {"min_quality": min_quality})]

    def all_variants(self) -> list[Variant]:
        return [Variant(*r) for r in self.read(cypher.ALL_VARIANTS, {})]

    def patient_by_id(self, *, patient_id: int) -> PatientRecord | None:
        rows = self.read(cypher.PATIENT_BY_ID, {"patient_id": patient_id})
        if not rows:
            return None
        pid, name, age, sex, diagnoses = rows[0]
        return PatientRecord(Patient(pid, name, age, sex), tuple(
            Diagnosis(diagnosis_id, pid, code, on.to_native()) for diagnosis_id, code, on in diagnoses))

    def patients_older_than(self, *, age: int) -> list[Patient]:
        return [Patient(*r) for r in self.read(cypher.PATIENTS_OLDER_THAN, {"age": age})]

    def patients_with_diagnosis(self, *, code: str) -> list[Patient]:
        return [Patient(*r) for r in self.read(cypher.PATIENTS_WITH_DIAGNOSIS, {"code": code})]

    def diagnosis_counts(self, *, min_age: int | None = None) -> list[CodeCount]:
        if min_age is None:
            return [CodeCount(*r) for r in self.read(cypher.DIAGNOSIS_COUNTS, {})]
        return [CodeCount(*r) for r in self.read(cypher.DIAGNOSIS_COUNTS_OLDER, {"min_age": min_age})]

    def lab_history(self, *, patient_id: int, test_name: str, since: dt.date, until: dt.date) -> list[LabResult]:
        rows = self.read(cypher.LAB_HISTORY, {"patient_id": patient_id, "test_name": test_name,
                                              "since": since, "until": until})
        return [LabResult(result_id, patient_id, test, value, unit, on.to_native())
                for result_id, test, value, unit, on in rows]

    def carriers_with_diagnosis(self, *, chromosome: str, start: int, end: int, code: str) -> list[Patient]:
        return [Patient(*r) for r in self.read(cypher.CARRIERS_WITH_DIAGNOSIS, {
            "chromosome": chromosome, "start": start, "end": end, "code": code})]

    def patients_sharing_diagnoses(self, *, patient_id: int) -> list[SharedDiagnoses]:
        return [SharedDiagnoses(*r) for r in self.read(cypher.PATIENTS_SHARING_DIAGNOSES, {"patient_id": patient_id})]

    def comorbid_codes(self, *, code: str) -> list[CodeCount]:
        return [CodeCount(*r) for r in self.read(cypher.COMORBID_CODES, {"code": code})]

    # -- writes

    def add_patient(self, *, patient: PatientRecord) -> None:
        def work(tx: Tx) -> None:
            self.write_rows(tx, "patients", [patient.patient])
            self.write_rows(tx, "diagnoses", list(patient.diagnoses))

        self.write(work)

    def add_diagnosis(self, *, diagnosis_id: int, patient_id: int, code: str, diagnosed_on: dt.date) -> None:
        diagnosis = Diagnosis(diagnosis_id, patient_id, code, diagnosed_on)
        self.write(lambda tx: self.write_rows(tx, "diagnoses", [diagnosis]))

    def add_variants(self, *, variants: list[Variant]) -> None:
        if variants:
            self.write(lambda tx: self.write_rows(tx, "variants", variants))

    def write_rows(self, tx: Tx, kind: EntityKind, items: list[Any]) -> None:
        """Create the nodes and relationships of a batch of one kind, inside `tx`.

        A relationship whose patient does not exist would be silently missing: it raises
        Unmatched instead, which rolls the transaction back.
        """
        if not items:
            return
        fields = FIELDS[kind]
        rows = [{f: getattr(item, f) for f in fields} for item in items]
        nodes = len(rows)
        if kind == "patients":
            counters = tx.run(cypher.CREATE_PATIENTS, rows=rows).counters
            links = 0
        elif kind == "diagnoses":
            tx.run(cypher.MERGE_CODES, codes=sorted({r["code"] for r in rows}))
            counters = tx.run(cypher.CREATE_DIAGNOSES, rows=rows).counters
            nodes, links = 0, len(rows)
        elif kind == "lab_results":
            counters = tx.run(cypher.CREATE_LAB_RESULTS, rows=rows).counters
            links = len(rows)
        else:
            counters = tx.run(cypher.CREATE_VARIANTS, rows=rows).counters
            links = sum(r["patient_id"] is not None for r in rows)
        if counters.relationships_created != links or (nodes and counters.nodes_created < nodes):
            missing = links - counters.relationships_created
            raise Unmatched(f"{self.name}: {missing} of {len(rows)} {kind} name a patient that does not exist"
                            if missing else f"{self.name}: {kind} not written: the data changed during the write")
