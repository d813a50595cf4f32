"""Deterministic synthetic data at any scale, generated as a stream (flat memory).

`SyntheticDataset(scale=N, seed=S)`: N x 1,000 patients (~3 diagnoses, ~10 lab results each)
and N x 10,000 variant calls. The same (N, S) always gives the same data, and each entity
stream can be regenerated independently: patient k's facts come from its own RNG, seeded
by (S, k), so nothing has to be held in memory between streams.

What makes it look like real data:
- patients: an adult hospital age mix (median around 60), sexes about even;
- diagnoses: ICD-10-CM codes with age-dependent prevalence and the metabolic cluster
  (hypertension I10, type 2 diabetes E11.9, hyperlipidaemia E78.5) co-occurring, plus
  their downstream conditions (coronary disease, CKD stage 3) more likely among them;
  and a long tail of rarer real codes drawn from the ICD-10-CM table (`models.icd10`);
- lab results: the tests a clinician orders for those conditions (blood pressure for I10,
  HbA1c for diabetes, LDL for hyperlipidaemia, eGFR for CKD...) plus a basic panel, with
  units, per-patient baselines and visits spread over the years;
- variant calls: chromosomes weighted by their GRCh38 lengths (Y only for male patients),
  positions inside the chromosome, reference != alternate with transitions twice as
  frequent as transversions, genotypes as allele letters like the seed (`AG`),
  Phred-like quality and over-dispersed read depth.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from models import icd10
from models.dataset import Dataset
from models.entities import Diagnosis, LabResult, Patient, Variant

PATIENTS_PER_SCALE = 1_000
VARIANTS_PER_SCALE = 10_000
FIRST_PATIENT_ID = 100_001

GRCH38_LENGTHS: dict[str, int] = {
    "1": 248_956_422, "2": 242_193_529, "3": 198_295_559, "4": 190_214_555, "5": 181_538_259,
    "6": 170_805_979, "7": 159_345_973, "8": 145_138_636, "9": 138_394_717, "10": 133_797_422,
    "11": 135_086_622, "12": 133_275_309, "13": 114_364_328, "14": 107_043_718, "15": 101_991_189,
    "16": 90_338_345, "17": 83_257_441, "18": 80_373_285, "19": 58_617_616, "20": 64_444_167,
    "21": 46_709_983, "22": 50_818_468, "X": 156_040_895, "Y": 57_227_415, "MT": 16_569,
}
_CHROMS = list(GRCH38_LENGTHS)
_CHROM_CUM = list(accumulate(GRCH38_LENGTHS.values()))

TRANSITION = {"A": "G", "G": "A", "C": "T", "T": "C"}
TRANSVERSIONS = {"A": "CT", "G": "CT", "C": "AG", "T": "AG"}

FIRST_NAMES = {
    "F": ["Maria", "Aisha", "Priya", "Emma", "Yuki", "Olga", "Fatima", "Sofia", "Mei", "Anna", "Grace",
          "Amara", "Lucia", "Ingrid", "Chloe", "Noor", "Elena", "Hana", "Zoe", "Ana", "Laila", "Marta"],
    "M": ["John", "Wei", "Lars", "Tomas", "Kofi", "Ahmed", "Jorge", "Ivan", "Ravi", "Kenji", "Omar",
          "Pierre", "Jordi", "Samuel", "Arjun", "Lukas", "Mateo", "Daniel", "Tariq", "Pablo", "Erik", "Ali"],
}
LAST_NAMES = ["Doe", "Garcia", "Chen", "Bello", "Nilsson", "Nair", "Ruiz", "Wilson", "Mensah", "Tanaka",
              "Petrova", "Hassan", "Smith", "Kowalski", "Rossi", "Okafor", "Martin", "Singh", "Kim", "Novak",
              "Fernandez", "Muller", "Silva", "Ivanova", "Haddad", "Jensen", "Costa", "Sato", "Moreau", "Puig"]

# (low, high, weight): an adult hospital population, older than the general one.
AGE_BANDS = [(18, 29, 0.10), (30, 44, 0.15), (45, 64, 0.33), (65, 79, 0.28), (80, 95, 0.14)]


def _age_factor(age: int) -> float:
    """Relative risk of chronic conditions by age: 0.3 at 20, 1 at 55, ~1.8 at 85."""
    return max(0.3, min(1.9, 0.3 + (age - 20) / 50))


@dataclass(frozen=True)
class Condition:
    code: str
    base: float             # prevalence in a 55-year-old without risk factors
    aging: bool = True      # prevalence grows with age
    raised_by: tuple[tuple[str, float], ...] = ()  # (code, odds multiplier) of comorbidities
    female: float = 1.0     # multiplier for women


# In dependency order: a condition may be raised only by codes listed before it.
CONDITIONS = [
    Condition("I10", 0.50),                                        # essential hypertension
    Condition("E78.5", 0.32, raised_by=(("I10", 1.7),)),          # hyperlipidaemia
    Condition("E66.9", 0.16, aging=False, raised_by=(("I10", 1.4),)),  # obesity
    Condition("E11.9", 0.12, raised_by=(("I10", 1.9), ("E78.5", 1.8), ("E66.9", 2.0))),  # type 2 diabetes
    Condition("R73.03", 0.06, raised_by=(("E66.9", 1.6),)),       # prediabetes
    Condition("I25.10", 0.06, raised_by=(("I10", 2.0), ("E78.5", 2.0), ("E11.9", 1.6)), female=0.6),  # CAD
    Condition("N18.30", 0.04, raised_by=(("E11.9", 2.5), ("I10", 1.8))),  # CKD stage 3
    Condition("I48.91", 0.03, raised_by=(("I10", 1.6),)),         # atrial fibrillation
    Condition("I50.9", 0.02, raised_by=(("I25.10", 3.0), ("I48.91", 2.5))),  # heart failure
    Condition("J44.9", 0.04),                                      # COPD
    Condition("J45.909", 0.08, aging=False, female=1.3),           # asthma
    Condition("E03.9", 0.05, female=3.0),                          # hypothyroidism
    Condition("F32.9", 0.08, aging=False, female=1.7),             # depression
    Condition("F41.9", 0.07, aging=False, female=1.6),             # anxiety
    Condition("M54.50", 0.13, aging=False),                        # low back pain
    Condition("K21.9", 0.13),                                      # GERD
    Condition("M17.9", 0.05),                                      # knee osteoarthritis
    Condition("G47.33", 0.04, raised_by=(("E66.9", 2.5),), female=0.5),  # obstructive sleep apnoea
    Condition("E55.9", 0.05, aging=False),                         # vitamin D deficiency
    Condition("D64.9", 0.05, raised_by=(("N18.30", 2.0),)),       # anaemia
    Condition("N39.0", 0.03, aging=False, female=3.0),             # urinary tract infection
]


# The tail: up to TAIL_DRAWS rarer codes per patient (each with probability TAIL_P, scaled by
# age), drawn from the billable ICD-10-CM codes of chronic-care chapters (no sex-specific
# categories, no 7th-character encounter codes) with Zipf-like weights 1/(rank + 10) over a
# fixed shuffle: a few tail codes recur, most are rare, as in real problem lists.
TAIL_CHAPTERS = (("D50", "D89"), ("E00", "E89"), ("F01", "F99"), ("G00", "G99"), ("H00", "H95"),
                 ("I00", "I99"), ("J00", "J99"), ("K00", "K95"), ("L00", "L99"), ("M00", "M99"),
                 ("N00", "N39"))
TAIL_EXCLUDED = ("E28", "E29", "F53")  # ovarian, testicular, puerperal
TAIL_DRAWS, TAIL_P = 3, 0.1


@functools.cache
def tail_codes() -> tuple[tuple[str, ...], tuple[float, ...]]:
    """The tail's codes and their cumulative weights (deterministic for a table version)."""
    common = {c.code for c in CONDITIONS}
    pool = [c for c in icd10.billable_codes()
            if any(lo <= c[:3] <= hi for lo, hi in TAIL_CHAPTERS)
            and c[:3] not in TAIL_EXCLUDED and len(c) <= 7 and c not in common]
    random.Random("mmbench-icd10-tail").shuffle(pool)
    return tuple(pool), tuple(accumulate(1 / (rank + 10) for rank in range(1, len(pool) + 1)))


