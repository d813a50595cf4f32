"""The executable meaning of every catalog query: an in-memory oracle over a Dataset.

`Reference(data)` holds the data set in plain Python structures and answers each query by
its definition, as simply as possible. Writes change its state, so a test can apply the
same write to a backend and to the reference and then compare reads. Every backend must
give answers whose canonical form (`QuerySpec.canonical`) equals the reference's.

Semantics fixed here:
- "older than", "min_depth", "min_quality" are strict `>`; regions and date ranges are
  inclusive at both ends;
- counts are of distinct patients (a code given twice to one patient counts once);
- ties are broken by the secondary key named in the catalog (position then variant_id;
  taken_on then result_id; patients desc then code; shared desc then patient_id);
- strings order by code point (as SQL's "C"/binary collation).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict

from models.dataset import Dataset
from models.entities import (
    CodeCount,
    Diagnosis,
    LabResult,
    Patient,
    PatientRecord,
    SharedDiagnoses,
    Variant,
    diagnosis_order,
    rank_code_counts,
    rank_shared,
)


class Reference:
    """The oracle. Same method names and keyword parameters as every Backend."""

    def __init__(self, data: Dataset) -> None:
        self.patients: dict[int, Patient] = {p.patient_id: p for p in data.patients()}
        self.diagnoses: list[Diagnosis] = list(data.diagnoses())
        self.lab_results: list[LabResult] = list(data.lab_results())
        self.variants: dict[str, Variant] = {v.variant_id: v for v in data.variants()}

    # -- helpers

    def _codes_of(self, patient_id: int) -> set[str]:
        return {d.code for d in self.diagnoses if d.patient_id == patient_id}

    def _patients_by_code(self) -> dict[str, set[int]]:
        out: dict[str, set[int]] = defaultdict(set)
        for d in self.diagnoses:
            out[d.code].add(d.patient_id)
        return out

    # -- variants

    def variant_by_id(self, *, variant_id: str) -> Variant | None:
        return self.variants.get(variant_id)

    def variants_by_chromosome(self, *, chromosome: str) -> list[Variant]:
        found = [v for v in self.variants.values() if v.chromosome == chromosome]
        return sorted(found, key=lambda v: (v.position, v.variant_id))

    def variants_in_region(self, *, chromosome: str, start: int, end: int) -> list[Variant]:
        return [v for v in self.variants_by_chromosome(chromosome=chromosome) if start <= v.position <= end]

    def variants_min_depth(self, *, min_depth: int) -> list[Variant]:
        return [v for v in self.variants.values() if v.depth > min_depth]

    def variants_min_quality(self, *, min_quality: float) -> list[Variant]:
        return [v for v in self.variants.values() if v.quality > min_quality]

    def all_variants(self) -> list[Variant]:
        return list(self.variants.values())

    # -- patients and diagnoses

    def patient_by_id(self, *, patient_id: int) -> PatientRecord | None:
        patient = self.patients.get(patient_id)
        if patient is None:
            return None
        diagnoses = sorted((d for d in self.diagnoses if d.patient_id == patient_id), key=diagnosis_order)
        return PatientRecord(patient, tuple(diagnoses))

    def patients_older_than(self, *, age: int) -> list[Patient]:
        return [p for p in self.patients.values() if p.age > age]

    def patients_with_diagnosis(self, *, code: str) -> list[Patient]:
        ids = self._patients_by_code().get(code, set())
        return [self.patients[i] for i in ids]

    def diagnosis_counts(self, *, min_age: int | None = None) -> list[CodeCount]:
        counter: Counter[str] = Counter()
        for code, ids in self._patients_by_code().items():
            n = sum(1 for i in ids if min_age is None or self.patients[i].age > min_age)
            if n:
                counter[code] = n
        return rank_code_counts(counter)

    def lab_history(self, *, patient_id: int, test_name: str, since: dt.date, until: dt.date) -> list[LabResult]:
        found = [r for r in self.lab_results
                 if r.patient_id == patient_id and r.test_name == test_name and since <= r.taken_on <= until]
        return sorted(found, key=lambda r: (r.taken_on, r.result_id))

    def carriers_with_diagnosis(self, *, chromosome: str, start: int, end: int, code: str) -> list[Patient]:
        carriers = {v.patient_id for v in self.variants_in_region(chromosome=chromosome, start=start, end=end)}
        having = self._patients_by_code().get(code, set())
        return [self.patients[i] for i in carriers & having]

    def patients_sharing_diagnoses(self, *, patient_id: int) -> list[SharedDiagnoses]:
        mine = self._codes_of(patient_id)
        shared: dict[int, set[str]] = defaultdict(set)
        for d in self.diagnoses:
            if d.patient_id != patient_id and d.code in mine:
                shared[d.patient_id].add(d.code)
        return rank_shared({pid: len(codes) for pid, codes in shared.items()})

    def comorbid_codes(self, *, code: str) -> list[CodeCount]:
        having = self._patients_by_code().get(code, set())
        pairs = {(d.patient_id, d.code) for d in self.diagnoses if d.patient_id in having and d.code != code}
        return rank_code_counts(Counter(c for _, c in pairs))

    # -- writes

    def add_patient(self, *, patient: PatientRecord) -> None:
        self.patients[patient.patient.patient_id] = patient.patient
        self.diagnoses.extend(patient.diagnoses)

    def add_diagnosis(self, *, diagnosis_id: int, patient_id: int, code: str, diagnosed_on: dt.date) -> None:
        self.diagnoses.append(Diagnosis(diagnosis_id, patient_id, code, diagnosed_on))

    def add_variants(self, *, variants: list[Variant]) -> None:
        for v in variants:
            self.variants[v.variant_id] = v
