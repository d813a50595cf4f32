"""The results file's schema, as pydantic models: the writer and every reader go through them.

`ResultsFile` is one run. Its JSON Schema is generated into the repository
(`schema/mmbench.results-2.schema.json`, by `python -m bench.schema`; a test checks it is
current) and the README's field tables are checked against these models by a test.

Version 2 (`mmbench.results/2`) adds to version 1: per phase the `rounds` of `--repeat`, the
uncertainty of p50 / p99 and the verdict against the fastest backend (`stats`), client and
server CPU per operation (`cpu`), the engine's explanation of the phase's first question
(`explain`) and the engine-reported server time (`server`); per backend the engine's
`options` and an emulator's `differences`, and what it held (`holdings`). Version 1 files
are still read (the new fields are absent).
"""

from __future__ import annotations

import base64
import binascii
import json
import sys
import zlib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SCHEMA = "mmbench.results/2"
READABLE = ("mmbench.results/1", SCHEMA)
SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema" / "mmbench.results-2.schema.json"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _valid_histogram(text: str | None) -> str | None:
    """An HdrHistogram in the standard compressed base64 encoding, or None (refuses garbage)."""
    if text is None:
        return None
    try:
        raw = zlib.decompress(base64.b64decode(text, validate=True)[8:])
    except (binascii.Error, zlib.error, ValueError):
        raise ValueError("not an encoded HdrHistogram (compressed base64)") from None
    if len(raw) < 40:
        raise ValueError("not an encoded HdrHistogram (too short)")
    return text


class Latency(_Strict):
    """Latency statistics in microseconds; percentiles from the histogram (3 digits), the rest exact."""

    count: int = Field(ge=0)
    min_us: float = Field(ge=0)
    mean_us: float = Field(ge=0)
    p50_us: float = Field(ge=0)
    p90_us: float = Field(ge=0)
    p99_us: float = Field(ge=0)
    p999_us: float = Field(ge=0)
    max_us: float = Field(ge=0)
    stddev_us: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Latency:
        if self.count and not (self.min_us <= self.p50_us <= self.p90_us <= self.p99_us <= self.p999_us <= self.max_us):
            raise ValueError("percentiles out of order (min <= p50 <= p90 <= p99 <= p99.9 <= max)")
        return self


class Interval(_Strict):
    """A point estimate with its 95% confidence interval."""

    value: float
    lo: float
    hi: float


class Ratio(Interval):
    """A ratio (this backend / the fastest, or B / A) with its interval and what it means."""

    verdict: Literal["faster", "slower", "≈"]


class Uncertainty(_Strict):
    """Over the rounds of a phase: the median of the rounds' p50 and p99, each with a 95%
    interval (hierarchical bootstrap: rounds resampled, then each round's latencies resampled
    from its histogram), and the ratio to the fastest backend on the same phase."""

    rounds: int = Field(ge=1)
    method: str
    p50_us: Interval
    p99_us: Interval
    vs_fastest: Ratio | None = None
    p99_samples_beyond: int = Field(ge=0, description="operations slower than p99: few means p99 is shaky")


class Round(_Strict):
    """One round of a phase (`--repeat`): what was measured in it."""

    round: int = Field(ge=1)
    position: int = Field(ge=0, description="the backend's place in this round's shuffled order")
    ops: int = Field(ge=0)
    errors: int = Field(ge=0)
    elapsed_s: float = Field(ge=0)
    ops_per_s: float = Field(ge=0)
    p50_us: float = Field(ge=0)
    p99_us: float = Field(ge=0)
    histogram: str | None

    _hist = field_validator("histogram")(lambda cls, v: _valid_histogram(v))


class CPU(_Strict):
    """CPU time per timed operation: the workers (client) and the local engine's processes (server)."""

    client_us_per_op: float | None
    server_us_per_op: float | None
    server_reason: str | None = Field(None, description="why server CPU is not given (embedded, remote)")
    cores: int
    client_bound: bool = Field(description="the client used more CPU than the server, or than the cores allow")


class Cost(_Strict):
    total: dict[str, float]
    per_op: dict[str, float]


class Operation(_Strict):
    queries: list[str]
    ops: int
    latency: Latency
    histogram: str

    _hist = field_validator("histogram")(lambda cls, v: _valid_histogram(v))


class Server(_Strict):
    """The engine's own execution time for the phase's question (sampled with explain, untimed)."""

    samples: int = Field(ge=0)
    server_us: float | None
    reason: str | None = None


class StatementModel(_Strict):
    language: Literal["sql", "cql", "cypher", "mongo", "dynamodb", "http"]
    text: str
    params: Any = None


class WorkModel(_Strict):
    answer: int
    returned: int | None = None
    examined: int | None = None
    round_trips: int | None = None
    cost: dict[str, float] = Field(default_factory=dict)
    reasons: dict[str, str] = Field(default_factory=dict)


class ExplanationModel(_Strict):
    """`Backend.explain` of the phase's first question (see `backends.base.Explanation`)."""

    backend: str
    query: str
    params: dict[str, Any]
    tier: str
    statements: list[StatementModel]
    plan: Any = None
    plan_summary: list[str] = Field(default_factory=list)
    work: WorkModel
    notes: list[str] = Field(default_factory=list)
    server_us: float | None = None
    undone: str | None = None


