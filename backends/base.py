"""The common interface of every backend, its tiers and its errors.

A Backend persists the domain to one engine and answers every catalog query (same method
name, keyword parameters, domain objects out). Backends never time themselves: the harness
in `bench` does. Loading reports progress through a callback, which the harness also uses
to time each entity.
"""

from __future__ import annotations

import abc
import datetime as dt
import enum
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Literal, Self

from models.catalog import Q
from models.dataset import ENTITY_KINDS, Dataset, EntityKind
from models.entities import (
    CodeCount,
    LabResult,
    Patient,
    PatientRecord,
    SharedDiagnoses,
    Variant,
)
from models.errors import MMBenchError, first_line


class Tier(enum.StrEnum):
    """How a backend answers a query: on the server, or finished in the client."""

    NATIVE = "native"
    CLIENT = "client"  # a scan + filter, a client-side join or aggregation: labelled in reports


class BackendError(MMBenchError):
    """A backend failed in a way the user can act on."""


class NotLoaded(BackendError):
    """The backend's schema does not exist yet: nothing was loaded into it."""

    def __init__(self, backend: str, what: str) -> None:
        super().__init__(f"{backend} holds no mmbench {what} yet; load a data set first: "
                         f"mmbench load --backend {backend} --dataset seed")


class DriverMissing(BackendError):
    def __init__(self, backend: str, extra: str, module: str) -> None:
        super().__init__(f"{backend}: the Python driver ({module}) is not installed; "
                         f"run: pip install -e '.[{extra}]'")


class EngineUnavailable(BackendError):
    """The engine does not answer at its address."""

    def __init__(self, backend: str, product: str, address: str, detail: str = "") -> None:
        self.backend, self.address = backend, address
        hint = f"start it with `mmbench up {backend}` or `docker compose up -d {backend}`"
        extra = f" ({detail})" if detail else ""
        super().__init__(f"{backend}: cannot reach {product} at {address}{extra}; {hint}")


@dataclass(frozen=True)
class EngineInfo:
    """Who answered: goes into every results file."""

    product: str          # e.g. "PostgreSQL", "moto (DynamoDB API emulator)"
    version: str          # the server's version as it reports it
    emulator: bool        # True for moto, mongo-java-server: never a real engine's numbers
    driver: str           # e.g. "psycopg 3.2.1"
    address: str = ""     # where (no credentials)


@dataclass
class LoadStats:
    """Rows written per entity kind."""

    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ENTITY_KINDS, 0))

    @property
    def total(self) -> int:
        return sum(self.rows.values())


LoadEvent = Literal["begun", "produced", "written", "indexed", "done"]
"""A load step that just ended: begun (begin_load), produced (a batch was read or generated;
0 rows once a kind is exhausted), written (write_batch), indexed (finish_kind), done (end_load)."""

Progress = Callable[[LoadEvent, EntityKind | None, int], None]


def _silent(event: LoadEvent, kind: EntityKind | None, rows: int) -> None:
    """The default load listener: hears nothing."""


def state_dir() -> Path:
    """Where local state lives (engine data, the default SQLite file): $MMBENCH_RUNTIME."""
    return Path(os.environ.get("MMBENCH_RUNTIME") or Path.home() / ".local" / "state" / "mmbench").expanduser()


