"""FileDataset: a data set read from the seed's file formats (CSV + JSON), streamed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.dataset import ENTITY_KINDS, Dataset, EntityKind
from models.entities import Diagnosis, LabResult, Patient, Variant
from models.errors import DataError
from models.readers import Source, iter_entities_json, iter_genomics_csv, read_samples


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
        return (p for _, p, _ in self._located("patients"))

    def diagnoses(self) -> Iterator[Diagnosis]:
        return (d for _, d, _ in self._located("diagnoses"))

    def lab_results(self) -> Iterator[LabResult]:
        return (r for _, r, _ in self._located("lab_results"))

    def variants(self) -> Iterator[Variant]:
        return (v for _, v, _ in self._located("variants"))

    def _located(self, kind: EntityKind) -> Iterator[tuple[int, Any, Source | None]]:
        """(line, entity, where its patient_id was read) for each entity of `kind` in its file."""
        if kind == "variants":
            if not self.genomics:
                return
            samples = read_samples(self.samples) if self.samples else None
            yield from iter_genomics_csv(self.genomics, samples)
            return
        path = self._file(kind)
        if path is None:
            return
        for line, entity in iter_entities_json(path, kind):
            yield line, entity, Source(str(path), line, "patient_id") if kind != "patients" else None

    def _file(self, kind: EntityKind) -> Path | None:
        return {"patients": self.patients_file, "diagnoses": self.diagnoses_file,
                "lab_results": self.lab_results_file, "variants": self.genomics}[kind]

    def describe(self) -> dict[str, Any]:
        files = {
            "genomics": self.genomics, "samples": self.samples, "patients": self.patients_file,
            "diagnoses": self.diagnoses_file, "lab_results": self.lab_results_file,
        }
        return {"name": self.name, "files": {k: str(v) for k, v in files.items() if v}}

    def validate(self) -> dict[EntityKind, int]:
        """Parse every file; ids are unique per kind and every patient_id refers to a patient.
        An error names the file and line the offending value was read from (for a patient_id
        taken from the samples file, the samples file)."""
        ids_of: dict[EntityKind, str] = {"patients": "patient_id", "diagnoses": "diagnosis_id",
                                         "lab_results": "result_id", "variants": "variant_id"}
        patients: dict[int, int] = {}
        counts: dict[EntityKind, int] = dict.fromkeys(ENTITY_KINDS, 0)
        for kind in ENTITY_KINDS:
            id_field = ids_of[kind]
            seen: dict[Any, int] = patients if kind == "patients" else {}
            name = str(self._file(kind))
            label = "ID" if kind == "variants" else id_field
            for line, item, source in self._located(kind):
                key = getattr(item, id_field)
                if key in seen:
                    raise DataError(name, line, label, f"{key!r} repeated (first on line {seen[key]})")
                seen[key] = line
                pid = getattr(item, "patient_id", None) if kind != "patients" else None
                if pid is not None and pid not in patients and source is not None:
                    known = f"not in {self.patients_file}" if self.patients_file else "no patients file was given"
                    raise DataError(source.file, source.line, source.field, f"unknown patient {pid} ({known})")
            counts[kind] = len(seen)
        return counts
