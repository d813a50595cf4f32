"""Data sets by name, as the command line and the runner ask for them."""

from __future__ import annotations

from pathlib import Path

from models.dataset import Dataset
from models.errors import UsageError
from models.files import FileDataset
from models.generate import SyntheticDataset
from models.seed import seed_dataset
from models.vcf import one_thousand_genomes

DATASETS = ("seed", "synthetic", "1kg")


def make_dataset(name: str, *, scale: int = 1, seed: int = 42) -> Dataset:
    """`seed` (the lecture's data), `synthetic` (scale N, seed S) or `1kg` (1000 Genomes pilot VCF)."""
    if name == "seed":
        return seed_dataset()
    if name == "synthetic":
        if scale < 1:
            raise UsageError(f"--scale must be at least 1, not {scale}")
        return SyntheticDataset(scale=scale, seed=seed)
    if name == "1kg":
        return one_thousand_genomes()
    raise UsageError(f"unknown data set {name!r}; valid: {', '.join(DATASETS)}")


def file_dataset(csv: Path | None, samples: Path | None = None, patients: Path | None = None,
                 diagnoses: Path | None = None, lab_results: Path | None = None) -> FileDataset:
    """A data set from files: a genomics CSV and optionally the hospital JSON files."""
    name = (csv or patients or Path("files")).name
    return FileDataset(name=name, genomics=csv, samples=samples, patients_file=patients,
                       diagnoses_file=diagnoses, lab_results_file=lab_results)
