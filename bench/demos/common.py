"""What the trade-off demos share beyond `base.py`: opening what answers, loading only when the
namespace does not already hold the data, measuring within a time budget, writes with fresh
parameters, and plots.

Time budget. A demo measures many alternatives, some answering in microseconds and some in
tens of milliseconds; a fixed number of operations would make it either noisy or slow. Each
alternative is first called a few times untimed (`PILOT` calls), and gets as many operations
per round as fit `budget_s / ROUNDS` at their median pace, between `MIN_OPS` and the context's `ops`.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends import REGISTRY, Backend, registration
from backends.base import Explanation, NotLoaded
from bench.demos.base import ROUNDS, Context, DemoResult, Measured, cell_text
from bench.stats import Latencies
from bench.timing import time_calls
from bench.uncertainty import Buckets, estimate, interval, replicates, rng_for
from models.catalog import CATALOG, Q
from models.dataset import Dataset, EntityKind
from models.errors import MMBenchError, UsageError, first_line
from models.sampling import SampleSource

BUDGET_S = 2.0   # seconds of timed calls per alternative (all rounds), at most
MIN_OPS = 5      # operations per round, at least (unless the context asks for fewer)
PILOT = 3        # untimed calls that estimate an alternative's pace


# ---------------------------------------------------------------- backends and data

def try_open(ctx: Context, name: str, settings: Any = None) -> tuple[Backend | None, str | None]:
    """Backend `name` in the demo's namespace, or None and one line saying why it did not answer."""
    if name not in REGISTRY:
        return None, f"{name} is not registered in this installation"
    try:
        return ctx.open(name, settings), None
    except (MMBenchError, OSError) as exc:
        return None, first_line(exc)
    except TypeError as exc:  # a backend class that does not implement the whole interface yet
        missing = str(exc).partition("abstract method")[2].lstrip("s ").strip()
        return None, (f"its backend does not implement {missing} yet" if missing
                      else f"its backend cannot be used yet ({first_line(exc)})")


def open_each(ctx: Context, names: Iterable[str], notes: list[str]) -> dict[str, Backend]:
    """The backends of `names` that answer, by name; one note "NAME skipped: why" for each that does not."""
    opened: dict[str, Backend] = {}
    for name in names:
        backend, why = try_open(ctx, name)
        if backend is None:
            notes.append(f"{name} skipped: {why}")
        else:
            opened[name] = backend
    return opened


def choose(ctx: Context, offered: tuple[str, ...]) -> tuple[str, ...]:
    """The backends to run: all `offered`, or the one `--backend` names (which must be offered)."""
    if ctx.backend_override is None:
        return offered
    name = registration(ctx.backend_override).name
    if name not in offered:
        raise UsageError(f"demo {ctx.demo} runs on {', '.join(offered)}; --backend {name} is not one of them")
    return (name,)


def no_choice(ctx: Context, offered: tuple[str, ...]) -> None:
    """Demos that compare fixed backends refuse `--backend`."""
    if ctx.backend_override is not None:
        raise UsageError(f"demo {ctx.demo} compares {', '.join(offered)} with each other: it takes no --backend")


def describe(data: Dataset) -> str:
    d = data.describe()
    return str(d.get("name")) + (f" scale {d['scale']}" if d.get("scale") else "")


def ensure_loaded(ctx: Context, backend: Backend, data: Dataset) -> str:
    """Load `data` unless the namespace already holds exactly it (same name, scale and seed, no
    writes since): a second run of a demo, or a notebook after the command, skips the load.
    Returns what happened, for the demo's notes."""
    d = data.describe()
    with ctx.namespaced():
        try:
            held = backend.holdings()
        except NotLoaded:
            held = None
    if (held is not None and held.dataset == d.get("name") and held.scale == d.get("scale")
            and held.seed == d.get("seed") and held.writes_since == 0):
        ctx.say(f"{backend.name}: already holds {describe(data)} (namespace {ctx.namespace}): not reloaded")
        return f"{backend.name}: reused the {describe(data)} data already loaded in namespace {ctx.namespace}"
    ctx.load(backend, data)
    return f"{backend.name}: loaded {describe(data)} into namespace {ctx.namespace}"


