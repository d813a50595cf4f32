"""What a benchmark phase runs: one catalog query, or a mixed read/write workload (YCSB A-F).

A phase is an endless, deterministic stream of operations: `Phase.ops(source, seed, base)`
yields `Op(label, call, params)` for positions 0, 1, 2, ... The same seed gives the same
stream on every backend, so every backend answers the same questions. Writes take fresh ids
from `op_index = base + position` (`QuerySpec.sample`), so positions must never be reused
within a backend's run; the runner gives each writing phase its own range of indices.

The workloads follow YCSB's core workloads, mapped onto our entities (a "record" is a
patient with its diagnoses; an "update" adds a diagnosis to one):

| workload | mix |
|---|---|
| A update heavy | 50% read (`patient_by_id`) / 50% update (`add_diagnosis`) |
| B read mostly  | 95% read / 5% update |
| C read only    | 100% read |
| D read latest  | 95% read of recently inserted patients / 5% insert (`add_patient`) |
| E short ranges | 95% scan (`variants_in_region`) / 5% insert (`add_variants`, 10 calls) |
| F read-modify-write | 50% read / 50% read-modify-write (`patient_by_id` then `add_diagnosis`) |

Keys (patients; for E, the variant call a region is centred on) are drawn uniformly or
zipfian (YCSB's constant 0.99, over a seeded shuffle of the keys so popular keys are spread
over the key space) from the data set's sampled keys. D always reads "latest": zipfian over
recency, newest first, including the patients it inserted itself.
"""

from __future__ import annotations

import abc
import dataclasses
import random
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import accumulate, count
from typing import Any, Literal, NamedTuple

from backends.base import Backend
from models.catalog import CATALOG, READS, WRITES, Q
from models.errors import UsageError
from models.sampling import SampleSource

ZIPF_THETA = 0.99
KEY_DISTRIBUTIONS = ("uniform", "zipfian")
RMW = "read_modify_write"
"""The one call that is not a catalog query: read a patient, then add a diagnosis to it."""


class Op(NamedTuple):
    label: int       # index into the phase's labels: the operation type, measured apart
    call: str        # a Backend method name, or RMW
    params: dict[str, Any]


class Phase(abc.ABC):
    """A named stream of operations."""

    name: str
    kind: Literal["query", "workload"]
    labels: tuple[str, ...]
    queries: tuple[Q, ...]  # the catalog queries it calls

    @property
    def writes(self) -> bool:
        return any(CATALOG[q].is_write for q in self.queries)

    @abc.abstractmethod
    def ops(self, source: SampleSource, seed: str, base_index: int, keys: str = "uniform",
            positions: Iterator[int] | None = None) -> Iterator[Op]:
        """The operations at positions 0, 1, 2, ... (endless, deterministic for `seed`); their
        write indices are `base_index + position`, or the values of `positions` if given."""

    def __reduce__(self) -> tuple[Any, ...]:  # phases travel to worker processes by name
        return phase_by_name, (self.name,)


@dataclass(frozen=True, eq=False)
class QueryPhase(Phase):
    """One catalog query, parameters drawn by its QuerySpec."""

    query: Q
    kind: Literal["query", "workload"] = "query"

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.query.value

    @property
    def labels(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.query.value,)

    @property
    def queries(self) -> tuple[Q, ...]:  # type: ignore[override]
        return (self.query,)

    def ops(self, source: SampleSource, seed: str, base_index: int, keys: str = "uniform",
            positions: Iterator[int] | None = None) -> Iterator[Op]:
        rng, sample, call = random.Random(seed), CATALOG[self.query].sample, self.query.value
        for op_index in positions or count(base_index):
            yield Op(0, call, sample(source, rng, op_index))


# ---------------------------------------------------------------- workloads

