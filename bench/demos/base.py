"""What every trade-off demo shares: its question, a measurement context, and its result.

A demo (`mmbench demo NAME`) states a question, runs the alternatives on the same data and
parameters, prints a table (p50, p99, examined, returned, cost), writes a plot, and ends with a
takeaway for students that is built from the numbers it just measured — a demo never claims
what its run did not show: a difference is called one only when its 95% interval excludes 1
(`bench.uncertainty`), otherwise the takeaway says the run could not tell them apart.

Demos load their data into their own namespace (`demo_<name>`), so they never touch what a
lecture or a benchmark loaded. They time through `bench.timing` (the only module that reads
the clock) and count through each backend's `explain`.
"""

from __future__ import annotations

import abc
import contextlib
import json
import os
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from backends import open_backend
from backends.base import NAMESPACE_ENV, Backend, Explanation, run_query
from bench.stats import Latencies
from bench.timing import time_calls
from bench.uncertainty import Buckets, estimate, interval, ratio, replicates, rng_for
from models.catalog import Q
from models.dataset import Dataset

ROUNDS = 3


@dataclass
class Measured:
    """One alternative of a demo, measured: latency with its interval, and the work behind it."""

    label: str
    backend: str
    p50_us: float
    p50_lo_us: float
    p50_hi_us: float
    p99_us: float
    ops: int
    examined: int | None = None
    returned: int | None = None
    answer: int | None = None
    cost: dict[str, float] = field(default_factory=dict)
    statement: str | None = None
    plan: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    _rounds: list[Buckets] = field(default_factory=list, repr=False)

    def row(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if not k.startswith("_")}
        out.update(out.pop("extra"))
        return out

    def versus(self, other: Measured) -> dict[str, Any]:
        """self.p50 / other.p50 with its 95% interval and verdict."""
        a = replicates(self._rounds, 50, rng_for(self.label, self.backend))
        b = replicates(other._rounds, 50, rng_for(other.label, other.backend))
        return ratio(a, b, self.p50_us / other.p50_us if other.p50_us else float("nan"))


@dataclass
class DemoResult:
    name: str
    question: str
    columns: list[str]
    rows: list[dict[str, Any]]
    takeaway: str
    plots: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    engines: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)


def demo_namespace(demo: str) -> str:
    """`demo_<name>`; a name too long for a namespace (24 characters) is cut and keeps a short
    hash of the whole, so two demos never share one (`demo_documents_in_a1b2`)."""
    full = f"demo_{demo.replace('-', '_')}"
    if len(full) <= 24:
        return full
    return f"{full[:19]}_{zlib.crc32(full.encode()) & 0xFFFF:04x}"


