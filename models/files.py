"""FileDataset: a data set read from the seed's file formats (CSV + JSON), streamed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.dataset import ENTITY_KINDS, Dataset, EntityKind
from models.entities import Diagnosis, LabResult, Patient, Variant
from models.errors import DataError
from models.readers import (
    read_diagnoses_json,
    read_genomics_csv,
    read_lab_results_json,
    read_patients_json,
    read_samples_csv,
)


@dataclass
class FileDataset(Dataset):
    """Entities from files; any of them may be absent (then that kind is empty)."""

    name: str
    genomics: Path | None = None
    samples: Path | None = None
    patients_file: Path | None = None
    diagnoses_file: Path | None = None
    lab_results_file: Path | None = None

    def patients(self) -> Iterator[Patient]:
        return read_patients_json(self.patients_file) if self.patients_file else iter(())

    def diagnoses(self) -> Iterator[Diagnosis]:
        return read_diagnoses_json(self.diagnoses_file) if self.diagnoses_file else iter(())

    def lab_results(self) -> Iterator[LabResult]:
        return read_lab_results_json(self.lab_results_file) if self.lab_results_file else iter(())

    def variants(self) -> Iterator[Variant]:
        if not self.genomics:
            return iter(())
        samples = read_samples_csv(self.samples) if self.samples else None
        return read_genomics_csv(self.genomics, samples)

    def describe(self) -> dict[str, Any]:
        files = {
            "genomics": self.genomics, "samples": self.samples, "patients": self.patients_file,
            "diagnoses": self.diagnoses_file, "lab_results": self.lab_results_file,
        }
        return {"name": self.name, "files": {k: str(v) for k, v in files.items() if v}}

    def validate(self) -> dict[EntityKind, int]:
        """Parse every file and check ids are unique and every patient_id refers to a patient."""
        patient_ids: set[int] = set()
        counts: dict[EntityKind, int] = dict.fromkeys(ENTITY_KINDS, 0)
        for n, p in enumerate(self.patients(), start=1):
            if p.patient_id in patient_ids:
                raise DataError(str(self.patients_file), None, "patient_id", f"duplicate patient_id {p.patient_id} (record {n})")
            patient_ids.add(p.patient_id)
        counts["patients"] = len(patient_ids)
        checks: list[tuple[EntityKind, Path | None, str]] = [
            ("diagnoses", self.diagnoses_file, "diagnosis_id"),
            ("lab_results", self.lab_results_file, "result_id"),
            ("variants", self.genomics, "variant_id"),
        ]
        for kind, path, id_field in checks:
            seen: set[Any] = set()
            for n, item in enumerate(self.stream(kind), start=1):
                key = getattr(item, id_field)
                if key in seen:
                    raise DataError(str(path), None, id_field, f"duplicate {id_field} {key} (record {n})")
                seen.add(key)
                pid = item.patient_id
                if pid is not None and pid not in patient_ids:
                    raise DataError(str(path), None, "patient_id",
                                    f"record {n} ({id_field} {key}) refers to unknown patient {pid}")
            counts[kind] = len(seen)
        return counts
