"""The four entities of the domain, plus the small result shapes some queries return.

All are frozen, slotted dataclasses: hashable, cheap, and comparable field by field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

CHROMOSOMES: tuple[str, ...] = tuple(str(n) for n in range(1, 23)) + ("X", "Y", "MT")
"""Valid chromosome names. Chromosome is always a string (`"4"`, `"X"`)."""

BASES = "ACGT"


@dataclass(frozen=True, slots=True)
class Patient:
    patient_id: int
    name: str
    age: int
    sex: str


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """One ICD-10-CM code given to a patient on a date."""

    diagnosis_id: int
    patient_id: int
    code: str
    diagnosed_on: dt.date


@dataclass(frozen=True, slots=True)
class LabResult:
    result_id: int
    patient_id: int
    test_name: str
    value: float
    unit: str
    taken_on: dt.date


@dataclass(frozen=True, slots=True)
class Variant:
    """One genotype call: the allele pair a sample carries at a position."""

    variant_id: str
    chromosome: str
    position: int
    reference_allele: str
    alternate_allele: str
    genotype: str
    quality: float
    depth: int
    patient_id: int | None = None


@dataclass(frozen=True, slots=True)
class PatientRecord:
    """A patient with its diagnoses (ordered by diagnosed_on, code, diagnosis_id)."""

    patient: Patient
    diagnoses: tuple[Diagnosis, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class CodeCount:
    """A diagnosis code and the number of distinct patients it counts."""

    code: str
    patients: int


@dataclass(frozen=True, slots=True)
class SharedDiagnoses:
    """Another patient and how many distinct codes it shares with the asked one."""

    patient_id: int
    shared: int


def rank_code_counts(counts: Mapping[str, int]) -> list[CodeCount]:
    """(code, patients) by patients desc, then code; codes counting nobody left out."""
    return [CodeCount(code, n) for code, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n]


def rank_shared(shared: Mapping[int, int]) -> list[SharedDiagnoses]:
    """(patient_id, shared codes) by shared desc, then patient_id."""
    return [SharedDiagnoses(pid, n) for pid, n in sorted(shared.items(), key=lambda kv: (-kv[1], kv[0]))]


def diagnosis_order(d: Diagnosis) -> tuple:
    """The order of diagnoses inside a PatientRecord."""
    return (d.diagnosed_on, d.code, d.diagnosis_id)