class Context:
    """What a demo runs with: its settings, its own namespace, and the means to measure."""

    def __init__(self, demo: str, *, backend: str | None = None, scale: int | None = None, seed: int = 42,
                 out_dir: Path | None = None, ops: int = 200, say: Callable[[str], None] = lambda _: None) -> None:
        self.demo, self.backend_override, self.scale, self.seed = demo, backend, scale, seed
        self.out_dir, self.ops, self.say = out_dir, ops, say
        self.namespace = demo_namespace(demo)
        self._open: list[Backend] = []
        self.engines: dict[str, str] = {}

    @contextlib.contextmanager
    def namespaced(self) -> Iterator[None]:
        before = os.environ.get(NAMESPACE_ENV)
        os.environ[NAMESPACE_ENV] = self.namespace
        try:
            yield
        finally:
            if before is None:
                os.environ.pop(NAMESPACE_ENV, None)
            else:
                os.environ[NAMESPACE_ENV] = before

    def open(self, name: str, settings: Any = None) -> Backend:
        """Backend `name` in the demo's namespace (closed when the demo ends)."""
        with self.namespaced():
            backend = open_backend(name, settings)
        info = backend.engine_info()
        self.engines[name] = f"{info.product} {info.version}" + (" (emulator)" if info.emulator else "")
        self._open.append(backend)
        return backend

    def load(self, backend: Backend, data: Dataset) -> None:
        self.say(f"{backend.name}: loading {data.describe().get('name')}"
                 + (f" scale {data.describe().get('scale')}" if data.describe().get("scale") else ""))
        with self.namespaced():
            backend.load(data)

    def close(self) -> None:
        for b in self._open:
            with contextlib.suppress(Exception):
                b.close()
        self._open.clear()

    def measure(self, label: str, backend: Backend, call: Callable[..., Any], params: list[dict[str, Any]],
                explain: tuple[Q | str, dict[str, Any]] | None = None, ops: int | None = None) -> Measured:
        """Time `call` over `params` (cycled) in ROUNDS rounds of `ops` calls, after a warmup; with
        `explain`, the work of one such question from the backend's explanation."""
        ops = ops or self.ops
        calls = [(call, params[i % len(params)]) for i in range(ops)]
        time_calls(calls[: min(20, ops)])
        rounds = [Latencies.from_ns(time_calls(calls)) for _ in range(ROUNDS)]
        buckets = [Buckets.of(r.hist) for r in rounds]
        lo, hi = interval(replicates(buckets, 50, rng_for(label, backend.name)))
        m = Measured(label, backend.name, estimate(buckets, 50), lo, hi, estimate(buckets, 99),
                     sum(r.count for r in rounds), _rounds=buckets)
        if explain is not None:
            self.add_work(m, backend.explain(*explain))
        return m

    @staticmethod
    def add_work(m: Measured, e: Explanation) -> None:
        m.examined, m.returned, m.answer, m.cost = e.work.examined, e.work.returned, e.work.answer, dict(e.work.cost)
        m.statement = e.statements[0].text if e.statements else None
        m.plan = " → ".join(e.plan_summary) or None

    def query(self, backend: Backend, query: Q | str, params: dict[str, Any]) -> Any:
        return run_query(backend, query, params)

    def plot_path(self, name: str) -> Path | None:
        if self.out_dir is None:
            return None
        self.out_dir.mkdir(parents=True, exist_ok=True)
        return self.out_dir / f"{self.demo}-{name}.png"


class Demo(abc.ABC):
    """A named trade-off: a question, the backends it needs, and how to answer it."""

    name: ClassVar[str]
    question: ClassVar[str]
    backends: ClassVar[tuple[str, ...]]
    needs: ClassVar[str] = ""         # e.g. "a 3-node Cassandra ring (mmbench up cassandra --nodes 3)"
    default_scale: ClassVar[int] = 1

    @abc.abstractmethod
    def run(self, ctx: Context) -> DemoResult: ...


# ---------------------------------------------------------------- takeaways from this run's numbers

def times(r: dict[str, Any]) -> str:
    """`12× [10–15×]` for a ratio with its interval (ratios below 1 as their inverse)."""
    if r["value"] >= 1:
        return f"{r['value']:.3g}× [{r['lo']:.3g}–{r['hi']:.3g}×]"
    return f"{1 / r['value']:.3g}× [{1 / r['hi']:.3g}–{1 / r['lo']:.3g}×]"


def compared(a: str, b: str, r: dict[str, Any]) -> str:
    """A sentence for `a` against `b` with the ratio a/b of their p50: only what the interval supports."""
    if r["verdict"] == "slower":
        return f"{a} was {times(r)} slower than {b}"
    if r["verdict"] == "faster":
        return f"{a} was {times(r)} faster than {b}"
    return f"this run could not tell {a} and {b} apart (p50 ratio {r['value']:.2f}, 95% interval {r['lo']:.2f}–{r['hi']:.2f})"


def cell_text(value: Any) -> str:
    """A table cell of a demo's result: numbers grouped, small floats to 3 digits, dicts inline."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}" if value >= 10 else f"{value:.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {cell_text(v)}" for k, v in value.items()) or "-"
    return str(value)


def fmt_count(n: float | None) -> str:
    return "?" if n is None else f"{n:,.0f}"