class PhaseResult(_Strict):
    """One (backend, data set, phase): a query or a workload, over all its rounds."""

    backend: str
    dataset: str
    phase: str
    kind: Literal["query", "workload"]
    queries: list[str]
    tier: Literal["native", "client"]
    status: Literal["ok", "failed", "interrupted", "skipped"]
    error: str | None = None
    verified: bool | None = None
    verify_error: str | None = None
    ops: int = Field(0, ge=0)
    errors: int = Field(0, ge=0)
    elapsed_s: float = Field(0.0, ge=0)
    ops_per_s: float = Field(0.0, ge=0)
    wall_s: float = Field(0.0, ge=0)
    latency: Latency | None = None
    histogram: str | None = None
    service_time: Latency | None = None
    service_histogram: str | None = None
    operations: dict[str, Operation] | None = None
    cost: Cost | None = None
    rounds: list[Round] = Field(default_factory=list)
    stats: Uncertainty | None = None
    cpu: CPU | None = None
    explain: ExplanationModel | None = None
    explain_error: str | None = None
    server: Server | None = None

    _hist = field_validator("histogram", "service_histogram")(lambda cls, v: _valid_histogram(v))

    @model_validator(mode="after")
    def _consistent(self) -> PhaseResult:
        if self.status == "ok" and self.ops and (self.latency is None or self.histogram is None):
            raise ValueError("an ok phase with operations has latency and histogram")
        if self.latency is not None and self.latency.count != self.ops:
            raise ValueError(f"latency.count {self.latency.count} != ops {self.ops}")
        return self


class KindLoad(_Strict):
    rows: int = Field(ge=0)
    produce_s: float = Field(ge=0)
    write_s: float = Field(ge=0)
    index_s: float = Field(ge=0)
    rows_per_s: float = Field(ge=0)
    insert_rows_per_s: float = Field(ge=0)


class LoadResult(_Strict):
    status: Literal["ok", "failed", "interrupted", "not loaded"]
    error: str | None = None
    setup_s: float | None = None
    finish_s: float | None = None
    backend_s: float | None = None
    total_rows: int | None = None
    kinds: dict[str, KindLoad] | None = None


class Engine(_Strict):
    product: str
    version: str
    emulator: bool
    address: str
    options: dict[str, str] = Field(default_factory=dict)
    differences: list[str] = Field(default_factory=list)


class BackendEntry(_Strict):
    status: Literal["ok", "unavailable", "failed"]
    error: str | None = None
    requested: bool | None = None
    model: str | None = None
    design: str | None = None
    engine: Engine | None = None
    driver: str | None = None
    loads: dict[str, LoadResult] = Field(default_factory=dict)
    holdings: dict[str, Any] | None = Field(None, description="--no-load: what the backend held, as it said")


class DatasetEntry(BaseModel):
    model_config = ConfigDict(extra="allow")  # a data set's own description (files, VCF counts...)

    name: str
    scale: int | None = None
    seed: int | None = None
    rows: dict[str, int] | None = None


class Tool(_Strict):
    name: str
    version: str
    git_commit: str | None
    git_dirty: bool | None


class Machine(_Strict):
    cpu_model: str
    cpu_cores_logical: int | None
    cpu_cores_physical: int | None
    memory_bytes: int
    os: str
    load_average_at_start: list[float]


class Python(_Strict):
    version: str
    implementation: str


class ResultsFile(_Strict):
    """One run of `mmbench run`."""

    schema_: Literal["mmbench.results/1", "mmbench.results/2"] = Field(alias="schema")
    id: str
    started_at: str
    finished_at: str | None
    status: Literal["running", "complete", "failures", "interrupted"]
    tool: Tool
    machine: Machine
    python: Python
    packages: dict[str, str | None]
    settings: dict[str, Any]
    datasets: dict[str, DatasetEntry]
    backends: dict[str, BackendEntry]
    results: list[PhaseResult]

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def dump(self) -> dict[str, Any]:
        """The JSON form (as written to the file)."""
        return self.model_dump(mode="json", by_alias=True)


def json_schema() -> dict[str, Any]:
    out = ResultsFile.model_json_schema(by_alias=True)
    out["$id"] = "https://github.com/mmbench/mmbench/schema/mmbench.results-2.schema.json"
    out["title"] = "mmbench results file (mmbench.results/2)"
    return out


def main() -> None:
    """`python -m bench.schema` writes the JSON Schema file (`--check`: exit 1 if it is stale)."""
    text = json.dumps(json_schema(), indent=1, ensure_ascii=False) + "\n"
    if "--check" in sys.argv:
        current = SCHEMA_FILE.read_text() if SCHEMA_FILE.exists() else ""
        sys.exit(0 if current == text else 1)
    SCHEMA_FILE.parent.mkdir(parents=True, exist_ok=True)
    SCHEMA_FILE.write_text(text)
    print(SCHEMA_FILE)


if __name__ == "__main__":
    main()