class Zipf:
    """Zipfian ranks 0..n-1 (rank 0 most popular): P(k) proportional to 1/(k+1)**theta."""

    def __init__(self, theta: float = ZIPF_THETA) -> None:
        self.theta, self.cdf = theta, [0.0]  # cdf[k] = weight of ranks 0..k-1

    def rank(self, rng: random.Random, n: int) -> int:
        while len(self.cdf) <= n:  # grow on demand (D's key space grows as it inserts)
            self.cdf.append(self.cdf[-1] + 1 / len(self.cdf) ** self.theta)
        return bisect_right(self.cdf, rng.random() * self.cdf[n], 1, n + 1) - 1


class _Keys:
    """Uniform or zipfian choice from a list of keys (shuffled once, YCSB's scrambled zipfian)."""

    def __init__(self, keys: list[Any], distribution: str, rng: random.Random) -> None:
        if not keys:
            raise UsageError("the data set has no keys to draw a workload's operations from")
        self.keys = rng.sample(keys, len(keys))
        self.zipf = Zipf() if distribution == "zipfian" else None

    def pick(self, rng: random.Random) -> Any:
        i = self.zipf.rank(rng, len(self.keys)) if self.zipf else rng.randrange(len(self.keys))
        return self.keys[i]


class _Draw:
    """The state of one workload stream: its rng, key choosers and the patients inserted so far."""

    def __init__(self, source: SampleSource, rng: random.Random, keys: str) -> None:
        self.source, self.rng = source, rng
        self.patients = _Keys(source.patient_ids, keys, rng)
        self.calls = _Keys(source.calls, keys, rng)
        self.latest = sorted(source.patient_ids)  # oldest .. newest
        self.recency = Zipf()

    def _sample(self, query: Q, op_index: int, **narrow: Any) -> dict[str, Any]:
        """The QuerySpec's own sampler, with its choice of keys narrowed to the chosen one."""
        source = dataclasses.replace(self.source, **narrow) if narrow else self.source
        return CATALOG[query].sample(source, self.rng, op_index)

    def read(self, op_index: int) -> tuple[str, dict[str, Any]]:
        return Q.PATIENT_BY_ID, {"patient_id": self.patients.pick(self.rng)}

    def update(self, op_index: int) -> tuple[str, dict[str, Any]]:
        return Q.ADD_DIAGNOSIS, self._sample(Q.ADD_DIAGNOSIS, op_index, patient_ids=[self.patients.pick(self.rng)])

    def insert(self, op_index: int) -> tuple[str, dict[str, Any]]:
        params = self._sample(Q.ADD_PATIENT, op_index)
        self.latest.append(params["patient"].patient.patient_id)
        return Q.ADD_PATIENT, params

    def read_latest(self, op_index: int) -> tuple[str, dict[str, Any]]:
        newest_first = self.recency.rank(self.rng, len(self.latest))
        return Q.PATIENT_BY_ID, {"patient_id": self.latest[-1 - newest_first]}

    def scan(self, op_index: int) -> tuple[str, dict[str, Any]]:
        return Q.VARIANTS_IN_REGION, self._sample(Q.VARIANTS_IN_REGION, op_index, calls=[self.calls.pick(self.rng)])

    def insert_variants(self, op_index: int) -> tuple[str, dict[str, Any]]:
        return Q.ADD_VARIANTS, self._sample(Q.ADD_VARIANTS, op_index)

    def read_modify_write(self, op_index: int) -> tuple[str, dict[str, Any]]:
        patient_id = self.patients.pick(self.rng)
        diagnosis = self._sample(Q.ADD_DIAGNOSIS, op_index, patient_ids=[patient_id])
        return RMW, {"patient_id": patient_id, "diagnosis": diagnosis}


OPERATIONS: dict[str, tuple[Q, ...]] = {
    "read": (Q.PATIENT_BY_ID,),
    "update": (Q.ADD_DIAGNOSIS,),
    "insert": (Q.ADD_PATIENT,),
    "read_latest": (Q.PATIENT_BY_ID,),
    "scan": (Q.VARIANTS_IN_REGION,),
    "insert_variants": (Q.ADD_VARIANTS,),
    "read_modify_write": (Q.PATIENT_BY_ID, Q.ADD_DIAGNOSIS),
}
"""Workload operation -> the catalog queries it calls."""