@dataclass(frozen=True)
class LabTest:
    name: str
    unit: str
    mean: float
    sd: float
    decimals: int
    shift: dict[str, float]  # mean shift when the patient has the code


TESTS = {
    "Systolic blood pressure": LabTest("Systolic blood pressure", "mmHg", 122, 9, 0, {"I10": 18}),
    "Diastolic blood pressure": LabTest("Diastolic blood pressure", "mmHg", 78, 6, 0, {"I10": 9}),
    "HbA1c": LabTest("HbA1c", "%", 5.4, 0.3, 1, {"E11.9": 2.0, "R73.03": 0.7}),
    "Fasting glucose": LabTest("Fasting glucose", "mg/dL", 92, 8, 0, {"E11.9": 50, "R73.03": 15}),
    "LDL cholesterol": LabTest("LDL cholesterol", "mg/dL", 110, 22, 0, {"E78.5": 45}),
    "Total cholesterol": LabTest("Total cholesterol", "mg/dL", 185, 25, 0, {"E78.5": 55}),
    "Creatinine": LabTest("Creatinine", "mg/dL", 0.9, 0.15, 2, {"N18.30": 0.8}),
    "eGFR": LabTest("eGFR", "mL/min/1.73m2", 92, 12, 0, {"N18.30": -45}),
    "Hemoglobin": LabTest("Hemoglobin", "g/dL", 14.0, 1.1, 1, {"D64.9": -3.0, "N18.30": -1.0}),
    "TSH": LabTest("TSH", "mIU/L", 2.0, 0.8, 2, {"E03.9": 4.0}),
    "BMI": LabTest("BMI", "kg/m2", 26, 3, 1, {"E66.9": 9}),
}
# Which tests a code brings: a clinician follows these up over time.
FOLLOW_UP = {
    "I10": ("Systolic blood pressure", "Diastolic blood pressure"),
    "E11.9": ("HbA1c", "Fasting glucose"),
    "R73.03": ("HbA1c",),
    "E78.5": ("LDL cholesterol", "Total cholesterol"),
    "N18.30": ("eGFR", "Creatinine"),
    "D64.9": ("Hemoglobin",),
    "E03.9": ("TSH",),
    "E66.9": ("BMI",),
}
BASIC_PANEL = ("Hemoglobin", "Creatinine", "Fasting glucose", "Total cholesterol")