class Only(Dataset):
    """The entity kinds a demo needs of a data set (the others empty), under a name of its own so
    that its holdings are never mistaken for the whole data set."""

    valid_by_construction = True

    def __init__(self, base: Dataset, kinds: tuple[EntityKind, ...], tag: str) -> None:
        self.base, self.kinds = base, kinds
        self.name = f"{base.name}-{tag}"

    def describe(self) -> dict[str, Any]:
        return {**self.base.describe(), "name": self.name, "kinds": list(self.kinds)}

    def _kind(self, kind: EntityKind) -> Iterator[Any]:
        return self.base.stream(kind) if kind in self.kinds else iter(())

    def patients(self) -> Iterator[Any]:
        return self._kind("patients")

    def diagnoses(self) -> Iterator[Any]:
        return self._kind("diagnoses")

    def lab_results(self) -> Iterator[Any]:
        return self._kind("lab_results")

    def variants(self) -> Iterator[Any]:
        return self._kind("variants")


def draw(data: Dataset | SampleSource, query: Q, n: int, seed: int, start: int = 0) -> list[dict[str, Any]]:
    """`n` parameter sets for `query`, drawn as a benchmark draws them (deterministic); writes get
    fresh ids from their op index (`start`, `start + 1`, ...)."""
    source = data if isinstance(data, SampleSource) else SampleSource.from_dataset(data, seed=seed)
    rng = random.Random(f"{seed}-{query}")
    return [CATALOG[query].sample(source, rng, start + i) for i in range(n)]


# ---------------------------------------------------------------- measuring

