"""SampleSource: what parameter sampling needs to know about a data set, in bounded memory.

Built in one streaming pass. Ids, calls and lab series are kept as fixed-size reservoir
samples (deterministic for a given seed); per-patient diagnosis codes are kept whole
(a few per patient) so that sampled multi-entity questions have non-empty answers.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from models.dataset import Dataset

T = TypeVar("T")
RESERVOIR = 4096


class Reservoir(Generic[T]):
    """A uniform random sample of at most `size` items of a stream (Algorithm R)."""

    def __init__(self, size: int, rng: random.Random) -> None:
        self.size, self.rng, self.seen, self.items = size, rng, 0, []  # type: ignore[var-annotated]

    def add(self, item: T) -> None:
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append(item)
        else:
            j = self.rng.randrange(self.seen)
            if j < self.size:
                self.items[j] = item

    def extend(self, items: Iterable[T]) -> None:
        for item in items:
            self.add(item)


@dataclass
class LabSeries:
    patient_id: int
    test_name: str
    first: dt.date
    last: dt.date


@dataclass
class SampleSource:
    patient_ids: list[int] = field(default_factory=list)
    ages: list[int] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    """Sampled diagnosis codes: frequent codes appear proportionally often."""
    patient_codes: dict[int, list[str]] = field(default_factory=dict)
    lab_series: list[LabSeries] = field(default_factory=list)
    variant_ids: list[str] = field(default_factory=list)
    calls: list[tuple[str, int, int | None]] = field(default_factory=list)
    """Sampled (chromosome, position, patient_id) of variant calls."""
    depths: list[int] = field(default_factory=list)
    qualities: list[float] = field(default_factory=list)
    max_patient_id: int = 0
    max_diagnosis_id: int = 0
    max_result_id: int = 0
    diagnosed_patient_ids: list[int] = field(default_factory=list)
    carrier_calls: list[tuple[str, int, int | None]] = field(default_factory=list)
    """Sampled calls whose patient has at least one diagnosis."""

    @classmethod
    def from_dataset(cls, data: Dataset, seed: int = 0) -> SampleSource:
        rng = random.Random(seed)
        src = cls()
        patients = Reservoir[tuple[int, int]](RESERVOIR, rng)
        for p in data.patients():
            patients.add((p.patient_id, p.age))
            src.max_patient_id = max(src.max_patient_id, p.patient_id)
        src.patient_ids = [pid for pid, _ in patients.items]
        src.ages = sorted(age for _, age in patients.items)
        codes = Reservoir[str](RESERVOIR, rng)
        for d in data.diagnoses():
            codes.add(d.code)
            src.patient_codes.setdefault(d.patient_id, []).append(d.code)
            src.max_diagnosis_id = max(src.max_diagnosis_id, d.diagnosis_id)
        src.codes = codes.items
        series: dict[tuple[int, str], LabSeries] = {}
        last_patient = None
        lab = Reservoir[LabSeries](RESERVOIR, rng)
        for r in data.lab_results():
            if r.patient_id != last_patient:  # results arrive grouped by patient in our data sets
                lab.extend(series.values())
                series, last_patient = {}, r.patient_id
            s = series.get((r.patient_id, r.test_name))
            if s is None:
                series[(r.patient_id, r.test_name)] = LabSeries(r.patient_id, r.test_name, r.taken_on, r.taken_on)
            else:
                s.first, s.last = min(s.first, r.taken_on), max(s.last, r.taken_on)
            src.max_result_id = max(src.max_result_id, r.result_id)
        lab.extend(series.values())
        src.lab_series = lab.items
        variants = Reservoir[tuple[str, str, int, int | None, int, float]](RESERVOIR, rng)
        for v in data.variants():
            variants.add((v.variant_id, v.chromosome, v.position, v.patient_id, v.depth, v.quality))
        src.variant_ids = [v[0] for v in variants.items]
        src.calls = [(c, pos, pid) for _, c, pos, pid, _, _ in variants.items]
        src.depths = sorted(v[4] for v in variants.items)
        src.qualities = sorted(v[5] for v in variants.items)
        src.diagnosed_patient_ids = [p for p in src.patient_ids if p in src.patient_codes]
        src.carrier_calls = [c for c in src.calls if c[2] in src.patient_codes]
        return src