EARLIEST = dt.date(2005, 1, 1)
LATEST = dt.date(2025, 6, 30)


@dataclass(frozen=True)
class _PatientFacts:
    patient: Patient
    codes: list[tuple[str, dt.date]]
    rng: random.Random  # positioned after the diagnoses: lab results draw from here


class SyntheticDataset(Dataset):
    """N x 1,000 patients and N x 10,000 variant calls, deterministic for (scale, seed)."""

    valid_by_construction = True

    def __init__(self, scale: int = 1, seed: int = 42) -> None:
        if scale < 1:
            raise ValueError("scale must be at least 1")
        self.scale, self.seed = scale, seed
        self.name = "synthetic"
        self.n_patients = scale * PATIENTS_PER_SCALE
        self.n_variants = scale * VARIANTS_PER_SCALE

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "scale": self.scale, "seed": self.seed,
                "patients": self.n_patients, "variants": self.n_variants}

    # -- patients, diagnoses, lab results

    def _facts(self, k: int, with_codes: bool = True) -> _PatientFacts:
        rng = random.Random(self.seed * 1_000_003 + k)
        sex = "F" if rng.random() < 0.51 else "M"
        lo, hi, _ = rng.choices(AGE_BANDS, weights=[b[2] for b in AGE_BANDS])[0]
        age = rng.randint(lo, hi)
        name = f"{rng.choice(FIRST_NAMES[sex])} {rng.choice(LAST_NAMES)}"
        patient = Patient(FIRST_PATIENT_ID + k, name, age, sex)
        codes: list[tuple[str, dt.date]] = []
        if with_codes:
            have: set[str] = set()
            for c in CONDITIONS:
                p = c.base * (_age_factor(age) if c.aging else 1.0) * (c.female if sex == "F" else 1.0)
                for other, mult in c.raised_by:
                    if other in have:
                        p *= mult
                if c.code == "R73.03" and "E11.9" in have:
                    p = 0.0
                if rng.random() < min(p, 0.92):
                    have.add(c.code)
            pool, cum = tail_codes()
            for _ in range(TAIL_DRAWS):
                if rng.random() < TAIL_P * _age_factor(age):
                    have.add(rng.choices(pool, cum_weights=cum)[0])
            adult_since = max(EARLIEST, LATEST - dt.timedelta(days=365 * (age - 18)))
            span = (LATEST - adult_since).days
            for code in sorted(have):
                codes.append((code, adult_since + dt.timedelta(days=rng.randrange(max(1, span)))))
        return _PatientFacts(patient, codes, rng)

    def _sex_of(self, k: int) -> str:
        return "F" if random.Random(self.seed * 1_000_003 + k).random() < 0.51 else "M"

    def patients(self) -> Iterator[Patient]:
        for k in range(self.n_patients):
            yield self._facts(k, with_codes=False).patient

    def diagnoses(self) -> Iterator[Diagnosis]:
        next_id = 1
        for k in range(self.n_patients):
            facts = self._facts(k)
            for code, on in facts.codes:
                yield Diagnosis(next_id, facts.patient.patient_id, code, on)
                next_id += 1

    def lab_results(self) -> Iterator[LabResult]:
        next_id = 1
        for k in range(self.n_patients):
            for r in self._labs(self._facts(k)):
                yield LabResult(next_id, r[0], r[1], r[2], r[3], r[4])
                next_id += 1

    def _labs(self, facts: _PatientFacts) -> list[tuple[int, str, float, str, dt.date]]:
        rng, pid = facts.rng, facts.patient.patient_id
        have = {code: on for code, on in facts.codes}
        tests: dict[str, dt.date] = {}
        for code, on in facts.codes:
            for t in FOLLOW_UP.get(code, ()):
                tests[t] = min(tests.get(t, on), on)
        panel_from = LATEST - dt.timedelta(days=rng.randint(200, 3000))
        for t in rng.sample(BASIC_PANEL, rng.randint(1, 2)):
            tests.setdefault(t, panel_from)
        out = []
        for name in sorted(tests):
            test = TESTS[name]
            baseline = rng.gauss(test.mean, test.sd)
            shift = sum(delta for code, delta in test.shift.items() if code in have)
            visits = rng.randint(2, 5) if any(name in FOLLOW_UP.get(c, ()) for c in have) else rng.randint(1, 2)
            day = tests[name]
            for _ in range(visits):
                if day > LATEST:
                    break
                value = baseline + shift * (0.8 + 0.4 * rng.random()) + rng.gauss(0, test.sd * 0.4)
                value = max(value, test.mean * 0.3)
                out.append((pid, name, round(value, test.decimals), test.unit, day))
                day += dt.timedelta(days=rng.randint(60, 400))
        return out

    # -- variant calls

    def variants(self) -> Iterator[Variant]:
        rng = random.Random(f"mmbench-variants-{self.seed}")
        for n in range(1, self.n_variants + 1):
            k = rng.randrange(self.n_patients)
            chrom = rng.choices(_CHROMS, cum_weights=_CHROM_CUM, k=1)[0]
            if chrom == "Y" and self._sex_of(k) == "F":
                chrom = "X"
            position = rng.randint(1, GRCH38_LENGTHS[chrom])
            ref = rng.choices("ACGT", weights=(0.3, 0.2, 0.2, 0.3))[0]
            alt = TRANSITION[ref] if rng.random() < 2 / 3 else rng.choice(TRANSVERSIONS[ref])
            g = rng.random()
            genotype = ref + alt if g < 0.60 else alt + alt if g < 0.95 else ref + ref
            quality = round(min(99.0, 10 + rng.gammavariate(4.0, 5.0)), 2)
            depth = max(1, int(rng.gammavariate(8.0, 4.5)))
            yield Variant(f"c{n:09d}", chrom, position, ref, alt, genotype, quality, depth, FIRST_PATIENT_ID + k)