def ops_for(ctx: Context, call: Callable[..., Any], params: list[dict[str, Any]], budget_s: float | None = None) -> int:
    """Operations per round that fit the budget at the pace of a few untimed calls."""
    pilot = [(call, params[i % len(params)]) for i in range(PILOT)]
    per_call_s = max(sorted(time_calls(pilot))[PILOT // 2] / 1e9, 1e-6)
    fit = int((budget_s or BUDGET_S) / ROUNDS / per_call_s)
    return max(min(MIN_OPS, ctx.ops), min(ctx.ops, fit))


def measure(ctx: Context, label: str, backend: Backend, q: Q, params: list[dict[str, Any]], /, *,
            explain_n: int = 1, budget_s: float | None = None, **extra: Any) -> Measured:
    """Query `q` on `backend` over `params` (cycled), timed within the budget. The work comes from
    the backend's explanations of the first `explain_n` parameter sets: with more than one,
    examined and returned are their means (rounded), and the cost counters too. `extra` goes
    into the table row; the first explanation is kept as `m.explanation` (not in the row)."""
    call = getattr(backend, q.value)
    with ctx.namespaced():
        ops = ops_for(ctx, call, params, budget_s)
        m = ctx.measure(label, backend, call, params, ops=ops)
        explained = [backend.explain(q, p) for p in params[:max(1, explain_n)]]
        backend.take_cost()
    add_work(m, explained)
    m.extra.update(extra)
    return m


def short_plan(summary: list[str]) -> str | None:
    """A plan summary for a table cell: its operators in order, without Neo4j's details and counts
    (`NodeUniqueIndexSeek → Expand(All) → ...`); SQL plans as they are (their lines are short)."""
    steps = []
    for line in summary:
        step = line.strip()
        if " (rows " in step and "db hits" in step:  # Neo4j PROFILE: "Expand(All) (c)<--(p) (rows 3, db hits 4)"
            step = step.split()[0]
        if not steps or steps[-1] != step:
            steps.append(step)
    return " → ".join(steps) or None


def add_work(m: Measured, explained: list[Explanation]) -> None:
    """The work of one or more explanations of the same question into `m` (means over several)."""
    Context.add_work(m, explained[0])
    m.plan = short_plan(explained[0].plan_summary)
    m.explanation = explained[0]  # type: ignore[attr-defined]
    m.extra["round_trips"] = explained[0].work.round_trips
    m.extra["statements"] = len(explained[0].statements)
    if len(explained) > 1:
        for name in ("examined", "returned"):
            values = [getattr(e.work, name) for e in explained]
            setattr(m, name, None if None in values else round(sum(values) / len(values)))
        units = {k for e in explained for k in e.work.cost}
        m.cost = {k: round(sum(e.work.cost.get(k, 0) for e in explained) / len(explained), 1) for k in units}
        m.extra["explained"] = len(explained)
    m.cost = {k: v for k, v in m.cost.items() if v}


def measure_writes(ctx: Context, label: str, backend: Backend, q: Q, draw_params: Callable[[int], dict[str, Any]],
                   /, *, explain: dict[str, Any], budget_s: float | None = None,
                   **extra: Any) -> tuple[Measured, Explanation]:
    """A write timed like a read, but every call with parameters of its own (`draw_params(i)`:
    fresh ids, so no call repeats another's insert); the engine-reported cost per write
    (`take_cost`, e.g. DynamoDB's write units) goes into `cost` as `<unit>_per_write`. Also
    returns the explanation of one more write with `explain` (undone by the backend)."""
    call = getattr(backend, q.value)
    counter = iter(range(10**9))

    def calls(n: int) -> list[tuple[Callable[..., Any], dict[str, Any]]]:
        return [(call, draw_params(next(counter))) for _ in range(n)]

    with ctx.namespaced():
        per_call_s = max(sorted(time_calls(calls(PILOT)))[PILOT // 2] / 1e9, 1e-6)
        ops = max(min(MIN_OPS, ctx.ops), min(ctx.ops, int((budget_s or BUDGET_S) / ROUNDS / per_call_s)))
        time_calls(calls(min(10, ops)))
        backend.take_cost()
        rounds = [Latencies.from_ns(time_calls(calls(ops))) for _ in range(ROUNDS)]
        spent = backend.take_cost()
        explanation = backend.explain(q, explain)
    buckets = [Buckets.of(r.hist) for r in rounds]
    lo, hi = interval(replicates(buckets, 50, rng_for(label, backend.name)))
    m = Measured(label, backend.name, estimate(buckets, 50), lo, hi, estimate(buckets, 99),
                 sum(r.count for r in rounds), _rounds=buckets)
    add_work(m, [explanation])
    m.cost = {**m.cost, **_per_op(spent, m.ops)}
    m.extra.update(extra)
    with ctx.namespaced():
        backend.record_writes(m.ops + PILOT + min(10, ops))
    return m, explanation


def _per_op(cost: dict[str, float], ops: int) -> dict[str, float]:
    if not cost or not ops:
        return {}
    return {f"{unit}_per_write": round(value / ops, 3) for unit, value in cost.items()}


# ---------------------------------------------------------------- output

def load_average() -> list[float] | None:
    with contextlib.suppress(OSError, AttributeError):
        return [round(x, 2) for x in os.getloadavg()]
    return None


def save(ctx: Context, fig: Any, name: str) -> str | None:
    """Write `fig` to the demo's plot path (PNG); its path, or None when the demo has no output folder."""
    import matplotlib.pyplot as plt

    path: Path | None = ctx.plot_path(name)
    if path is None:
        plt.close(fig)
        return None
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)
    return str(path)


def emulator_notes(ctx: Context, backend: Backend, also: tuple[str, ...] = ()) -> list[str]:
    """For an emulator: that it is one, and what it does differently (in its backend's own words)."""
    info = backend.engine_info()
    if not info.emulator:
        return []
    who = ", ".join((backend.name, *also))
    return [f"{who}: {info.product} {info.version} is an emulator; what it does differently from the real engine:",
            *(f"  - {d}" for d in info.differences)]


def human_us(us: float) -> str:
    if us >= 1e6:
        return f"{us / 1e6:.3g} s"
    if us >= 1e3:
        return f"{us / 1e3:.3g} ms"
    return f"{us:.3g} µs"


# ---------------------------------------------------------------- several backends on the same questions

@dataclass
class Question:
    """One row group of a design comparison: a label, the query and its parameter sets."""

    label: str
    query: Q
    params: list[dict[str, Any]]


def compare_on(ctx: Context, backends: dict[str, Backend], questions: list[Question], *,
               explain_n: int = 1) -> dict[tuple[str, str], Measured]:
    """Every backend on every question, the same parameters for all; the order of the backends
    alternates from one question to the next, so slow drift of a busy machine does not always
    fall on the same one. Keyed by (backend, question label)."""
    out: dict[tuple[str, str], Measured] = {}
    names = list(backends)
    for i, question in enumerate(questions):
        for name in names if i % 2 == 0 else names[::-1]:
            ctx.say(f"{name}: {question.label}")
            out[(name, question.label)] = measure(ctx, question.label, backends[name], question.query,
                                                  question.params, explain_n=explain_n, question=question.label)
    return out


def bars(ctx: Context, title: str, questions: list[Question], names: list[str],
         measured: dict[tuple[str, str], Measured], labels: dict[str, str] | None = None) -> str | None:
    """Grouped bars of p50 (with its 95% interval) per question, one bar per backend; log scale."""
    from bench.report import _log_axis, _pyplot, fmt_tick_us

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5.0, 2.2 * len(questions) + 1.5), 3.6))
    width = 0.8 / max(1, len(names))
    colours = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#d62728")
    for j, name in enumerate(names):
        xs, ys, lo, hi = [], [], [], []
        for i, q in enumerate(questions):
            m = measured.get((name, q.label))
            if m is None:
                continue
            xs.append(i + (j - (len(names) - 1) / 2) * width)
            ys.append(m.p50_us)
            lo.append(max(0.0, m.p50_us - m.p50_lo_us))
            hi.append(max(0.0, m.p50_hi_us - m.p50_us))
        ax.bar(xs, ys, width=width * 0.95, yerr=[lo, hi], capsize=2, color=colours[j % len(colours)],
               label=(labels or {}).get(name, name))
    ax.set_xticks(range(len(questions)), [q.label for q in questions], fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("p50 latency (95% interval)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    _log_axis(ax.yaxis, fmt_tick_us)
    return save(ctx, fig, "latency")


# ---------------------------------------------------------------- running a demo in-process (notebooks, tests)

SHORT = {"index": "ix", "embed-vs-reference": "evr", "join-vs-traversal": "jvt", "write-amplification": "wa",
         "documents-in-postgres": "dip"}


def prefixed_namespace(demo: str, prefix: str) -> str:
    """The namespace of `demo` under `prefix` (`test_ix`): tests and notebooks keep their data apart."""
    return f"{prefix}_{SHORT.get(demo, demo.replace('-', '_'))}"[:24]


def run_demo(name: str, *, scale: int | None = None, ops: int = 50, out_dir: Path | None = None, seed: int = 42,
             backend: str | None = None, prefix: str | None = None, say: Callable[[str], None] = lambda _: None,
             ) -> DemoResult:
    """Run demo `name` as `mmbench demo NAME` does, in this process: `ops` operations per round at
    most (the command uses 200), plots into `out_dir`, in the demo's own namespace (or, with
    `prefix`, in `<prefix>_<short name>`)."""
    from bench.demos import get_demo

    demo = get_demo(name)
    ctx = Context(demo.name, backend=backend, scale=scale, seed=seed, out_dir=out_dir, ops=ops, say=say)
    if prefix:
        ctx.namespace = prefixed_namespace(demo.name, prefix)
    try:
        result = demo.run(ctx)
    finally:
        ctx.close()
    result.engines = {**ctx.engines, **result.engines}
    return result


def result_html(result: DemoResult, columns: list[str] | None = None) -> str:
    """A demo's table, notes and takeaway as HTML (for a notebook)."""
    import html

    cols = columns or result.columns
    unknown = [c for c in cols if result.rows and all(c not in r for r in result.rows)]
    if unknown:
        raise ValueError(f"demo {result.name} has no column {', '.join(unknown)}; it has {', '.join(result.rows[0])}")

    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell_text(r.get(c)))}</td>" for c in cols) + "</tr>"
                   for r in result.rows)
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in result.notes)
    engines = ", ".join(f"{k}: {v}" for k, v in result.engines.items())
    return (f"<p><b>{html.escape(result.name)}</b>: {html.escape(result.question)}</p>"
            f"<table><tr>{head}</tr>{body}</table><p><small>{html.escape(engines)}</small></p>"
            + (f"<details><summary>notes</summary><ul>{notes}</ul></details>" if notes else "")
            + f"<p><b>Takeaway:</b> {html.escape(result.takeaway)}</p>")