@dataclass(frozen=True, eq=False)
class Workload(Phase):
    """A YCSB-style mix of operations, chosen at random in fixed proportions."""

    letter: str
    title: str
    mix: tuple[tuple[str, float], ...]
    kind: Literal["query", "workload"] = "workload"

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"ycsb_{self.letter.lower()}"

    @property
    def labels(self) -> tuple[str, ...]:  # type: ignore[override]
        return tuple(op for op, _ in self.mix)

    @property
    def queries(self) -> tuple[Q, ...]:  # type: ignore[override]
        return tuple(dict.fromkeys(q for op, _ in self.mix for q in OPERATIONS[op]))

    def describe(self) -> str:
        return f"{self.title}: " + " / ".join(f"{share:.0%} {op}" for op, share in self.mix)

    def ops(self, source: SampleSource, seed: str, base_index: int, keys: str = "uniform",
            positions: Iterator[int] | None = None) -> Iterator[Op]:
        rng = random.Random(seed)
        draw = _Draw(source, rng, keys)
        builders = [getattr(draw, op) for op, _ in self.mix]
        cum = list(accumulate(share for _, share in self.mix))
        labels = range(len(self.mix))
        for op_index in positions or count(base_index):
            label = rng.choices(labels, cum_weights=cum)[0]
            call, params = builders[label](op_index)
            yield Op(label, str(call), params)


WORKLOADS: dict[str, Workload] = {w.letter: w for w in (
    Workload("A", "update heavy", (("read", 0.5), ("update", 0.5))),
    Workload("B", "read mostly", (("read", 0.95), ("update", 0.05))),
    Workload("C", "read only", (("read", 1.0),)),
    Workload("D", "read latest", (("read_latest", 0.95), ("insert", 0.05))),
    Workload("E", "short ranges", (("scan", 0.95), ("insert_variants", 0.05))),
    Workload("F", "read-modify-write", (("read", 0.5), ("read_modify_write", 0.5))),
)}

QUERY_PHASES: dict[str, QueryPhase] = {q.value: QueryPhase(q) for q in (*READS, *WRITES)}


def phase_by_name(name: str) -> Phase:
    """A query phase by query name, or a workload by `ycsb_a` / `A`; UsageError otherwise."""
    if name in QUERY_PHASES:
        return QUERY_PHASES[name]
    letter = name.lower().removeprefix("ycsb_").removeprefix("ycsb-").upper()
    if letter in WORKLOADS:
        return WORKLOADS[letter]
    raise UsageError(f"unknown query or workload {name!r}; valid: {', '.join(QUERY_PHASES)}, "
                     f"workloads {', '.join(WORKLOADS)}")


def parse_workloads(text: str) -> list[Workload]:
    """`A,C,F` (or `all`, or `none`) -> workloads; UsageError naming the valid letters."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names in (["none"], []):
        return []
    if names == ["all"]:
        return list(WORKLOADS.values())
    out = []
    for name in names:
        letter = name.lower().removeprefix("ycsb_").removeprefix("ycsb-").upper()
        if letter not in WORKLOADS:
            raise UsageError(f"unknown workload {name!r}; valid: {', '.join(WORKLOADS)} (or all, none)")
        out.append(WORKLOADS[letter])
    return out


def bind(backend: Backend, call: str) -> Callable[..., Any]:
    """The callable for an op's `call` on `backend` (looked up once, outside the timed loop)."""
    if call != RMW:
        return getattr(backend, call)
    read, write = backend.patient_by_id, backend.add_diagnosis

    def read_modify_write(*, patient_id: int, diagnosis: dict[str, Any]) -> None:
        read(patient_id=patient_id)
        write(**diagnosis)

    return read_modify_write
