"""The common interface of every backend, its tiers, its errors and its explanations.

A Backend persists the domain to one engine and answers every catalog query (same method
name, keyword parameters, domain objects out). Backends never time themselves: the harness
in `bench` does. Loading reports progress through a callback, which the harness also uses
to time each entity.

Three contracts every backend keeps (the shared suite `tests/conformance/test_contract.py`
checks them):
- **A load replaces, atomically.** `load()` swaps what the backend holds for the data set;
  if anything fails part-way, the backend holds exactly what it held before. Each backend's
  module docstring says how (one transaction, or staging tables switched over at the end)
  and what a process killed mid-load leaves behind.
- **Namespaces.** Every name a backend creates (file, database, schema, keyspace, table
  prefix, label prefix) carries `namespace()`, so two runs, two test sessions or a lecture
  and a test never touch each other's data.
- **What it holds.** A load records its data set (`Holdings`) in the backend itself, in the
  same atomic switch; `holdings()` reads it back and `record_writes()` counts what the
  benchmark added since.
"""

from __future__ import annotations

import abc
import datetime as dt
import enum
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
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
from models.errors import MMBenchError, UsageError, first_line


class Tier(enum.StrEnum):
    """How a backend answers a query: on the server, or finished in the client."""

    NATIVE = "native"
    CLIENT = "client"  # a scan + filter, a client-side join or aggregation: labelled in reports


class BackendError(MMBenchError):
    """A backend failed in a way the user can act on."""


class NotLoaded(BackendError):
    """The backend's schema does not exist yet: nothing was loaded into it."""

    def __init__(self, backend: str, what: str) -> None:
        ns = os.environ.get(NAMESPACE_ENV, "").strip()
        option = f" --namespace {ns}" if ns else ""
        super().__init__(f"{backend} holds no mmbench {what} yet; load a data set first: "
                         f"mmbench{option} load --backend {backend} --dataset seed")


class DriverMissing(BackendError):
    def __init__(self, backend: str, extra: str, module: str) -> None:
        super().__init__(f"{backend}: the Python driver ({module}) is not installed; "
                         f"run: pip install -e '.[{extra}]'")


class EngineUnavailable(BackendError):
    """The engine does not answer at its address."""

    def __init__(self, backend: str, product: str, address: str, detail: str = "") -> None:
        self.backend, self.address = backend, address
        engine = backend.partition(":")[0]  # a design (`mongodb:referenced`) runs on its backend's engine
        hint = f"start it with `mmbench up {engine}` or `docker compose up -d {engine}`"
        extra = f" ({detail})" if detail else ""
        super().__init__(f"{backend}: cannot reach {product} at {address}{extra}; {hint}")


@dataclass(frozen=True)
class EngineInfo:
    """Who answered: goes into every results file."""

    product: str          # e.g. "PostgreSQL", "moto (DynamoDB API emulator)"
    version: str          # the server's version as it reports it
    emulator: bool        # True for moto, mongo-java-server: never a real engine's numbers
    driver: str           # e.g. "psycopg 3.2.1"
    address: str = ""     # where (no credentials: see `redact_url`)
    options: Mapping[str, str] = field(default_factory=dict)
    """Settings that change what is measured, recorded in every results file (e.g. Cassandra's
    read and write consistency levels, a PostgreSQL replica serving reads, the local engine)."""
    differences: tuple[str, ...] = ()
    """For an emulator: what it does differently from the real engine, one sentence each (shown
    wherever its numbers appear)."""


@dataclass
class LoadStats:
    """Rows written per entity kind."""

    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ENTITY_KINDS, 0))

    @property
    def total(self) -> int:
        return sum(self.rows.values())


Language = Literal["sql", "cql", "cypher", "mongo", "dynamodb"]


@dataclass(frozen=True)
class Statement:
    """One request sent to the engine, exactly as sent."""

    language: Language
    text: str          # SQL / CQL with placeholders; Cypher; MongoDB command or pipeline as JSON;
                       # DynamoDB: the operation name, a space, the request as JSON
    params: Any = None  # the bound parameters (JSON-ready), None if they are inside `text`


