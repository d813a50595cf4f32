"""Timed bulk loading: the harness listens to the backend's load steps and times each one.

Time spent producing rows (generating or parsing them) is measured apart and not charged
to the backend: `write_s` is the backend's insert time, `index_s` its index build (or
flush) time after the last batch of a kind, `setup_s` and `finish_s` the work before the
first batch and after the last kind (e.g. dropping indexes, commit, statistics).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from backends.base import Backend, LoadEvent
from bench.timing import wall_clock
from models.dataset import ENTITY_KINDS, Dataset, EntityKind


@dataclass
class KindLoad:
    rows: int = 0
    produce_s: float = 0.0
    write_s: float = 0.0
    index_s: float = 0.0

    @property
    def rows_per_s(self) -> float:
        """Rows per second of backend time (insert + index build)."""
        spent = self.write_s + self.index_s
        return self.rows / spent if spent > 0 else 0.0

    @property
    def insert_rows_per_s(self) -> float:
        return self.rows / self.write_s if self.write_s > 0 else 0.0


@dataclass
class LoadTiming:
    kinds: dict[str, KindLoad] = field(default_factory=lambda: {k: KindLoad() for k in ENTITY_KINDS})
    setup_s: float = 0.0
    finish_s: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(k.rows for k in self.kinds.values())

    @property
    def backend_s(self) -> float:
        """Time spent in the backend: setup, inserts, index builds, finish."""
        return self.setup_s + sum(k.write_s + k.index_s for k in self.kinds.values()) + self.finish_s

    def to_dict(self) -> dict[str, Any]:
        kinds = {kind: {**asdict(k), "rows_per_s": k.rows_per_s, "insert_rows_per_s": k.insert_rows_per_s}
                 for kind, k in self.kinds.items()}
        return {"setup_s": self.setup_s, "finish_s": self.finish_s, "total_rows": self.total_rows,
                "backend_s": self.backend_s, "kinds": kinds}


OnBatch = Callable[[EntityKind, int], None]


def timed_load(backend: Backend, data: Dataset, *, batch_size: int = 5000,
               on_batch: OnBatch | None = None) -> LoadTiming:
    """Load `data` into an empty `backend`, timing produce / write / index per entity kind."""
    timing = LoadTiming()
    clock = wall_clock  # the step boundaries the backend reports (bench.timing's clock)
    last = clock()

    def hear(event: LoadEvent, kind: EntityKind | None, rows: int) -> None:
        nonlocal last
        now = clock()
        spent, last = now - last, now
        if event == "begun":
            timing.setup_s += spent
        elif event == "done":
            timing.finish_s += spent
        elif kind is not None:
            k = timing.kinds[kind]
            if event == "produced":
                k.produce_s += spent
            elif event == "written":
                k.write_s += spent
                k.rows += rows
                if on_batch:
                    on_batch(kind, rows)
            elif event == "indexed":
                k.index_s += spent

    backend.load(data, batch_size=batch_size, progress=hear)
    return timing
