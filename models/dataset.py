"""Dataset: the entities of one data set, as fresh iterators, in load order.

A data set may be far larger than memory (synthetic at high scale, a VCF), so every
accessor returns a new iterator over a stream; `MemoryDataset` holds lists instead.
Load order is patients, diagnoses, lab results, variants (foreign keys point backwards).
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Literal, TypeVar

from models.entities import Diagnosis, LabResult, Patient, Variant

EntityKind = Literal["patients", "diagnoses", "lab_results", "variants"]
ENTITY_KINDS: tuple[EntityKind, ...] = ("patients", "diagnoses", "lab_results", "variants")
ENTITY_TYPES: dict[EntityKind, type] = {"patients": Patient, "diagnoses": Diagnosis,
                                        "lab_results": LabResult, "variants": Variant}
FIELDS: dict[EntityKind, tuple[str, ...]] = {k: tuple(t.__dataclass_fields__) for k, t in ENTITY_TYPES.items()}
"""Each entity kind's field names, in declaration order (the column order of every backend)."""

T = TypeVar("T")


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of at most `size` items, in order (itertools.batched arrives in 3.12)."""
    if size < 1:
        raise ValueError("batch size must be at least 1")
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


class Dataset(abc.ABC):
    """A named data set; `describe()` says how to make it again (name, scale, seed, files)."""

    name: str
    valid_by_construction: bool = False
    """Generated data (not read from files) needs no validation pass before loading."""

    @abc.abstractmethod
    def patients(self) -> Iterator[Patient]: ...

    @abc.abstractmethod
    def diagnoses(self) -> Iterator[Diagnosis]: ...

    @abc.abstractmethod
    def lab_results(self) -> Iterator[LabResult]: ...

    @abc.abstractmethod
    def variants(self) -> Iterator[Variant]: ...

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}

    def stream(self, kind: EntityKind) -> Iterator[Any]:
        """The entities of one kind."""
        return getattr(self, kind)()

    def batches(self, kind: EntityKind, size: int) -> Iterator[list[Any]]:
        return batched(self.stream(kind), size)

    def validate(self) -> dict[EntityKind, int]:
        """Read everything once (raising DataError on the first bad record); counts per kind.

        Loading validates first, so a bad record never leaves a half-loaded backend.
        """
        return {kind: sum(1 for _ in self.stream(kind)) for kind in ENTITY_KINDS}

    def materialize(self) -> MemoryDataset:
        return MemoryDataset(
            name=self.name,
            patient_list=list(self.patients()),
            diagnosis_list=list(self.diagnoses()),
            lab_result_list=list(self.lab_results()),
            variant_list=list(self.variants()),
            description=self.describe(),
        )


@dataclass
class MemoryDataset(Dataset):
    """A data set held in lists (the seed, test fixtures, materialised streams)."""

    name: str
    patient_list: list[Patient] = field(default_factory=list)
    diagnosis_list: list[Diagnosis] = field(default_factory=list)
    lab_result_list: list[LabResult] = field(default_factory=list)
    variant_list: list[Variant] = field(default_factory=list)
    description: dict[str, Any] | None = None

    def patients(self) -> Iterator[Patient]:
        return iter(self.patient_list)

    def diagnoses(self) -> Iterator[Diagnosis]:
        return iter(self.diagnosis_list)

    def lab_results(self) -> Iterator[LabResult]:
        return iter(self.lab_result_list)

    def variants(self) -> Iterator[Variant]:
        return iter(self.variant_list)

    def describe(self) -> dict[str, Any]:
        return self.description or {"name": self.name}

    def materialize(self) -> MemoryDataset:
        return self