@dataclass
class Work:
    """What the engine did to answer, in counts (stable across machines, unlike times).

    A figure the engine cannot give is None, with a one-line reason in `reasons[field]`:
    never a guess presented as a measurement."""

    answer: int                    # records in the final answer (0 or 1 for a single object; 0 for a write)
    returned: int | None = None    # records the engine sent to the client (> answer when the client finishes)
    examined: int | None = None    # records (rows, documents, items, db hits...) the engine read to answer
    round_trips: int | None = None  # requests sent
    cost: dict[str, float] = field(default_factory=dict)  # engine units: {"rcu": 0.5}, {"shared_hit": 12}...
    reasons: dict[str, str] = field(default_factory=dict)  # field name -> why it is None


@dataclass
class Explanation:
    """Why a query took the time it took: the requests, the engine's plan and the work it did."""

    backend: str
    query: str
    params: dict[str, Any]               # the query's parameters (JSON-ready)
    tier: str                            # native or client
    statements: list[Statement]
    plan: Any                            # the engine's own plan(s), raw and JSON-ready (None: reason in notes)
    plan_summary: list[str]              # the top operators, e.g. "SEARCH variants USING INDEX ix_variants_region"
    work: Work
    notes: list[str] = field(default_factory=list)  # e.g. what an emulator does differently for this query
    server_us: float | None = None       # execution time the engine reports for itself, where it does
    undone: str | None = None            # writes: how the explained write was undone ("rolled back", ...)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Holdings:
    """What a backend holds: the data set last loaded into it, and the writes added since."""

    dataset: str                      # its name (seed, synthetic, 1kg, a file...)
    scale: int | None
    seed: int | None
    rows: dict[str, int]              # per entity kind, as loaded
    loaded_at: str                    # ISO 8601 UTC
    writes_since: int = 0             # write operations the benchmark (or a user) added since

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Holdings:
        return cls(dataset=str(d["dataset"]), scale=d.get("scale"), seed=d.get("seed"),
                   rows={str(k): int(v) for k, v in dict(d.get("rows") or {}).items()},
                   loaded_at=str(d.get("loaded_at", "")), writes_since=int(d.get("writes_since", 0)))

    def describe(self) -> str:
        """One line: `seed (12 patients, 10 variants), loaded 2026-11-29T16:40Z, + 120 writes`."""
        what = self.dataset + (f" scale {self.scale}" if self.scale else "") + (
            f" seed {self.seed}" if self.seed is not None and self.dataset == "synthetic" else "")
        rows = ", ".join(f"{n:,} {k}" for k, n in self.rows.items() if n)
        grown = f", grown by {self.writes_since:,} writes since" if self.writes_since else ""
        return f"{what} ({rows}), loaded {self.loaded_at}{grown}"


def holdings_of(data: Dataset, rows: Mapping[str, int]) -> Holdings:
    """The Holdings record of a load of `data` that wrote `rows`, stamped now."""
    d = data.describe()
    return Holdings(dataset=str(d.get("name", data.name)), scale=d.get("scale"), seed=d.get("seed"),
                    rows=dict(rows), loaded_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))


LoadEvent = Literal["begun", "produced", "written", "indexed", "done"]
"""A load step that just ended: begun (begin_load), produced (a batch was read or generated;
0 rows once a kind is exhausted), written (write_batch), indexed (finish_kind), done (end_load)."""

Progress = Callable[[LoadEvent, EntityKind | None, int], None]


def _silent(event: LoadEvent, kind: EntityKind | None, rows: int) -> None:
    """The default load listener: hears nothing."""


NAMESPACE_ENV = "MMBENCH_NAMESPACE"
_NAMESPACE = re.compile(r"[a-z][a-z0-9_]{0,23}")


