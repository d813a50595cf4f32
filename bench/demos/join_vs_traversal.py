"""`mmbench demo join-vs-traversal`: the same multi-hop questions as SQL joins and as graph
traversals, and how each grows with the data.

`patients_sharing_diagnoses` (the other patients who share a code with this one, ranked) and
`comorbid_codes` (the codes that co-occur with this one) are a self-join of `diagnoses` in
PostgreSQL and a two-hop traversal `(:Patient)-[:HAS_DIAGNOSIS]->(:Diagnosis)<-[:HAS_DIAGNOSIS]-`
in Neo4j. The demo loads the synthetic patients and diagnoses at each scale (1, 2, 4 by
default; `--scale N` sets the largest, the others are the powers of two below it), asks both
engines the same drawn questions, and counts the work: rows examined from EXPLAIN ANALYZE
(PostgreSQL) and db hits from PROFILE (Neo4j) — different units (a db hit is one node,
relationship, property or index entry touched), so the takeaway compares how each grows, not
their sizes. Growth exponents k (cost ∝ scale^k, least squares on log-log axes with a 95%
interval from three scales on) come from `bench.sweep.Fit`.

`--backend` swaps one side: `sqlite` for the SQL side, `neo4j:properties` for the graph side.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, ClassVar

from backends import registration
from bench.demos.base import Context, Demo, DemoResult, Measured, compared, fmt_count
from bench.demos.common import (
    Only,
    Question,
    compare_on,
    draw,
    ensure_loaded,
    human_us,
    load_average,
    open_each,
    save,
)
from bench.sweep import Fit, classify
from models.catalog import Q
from models.errors import UsageError
from models.generate import SyntheticDataset

QUERIES = (Q.PATIENTS_SHARING_DIAGNOSES, Q.COMORBID_CODES)
DRAWS = 20       # parameter sets per query and scale, the same for both engines
EXPLAINED = 5    # of which explained: examined is their mean
COLUMNS = ["question", "backend", "scale", "p50_us", "p99_us", "examined", "returned", "cost", "plan"]
WORK = {"sql": "rows examined (EXPLAIN ANALYZE)", "graph": "db hits (PROFILE)"}


def scales_up_to(largest: int) -> list[int]:
    """1, 2, 4, ... below `largest`, and `largest`."""
    out, s = [], 1
    while s < largest:
        out.append(s)
        s *= 2
    return [*out, largest]


def growth(fit: dict[str, Any] | None, what: str) -> str:
    """`p50 ∝ scale^1.02 [0.91–1.13] (linear)`, only as sure as the interval allows."""
    if not fit:
        return f"{what}: no exponent (one scale)"
    if fit.get("lo") is None:
        return f"{what} ∝ scale^{fit['k']:.2f} ({classify(fit['k'])} over two scales, no interval)"
    low, high = classify(fit["lo"]), classify(fit["hi"])
    verdict = fit["growth"] if low == high else f"from {low} to {high}: too wide to classify"
    return f"{what} ∝ scale^{fit['k']:.2f} [{fit['lo']:.2f}–{fit['hi']:.2f}] ({verdict})"


def grew_apart(a: dict[str, Any] | None, b: dict[str, Any] | None) -> str | None:
    """Which exponent is larger, when their intervals do not overlap; None when the run cannot tell."""
    if not a or not b or a.get("lo") is None or b.get("lo") is None:
        return None
    if a["lo"] > b["hi"]:
        return "faster"
    if a["hi"] < b["lo"]:
        return "slower"
    return None


class JoinVsTraversal(Demo):
    name: ClassVar[str] = "join-vs-traversal"
    question: ClassVar[str] = ("Joins or traversals? patients_sharing_diagnoses and comorbid_codes in PostgreSQL and "
                               "Neo4j, and how their cost grows with the data")
    backends: ClassVar[tuple[str, ...]] = ("postgres", "neo4j")
    default_scale: ClassVar[int] = 4

    def run(self, ctx: Context) -> DemoResult:
        sql, graph = "postgres", "neo4j"
        if ctx.backend_override is not None:
            reg = registration(ctx.backend_override)
            if reg.model == "sql":
                sql = reg.name
            elif reg.model == "graph":
                graph = reg.name
            else:
                raise UsageError(f"demo {self.name}: --backend swaps the SQL side (sqlite, postgres) or the graph side "
                                 f"(neo4j, neo4j:properties), not {reg.name}")
        sides = {sql: "sql", graph: "graph"}
        scales = scales_up_to(ctx.scale or self.default_scale)
        loads = load_average()
        notes: list[str] = [(f"data: synthetic scales {', '.join(map(str, scales))} (seed {ctx.seed}), their "
                             "patients and diagnoses only, loaded in turn; the questions are drawn once, from the "
                             "smallest scale, and asked at every scale (its patients and codes are in all of them)")]
        opened = open_each(ctx, sides, notes)
        if len(opened) < 2:
            return DemoResult(self.name, self.question, COLUMNS, [],
                              f"Both {sql} and {graph} are needed; "
                              + (f"only {', '.join(opened)} answered" if opened else "neither answered")
                              + ", so nothing was compared.", notes=notes)
        names = list(sides)
        points: dict[tuple[str, str], list[Measured]] = {(n, q.value): [] for n in names for q in QUERIES}
        rows = []
        questions: list[Question] = []
        for scale in scales:
            data = Only(SyntheticDataset(scale=scale, seed=ctx.seed), ("patients", "diagnoses"), "patients-diagnoses")
            for name in names:
                notes.append(ensure_loaded(ctx, opened[name], data))
            # Synthetic patient k is the same person at every scale, so the questions drawn at the
            # smallest scale are asked again at the larger ones: only the data around them grows.
            questions = questions or [Question(q.value, q, draw(data, q, DRAWS, ctx.seed)) for q in QUERIES]
            measured = compare_on(ctx, opened, questions, explain_n=EXPLAINED)
            for q in QUERIES:
                for name in names:
                    m = measured[(name, q.value)]
                    m.extra["scale"] = scale
                    points[(name, q.value)].append(m)
                    rows.append(m.row())
        fits = {name: {q.value: {metric: _fit(scales, [getattr(m, metric) for m in points[(name, q.value)]])
                                 for metric in ("p50_us", "examined")} for q in QUERIES} for name in names}
        takeaway = _takeaway(scales, sql, graph, points, fits)
        plot = _plot(ctx, scales, names, sides, points, fits)
        out = {"scales": scales, "seed": ctx.seed, "sides": sides, "work_units": {n: WORK[s] for n, s in sides.items()},
               "fits": fits, "load_average": {"start": loads, "end": load_average()}}
        return DemoResult(self.name, self.question, COLUMNS, rows, takeaway, plots=[plot] if plot else [],
                          notes=notes, data=out)


def _fit(scales: list[int], values: list[Any]) -> dict[str, Any] | None:
    if any(v is None for v in values):
        return None
    fit = Fit.of([float(s) for s in scales], [float(v) for v in values])
    return asdict(fit) if fit else None


def _takeaway(scales: list[int], sql: str, graph: str, points: dict[tuple[str, str], list[Measured]],
              fits: dict[str, dict[str, dict[str, Any]]]) -> str:
    top = scales[-1]
    parts = []
    for q in QUERIES:
        s, g = points[(sql, q.value)][-1], points[(graph, q.value)][-1]
        text = (f"{q.value} at scale {top} ({graph} {human_us(g.p50_us)}, {sql} {human_us(s.p50_us)} p50): "
                f"{compared(f'{graph} (traversal)', f'{sql} (join)', g.versus(s))}.")
        if len(scales) > 1:
            fs, fg = fits[sql][q.value], fits[graph][q.value]
            text += (f" Over scales {', '.join(map(str, scales))}: {sql} {growth(fs['p50_us'], 'p50')}, "
                     f"{growth(fs['examined'], 'rows examined')}; {graph} {growth(fg['p50_us'], 'p50')}, "
                     f"{growth(fg['examined'], 'db hits')}.")
            apart = grew_apart(fg["p50_us"], fs["p50_us"])
            if apart:
                text += f" {graph}'s latency grew {apart} than {sql}'s (the exponents' intervals do not overlap)."
            elif fs["p50_us"] and fg["p50_us"] and fs["p50_us"].get("lo") is not None:
                text += " This run could not tell the growth of their latencies apart (the intervals overlap)."
        parts.append(text)
    parts.append(f"Rows examined ({sql}) and db hits ({graph}) are different units: compare how each grows with the "
                 "data, not their sizes.")
    return " ".join(parts)


def _plot(ctx: Context, scales: list[int], names: list[str], sides: dict[str, str],
          points: dict[tuple[str, str], list[Measured]], fits: dict[str, dict[str, dict[str, Any]]]) -> str | None:
    from matplotlib.ticker import NullFormatter

    from bench.report import _log_axis, _pyplot, fmt_tick_us

    plt = _pyplot()
    fig, axes = plt.subplots(len(QUERIES), 2, figsize=(10, 3.4 * len(QUERIES)), squeeze=False)
    for row, q in enumerate(QUERIES):
        for col, metric in enumerate(("p50_us", "examined")):
            ax = axes[row][col]
            for name in names:
                ms = points[(name, q.value)]
                ys = [getattr(m, metric) for m in ms]
                if any(y is None for y in ys):
                    continue
                fit = fits[name][q.value][metric]
                unit = "" if metric == "p50_us" else f" ({WORK[sides[name]]})"
                label = f"{name}{unit}" + (f": k={fit['k']:.2f}" if fit else "")
                if metric == "p50_us":
                    err = [[max(0.0, m.p50_us - m.p50_lo_us) for m in ms], [max(0.0, m.p50_hi_us - m.p50_us) for m in ms]]
                    ax.errorbar(scales, ys, yerr=err, marker="o", ms=4, capsize=2, label=label)
                else:
                    ax.plot(scales, ys, marker="o", ms=4, label=label)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xticks(scales, [str(s) for s in scales])
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel("scale (× 1,000 patients)")
            ax.set_title(f"{q.value}: {'p50 latency' if metric == 'p50_us' else 'work per question'}", fontsize=9)
            ax.legend(fontsize=7, frameon=False)
            _log_axis(ax.yaxis, fmt_tick_us if metric == "p50_us" else fmt_count)
    fig.suptitle("join (SQL) vs traversal (graph), cost ∝ scale^k", fontsize=10)
    return save(ctx, fig, "growth")


DEMO = JoinVsTraversal