class Backend(abc.ABC):
    name: ClassVar[str]
    model: ClassVar[str]
    tiers: ClassVar[Mapping[Q, Tier]] = MappingProxyType({})

    @classmethod
    @abc.abstractmethod
    def from_settings(cls, settings: Any = None) -> Self:
        """A connected backend; address from env / config (defaults: the local engines)."""

    @classmethod
    def tier(cls, query: Q | str) -> Tier:
        return cls.tiers.get(Q(query), Tier.NATIVE)

    @abc.abstractmethod
    def engine_info(self) -> EngineInfo: ...

    @abc.abstractmethod
    def reset(self) -> None:
        """Drop and recreate schema and indexes, leaving the backend empty. Idempotent."""

    def load(self, data: Dataset, *, batch_size: int = 5000, progress: Progress | None = None) -> LoadStats:
        """Write every entity of `data` (in load order) in batches; assumes an empty backend.

        The bulk-load protocol: `begin_load()`, then per kind `write_batch()`... and
        `finish_kind()`, then `end_load()`; `abort_load()` if anything fails. `progress`
        hears each step as it ends (see `LoadEvent`), which is how the harness times a load
        without the backend timing itself.
        """
        say = progress or _silent
        stats = LoadStats()
        try:
            self.begin_load()
            say("begun", None, 0)
            for kind in ENTITY_KINDS:
                for batch in data.batches(kind, batch_size):
                    say("produced", kind, len(batch))
                    self.write_batch(kind, batch)
                    stats.rows[kind] += len(batch)
                    say("written", kind, len(batch))
                say("produced", kind, 0)
                self.finish_kind(kind)
                say("indexed", kind, 0)
            self.end_load()
            say("done", None, 0)
        except BaseException as exc:
            try:
                self.abort_load()
            except Exception as cleanup:  # the load's own error is the one to report
                exc.add_note(f"and undoing the partial load failed too: {first_line(cleanup)}")
            raise
        return stats

    def begin_load(self) -> None:
        """Prepare for a bulk load (e.g. open a transaction, drop secondary indexes)."""

    @abc.abstractmethod
    def write_batch(self, kind: EntityKind, rows: list[Any]) -> None:
        """Insert one batch of entities of one kind (the bulk-load path)."""

    def finish_kind(self, kind: EntityKind) -> None:
        """All entities of `kind` are written (e.g. build its indexes now)."""

    def end_load(self) -> None:
        """The load is complete (e.g. commit, refresh statistics)."""

    def abort_load(self) -> None:
        """The load failed part-way (possibly inside `begin_load`): undo what can be undone."""

    def take_cost(self) -> dict[str, float]:
        """Engine-reported cost accrued since the last call, then reset (e.g. DynamoDB's
        consumed read/write capacity units: {"rcu": 1.5, "wcu": 0.0}). Empty if the engine
        reports none. The harness calls it after each operation."""
        return {}

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the catalog: one method per query

    @abc.abstractmethod
    def variant_by_id(self, *, variant_id: str) -> Variant | None: ...

    @abc.abstractmethod
    def variants_by_chromosome(self, *, chromosome: str) -> list[Variant]: ...

    @abc.abstractmethod
    def variants_in_region(self, *, chromosome: str, start: int, end: int) -> list[Variant]: ...

    @abc.abstractmethod
    def variants_min_depth(self, *, min_depth: int) -> list[Variant]: ...

    @abc.abstractmethod
    def variants_min_quality(self, *, min_quality: float) -> list[Variant]: ...

    @abc.abstractmethod
    def all_variants(self) -> list[Variant]: ...

    @abc.abstractmethod
    def patient_by_id(self, *, patient_id: int) -> PatientRecord | None: ...

    @abc.abstractmethod
    def patients_older_than(self, *, age: int) -> list[Patient]: ...

    @abc.abstractmethod
    def patients_with_diagnosis(self, *, code: str) -> list[Patient]: ...

    @abc.abstractmethod
    def diagnosis_counts(self, *, min_age: int | None = None) -> list[CodeCount]: ...

    @abc.abstractmethod
    def lab_history(self, *, patient_id: int, test_name: str, since: dt.date, until: dt.date) -> list[LabResult]: ...

    @abc.abstractmethod
    def carriers_with_diagnosis(self, *, chromosome: str, start: int, end: int, code: str) -> list[Patient]: ...

    @abc.abstractmethod
    def patients_sharing_diagnoses(self, *, patient_id: int) -> list[SharedDiagnoses]: ...

    @abc.abstractmethod
    def comorbid_codes(self, *, code: str) -> list[CodeCount]: ...

    @abc.abstractmethod
    def add_patient(self, *, patient: PatientRecord) -> None: ...

    @abc.abstractmethod
    def add_diagnosis(self, *, diagnosis_id: int, patient_id: int, code: str, diagnosed_on: dt.date) -> None: ...

    @abc.abstractmethod
    def add_variants(self, *, variants: list[Variant]) -> None: ...


def run_query(backend: Backend, query: Q | str, params: Mapping[str, Any]) -> Any:
    """Call the method of `query` on `backend` with keyword parameters."""
    return getattr(backend, str(query))(**params)