def namespace() -> str:
    """The data namespace of this process: `$MMBENCH_NAMESPACE` (set by `--namespace`), "" by
    default. A lower-case letter, then up to 23 lower-case letters, digits or `_`, so that it
    is a valid part of every engine's identifiers (keyspace, database, label, table names)."""
    value = os.environ.get(NAMESPACE_ENV, "").strip()
    if value and not _NAMESPACE.fullmatch(value):
        raise UsageError(f"namespace {value!r}: use a lower-case letter, then up to 23 lower-case letters, "
                         "digits or _ (from --namespace or MMBENCH_NAMESPACE)")
    return value


def namespaced(base: str, sep: str = "_") -> str:
    """`base` qualified by the namespace: `mmbench` -> `mmbench_lecture` (unchanged without one)."""
    ns = namespace()
    return f"{base}{sep}{ns}" if ns else base


def redact_url(url: str) -> str:
    """`url` without its userinfo: `postgresql://u:p@ss@host:5432/db` -> `postgresql://***@host:5432/db`.

    The host is what follows the LAST `@`, so a password with an unencoded `@`, `:`, `/` or `?`
    is removed whole; query-string values of passwords, secrets, tokens and keys are masked too
    (`tlsCertificateKeyFilePassword=...` included)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    head, q, query = rest.partition("?")
    if q:
        query = re.sub(r"(?i)([a-z]*(?:password|passwd|pwd|secret|token|key))=[^&]*", r"\1=***", query)
    return f"{scheme}://{head}{q}{query}"


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
        """Replace what the backend holds with `data`, atomically: on any failure (a bad row, the
        engine refusing a write, Ctrl-C) the backend is left holding what it held before.

        The bulk-load protocol: `begin_load()` (open a transaction, or create fresh staging
        tables / collections / keyspace / labels), then per kind `write_batch()`... and
        `finish_kind()`, then `end_load(holdings)`, which makes the new data and its
        `Holdings` current in one step and drops the old; `abort_load()` drops the staging
        area if anything fails. `progress` hears each step as it ends (see `LoadEvent`),
        which is how the harness times a load without the backend timing itself.
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
            self.end_load(holdings_of(data, stats.rows))
            say("done", None, 0)
        except BaseException as exc:
            try:
                self.abort_load()
            except Exception as cleanup:  # the load's own error is the one to report
                exc.add_note(f"and undoing the partial load failed too: {first_line(cleanup)}")
            raise
        return stats

    @abc.abstractmethod
    def begin_load(self) -> None:
        """Prepare a staging area for a bulk load that does not touch the current data."""

    @abc.abstractmethod
    def write_batch(self, kind: EntityKind, rows: list[Any]) -> None:
        """Insert one batch of entities of one kind into the staging area (the bulk-load path)."""

    def finish_kind(self, kind: EntityKind) -> None:
        """All entities of `kind` are written (e.g. build its indexes now)."""

    @abc.abstractmethod
    def end_load(self, holdings: Holdings) -> None:
        """Make the staged data and `holdings` current in one step; drop the old data."""

    @abc.abstractmethod
    def abort_load(self) -> None:
        """The load failed part-way (possibly inside `begin_load`): drop the staging area,
        leaving the current data as it was."""

    # -- what the backend holds

    @abc.abstractmethod
    def holdings(self) -> Holdings | None:
        """What the last successful load recorded (None if it recorded nothing); NotLoaded if
        nothing was ever loaded in this namespace."""

    @abc.abstractmethod
    def record_writes(self, n: int) -> None:
        """Add `n` to the writes counted in `holdings()` (untimed: the harness calls it after a
        writing phase)."""

    # -- why a query costs what it costs

    @abc.abstractmethod
    def explain(self, query: Q | str, params: Mapping[str, Any]) -> Explanation:
        """Run `query` once and say what the engine did: the statements sent, the engine's plan
        and the work (see `Explanation`). Writes run inside something that is undone where the
        engine allows it (a rolled-back transaction), else on scratch ids that are deleted
        afterwards; `undone` says which. Never timed by the harness."""

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


def answer_size(answer: Any) -> int:
    """Records in an answer: a list's length, 1 for one object, 0 for none or a write."""
    if answer is None:
        return 0
    return len(answer) if isinstance(answer, list) else 1
