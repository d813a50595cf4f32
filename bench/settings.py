"""What a run is asked to do: `RunSettings` (every option, all of it recorded in the results
file) and `PhaseSpec` (what one worker needs to measure one phase, picklable)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from itertools import islice
from typing import Any

from bench.workloads import QUERY_PHASES, WORKLOADS, Op, Phase
from models.catalog import CATALOG, READS, WRITES, Q
from models.sampling import SampleSource

DURATION_OPS_CAP = 1_000_000    # positions reserved per writing phase when timing by --duration


@dataclass(frozen=True)
class RunSettings:
    """Every option of a run (all of it goes into the results file)."""

    datasets: tuple[str, ...] = ("seed", "synthetic")
    scale: int = 1
    seed: int = 42
    queries: tuple[Q, ...] = (*READS, *WRITES)
    workloads: tuple[str, ...] = ()
    ops: int = 500
    duration_s: float | None = None
    max_time_s: float = 0.5
    warmup: int = 20
    workers: int = 1
    rate: float | None = None
    keys: str = "uniform"
    verify: bool = False
    batch_size: int = 5000
    repeat: int = 1
    load: bool = True            # False: measure what each backend already holds (--no-load)
    explain: bool = True         # explain each phase's first question once, untimed
    namespace: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["queries"] = [q.value for q in self.queries]
        out["order"] = ("per data set: load every backend; then per phase group (reads, writes, workloads) "
                        "`repeat` rounds, each round over every backend in an order shuffled with the seed")
        out["mode"] = "open loop" if self.rate else "closed loop"
        return out

    @property
    def time_cap_s(self) -> float:
        """How long a phase may time: --duration; else --max-time (open loop: at least twice
        the schedule of its --ops, so a slow engine shows its queue instead of being cut off)."""
        if self.duration_s is not None:
            return self.duration_s
        return max(self.max_time_s, 2 * self.ops / self.rate) if self.rate else self.max_time_s

    @property
    def ops_cap(self) -> int:
        """Timed operations per phase: --ops, or as many as --duration (at --rate) allows."""
        if self.duration_s is None:
            return self.ops
        return int(self.rate * self.duration_s) + 1 if self.rate else DURATION_OPS_CAP

    def phase_groups(self) -> list[list[Phase]]:
        """The phases in the order they run: the reads, then the writes, then the workloads.
        Reads therefore always see exactly the loaded data set, in every round."""
        reads = [QUERY_PHASES[q] for q in self.queries if not CATALOG[q].is_write]
        writes = [QUERY_PHASES[q] for q in self.queries if CATALOG[q].is_write]
        workloads = [WORKLOADS[w] for w in self.workloads]
        return [group for group in (reads, writes, workloads) if group]

    def phases(self) -> list[Phase]:
        return [p for group in self.phase_groups() for p in group]


@dataclass(frozen=True)
class PhaseSpec:
    """What a worker needs to measure one phase (picklable).

    Positions: 0 is the question `--verify` and `explain` ask (never timed); worker w of W
    takes positions 1+w, 1+w+W, ...: the first `warmup` of them (over all workers) warm up,
    the next `ops` are timed. Each worker draws only its own positions, from its own
    deterministic stream (seeded by the phase seed, the worker and the worker count), so W
    workers draw each question once, not W times. Writes take fresh ids from their position
    (`base_index + position`), unique across workers, rounds and phases."""

    phase: Phase
    source: SampleSource
    seed: str
    base_index: int
    warmup: int
    ops: int
    time_cap_s: float
    rate: float | None = None
    workers: int = 1
    keys: str = "uniform"

    def first_op(self) -> Op:
        """Position 0: the operation `--verify` checks and `explain` explains (never timed)."""
        return next(self.phase.ops(self.source, self.seed, self.base_index, self.keys))

    def worker_ops(self, worker: int) -> Iterator[Op]:
        """Worker `worker`'s operations, positions 1+worker, 1+worker+W, ... in order."""
        if self.workers == 1:
            return islice(self.phase.ops(self.source, self.seed, self.base_index, self.keys), 1, None)
        stream_seed = f"{self.seed}:w{worker}/{self.workers}"
        positions = self.phase.ops(self.source, stream_seed, 0, self.keys, positions=self._positions(worker))
        return positions

    def _positions(self, worker: int) -> Iterator[int]:
        """The write indices (op_index) of worker `worker`'s positions."""
        position = 1 + worker
        while True:
            yield self.base_index + position
            position += self.workers

    def counts(self, worker: int) -> tuple[int, int]:
        """(warmup, timed) operations of `worker`: positions 1.. taken round-robin."""
        warm = len(range(1 + worker, 1 + self.warmup, self.workers))
        total = len(range(1 + worker, 1 + self.warmup + self.ops, self.workers))
        return warm, total - warm

    @property
    def span(self) -> int:
        """Positions (so write indices) this phase may use."""
        return 1 + self.warmup + self.ops


def shuffled(items: list[Any], seed: int, round_no: int) -> list[Any]:
    """`items` in the order of round `round_no`: shuffled with the run's seed (the same on every run)."""
    out = list(items)
    random.Random(f"{seed}:round:{round_no}").shuffle(out)
    return out
