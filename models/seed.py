"""The seed data set: the lecture's ten variant calls plus a 12-patient hospital set.

The files live in `models/data/seed/` (copied from the course material; see its README).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from models.dataset import MemoryDataset
from models.files import FileDataset

SEED_DIR = Path(str(resources.files("models") / "data" / "seed"))


def seed_files() -> FileDataset:
    return FileDataset(
        name="seed",
        genomics=SEED_DIR / "genomics.csv",
        samples=SEED_DIR / "samples.csv",
        patients_file=SEED_DIR / "patients.json",
        diagnoses_file=SEED_DIR / "diagnoses.json",
        lab_results_file=SEED_DIR / "lab_results.json",
    )


def seed_dataset() -> MemoryDataset:
    """The seed, parsed and held in memory (it is tiny)."""
    return seed_files().materialize()
