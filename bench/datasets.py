"""Data sets by name, as the command line and the runner ask for them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


class _S3FileDataset(FileDataset):
    """A FileDataset some of whose files were S3 objects, read from local copies made once
    (removed when the data set is garbage-collected or the process ends); `describe()` names
    the S3 addresses."""

    def __init__(self, origins: dict[str, str], copies: list[Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._origins, self._copies = origins, copies

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["files"] = {k: self._origins.get(k, v) for k, v in d.get("files", {}).items()}
        return d


def file_dataset(csv: Path | str | None, samples: Path | str | None = None, patients: Path | str | None = None,
                 diagnoses: Path | str | None = None, lab_results: Path | str | None = None) -> FileDataset:
    """A data set from files: a genomics CSV and optionally the hospital JSON files. Any of
    them may be `s3://bucket/key` (the S3 endpoint of MMBENCH_S3_URL): it is copied to a
    local temporary file first, so a bad object fails before the backend is touched."""
    from etl.storage import LocalCopy, S3Url, is_s3

    given = {"genomics": csv, "samples": samples, "patients": patients, "diagnoses": diagnoses,
             "lab_results": lab_results}
    origins: dict[str, str] = {}
    copies: list[Any] = []
    local: dict[str, Path | None] = {}
    for kind, location in given.items():
        if location is not None and is_s3(location):
            url = S3Url.parse(str(location))  # pathlib turns s3://b/k into s3:/b/k: parse reads both
            copy = LocalCopy(str(url))
            copies.append(copy)
            origins[kind] = str(url)
            local[kind] = copy.path
        else:
            local[kind] = Path(location) if location is not None else None
    first = csv or patients
    if first is not None and is_s3(first):
        name = S3Url.parse(str(first)).name
    else:
        name = (local["genomics"] or local["patients"] or Path("files")).name
    kwargs: dict[str, Any] = {"name": name, "genomics": local["genomics"], "samples": local["samples"],
                              "patients_file": local["patients"], "diagnoses_file": local["diagnoses"],
                              "lab_results_file": local["lab_results"]}
    if origins:
        return _S3FileDataset(origins, copies, **kwargs)
    return FileDataset(**kwargs)
