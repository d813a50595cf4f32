"""`mmbench demo query-first`: in Cassandra a table answers the questions its primary key was
designed for. What happens when you ask another one?

"Which patients have diagnosis code X?" (`patients_with_diagnosis`) has its own query-first
table, `patients_by_diagnosis`, partitioned by code: one partition read, the rows it returns and
no others. The same question asked of `patients`, the table keyed for `patient_by_id`
(partition key patient_id; the code only a clustering column after diagnosed_on), names no
partition: Cassandra refuses it (the demo shows its message), unless the query says
`ALLOW FILTERING`, in which case it reads every partition of the table and filters the rows
(`backends.column.off_key`: the code always bound, never spliced).

The demo loads the synthetic patients and diagnoses at each scale (1, 2, 4 by default;
`--scale N` the largest, the others the powers of two below it), asks both for the same drawn
codes, checks that their answers are equal, and counts the work from Cassandra's query traces
(`explain`): rows read by the replicas (`examined`) against rows returned, partitions read,
and the latency; then the growth exponents k (cost ∝ scale^k, `bench.sweep.Fit`). Both grow
here, because a code's patients grow with the data; what differs is what each reads for what
it returns.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Any, ClassVar

from backends.base import Backend
from bench.demos.base import Context, Demo, DemoResult, Measured, compared, fmt_count
from bench.demos.common import (
    Only,
    add_work,
    draw,
    ensure_loaded,
    human_us,
    load_average,
    measure,
    ops_for,
    save,
    try_open,
)
from bench.demos.join_vs_traversal import grew_apart, growth, scales_up_to
from bench.sweep import Fit
from models.catalog import Q
from models.errors import MMBenchError, UsageError
from models.generate import SyntheticDataset

DRAWS = 20       # codes asked at every scale, drawn at the smallest
EXPLAINED = 3    # of which explained (traced): rows read and returned are their means
FIRST = "query-first table (patients_by_diagnosis)"
FILTERING = "ALLOW FILTERING on patients"
COLUMNS = ["question", "scale", "statement", "p50_us", "p99_us", "examined", "returned", "cost", "answer"]


def _fit(scales: list[int], values: list[Any]) -> dict[str, Any] | None:
    if any(v is None for v in values):
        return None
    fit = Fit.of([float(s) for s in scales], [float(v) for v in values])
    return asdict(fit) if fit else None


class QueryFirst(Demo):
    name: ClassVar[str] = "query-first"
    question: ClassVar[str] = ("Cassandra: who has diagnosis code X? From the query-first table, or from the table "
                               "keyed by patient_id, which Cassandra refuses without ALLOW FILTERING")
    backends: ClassVar[tuple[str, ...]] = ("cassandra",)
    default_scale: ClassVar[int] = 4

    def run(self, ctx: Context) -> DemoResult:
        from backends.column import off_key

        if ctx.backend_override not in (None, "cassandra"):
            raise UsageError("demo query-first runs on Cassandra only: it takes no other --backend")
        scales = scales_up_to(ctx.scale or self.default_scale)
        loads = load_average()
        backend, why = try_open(ctx, "cassandra")
        if backend is None:
            raise MMBenchError(f"demo query-first needs Cassandra: {why}")
        notes: list[str] = [(f"data: synthetic scales {', '.join(map(str, scales))} (seed {ctx.seed}), their patients "
                             f"and diagnoses only, loaded in turn; {DRAWS} codes drawn once, at the smallest scale, "
                             "and asked at every scale")]
        points: dict[str, list[Measured]] = {FIRST: [], FILTERING: []}
        rows: list[dict[str, Any]] = []
        refusal: dict[str, str] | None = None
        equal: dict[int, bool] = {}
        codes: list[dict[str, Any]] = []
        for scale in scales:
            data = Only(SyntheticDataset(scale=scale, seed=ctx.seed), ("patients", "diagnoses"), "patients-diagnoses")
            notes.append(ensure_loaded(ctx, backend, data))
            codes = codes or draw(data, Q.PATIENTS_WITH_DIAGNOSIS, DRAWS, ctx.seed)
            with ctx.namespaced():
                if refusal is None:
                    refusal = _refusal(backend, codes[0]["code"])
                    rows.append({"question": "patients WHERE code = ? (no ALLOW FILTERING)", "label": "refused",
                                 "backend": "cassandra", "scale": scale, "statement": refusal["statement"],
                                 "p50_us": None, "p99_us": None, "examined": None, "returned": None, "cost": {},
                                 "plan": None, "answer": f"refused: {refusal['message']}"})
                equal[scale] = all(
                    set(off_key.patients_with_code(backend, p["code"])) == set(backend.patients_with_diagnosis(**p))
                    for p in codes)
            ctx.say(f"cassandra: {FIRST} at scale {scale}")
            first = measure(ctx, FIRST, backend, Q.PATIENTS_WITH_DIAGNOSIS, codes, explain_n=EXPLAINED, question=FIRST,
                            scale=scale)
            ctx.say(f"cassandra: {FILTERING} at scale {scale}")
            filtering = _measure_filtering(ctx, backend, codes, scale)
            for m in (first, filtering):
                m.statement = _bare(m.statement)
                m.extra["statement"] = m.statement
                m.extra["answer"] = "equal answers" if equal[scale] else "ANSWERS DIFFER"
                points[m.label].append(m)
                rows.append(m.row())
        if not all(equal.values()):
            notes.append("the two answers differed at scale " + ", ".join(str(s) for s, ok in equal.items() if not ok)
                         + ": a bug, please report it")
        assert refusal is not None
        fits = {label: {metric: _fit(scales, [getattr(m, metric) for m in ms]) for metric in ("examined", "p50_us")}
                for label, ms in points.items()}
        info = backend.engine_info()
        takeaway = _takeaway(info, scales, refusal, points, fits, equal)
        plot = _plot(ctx, info, scales, points, fits)
        out = {"scales": scales, "seed": ctx.seed, "codes": [p["code"] for p in codes], "refusal": refusal,
               "answers_equal": equal, "fits": fits, "cassandra_options": dict(info.options),
               "load_average": {"start": loads, "end": load_average()}}
        return DemoResult(self.name, self.question, COLUMNS, rows, takeaway, plots=[plot] if plot else [],
                          notes=notes, data=out)


def _bare(cql: str | None) -> str | None:
    """The CQL without its keyspace (`FROM mmbench3_demo_query_first.patients` -> `FROM patients`)."""
    return None if cql is None else re.sub(r"\b(FROM|INTO|UPDATE)\s+\w+\.(\w+)", r"\1 \2", cql, flags=re.IGNORECASE)


def _refusal(backend: Backend, code: str) -> dict[str, str]:
    """Ask `patients` by code without ALLOW FILTERING: Cassandra's refusal, in its own words."""
    from backends.column import off_key

    try:
        off_key.patients_with_code(backend, code, allow_filtering=False)  # type: ignore[arg-type]
    except off_key.FilteringRefused as exc:
        return {"statement": exc.statement.replace("{ks}.", ""), "message": exc.server_message}
    raise MMBenchError("cassandra accepted `SELECT ... FROM patients WHERE code = ?` without ALLOW FILTERING: "
                       "its schema is not the one this demo expects (backends/column/schema.py)")


def _measure_filtering(ctx: Context, backend: Backend, codes: list[dict[str, Any]], scale: int) -> Measured:
    """The same question from `patients` with ALLOW FILTERING, timed like `measure`, traced for its work."""
    from backends.column import off_key

    def call(code: str) -> Any:
        return off_key.patients_with_code(backend, code)  # type: ignore[arg-type]

    with ctx.namespaced():
        ops = ops_for(ctx, call, codes)
        m = ctx.measure(FILTERING, backend, call, codes, ops=ops)
        explained = [off_key.explain_with_code(backend, p["code"]) for p in codes[:EXPLAINED]]  # type: ignore[arg-type]
    add_work(m, explained)
    m.statement = off_key.statement(True).replace("{ks}.", "")
    m.extra.update({"question": FILTERING, "scale": scale})
    return m


def _takeaway(info: Any, scales: list[int], refusal: dict[str, str], points: dict[str, list[Measured]],
              fits: dict[str, dict[str, Any]], equal: dict[int, bool]) -> str:
    top = scales[-1]
    first, filtering = points[FIRST][-1], points[FILTERING][-1]
    parts = [f"Cassandra {info.version} refused `{refusal['statement']}`: \u201c{refusal['message']}\u201d."]
    parts.append(f"At scale {top}, the query-first table answered from one partition, reading "
                 f"{fmt_count(first.examined)} rows to return {fmt_count(first.returned)} (means over {EXPLAINED} codes); "
                 f"with ALLOW FILTERING the table keyed by patient_id read {fmt_count(filtering.examined)} rows to return "
                 f"{fmt_count(filtering.returned)}" + (
                     f", {filtering.examined / filtering.returned:.3g} rows read per row returned"
                     if filtering.examined and filtering.returned else "") + ".")
    parts.append(f"At {human_us(filtering.p50_us)} vs {human_us(first.p50_us)} p50, "
                 f"{compared('ALLOW FILTERING', 'the query-first table', filtering.versus(first))}.")
    if len(scales) > 1:
        ff, fq = fits[FILTERING], fits[FIRST]
        parts.append(f"Over scales {', '.join(map(str, scales))}: ALLOW FILTERING {growth(ff['examined'], 'rows read')}, "
                     f"{growth(ff['p50_us'], 'p50')}; query-first {growth(fq['examined'], 'rows read')}, "
                     f"{growth(fq['p50_us'], 'p50')} (a code's patients grow with the data, so both answers grow).")
        apart = grew_apart(ff["p50_us"], fq["p50_us"])
        if apart:
            parts.append(f"The filtering latency grew {apart} than the query-first one (the intervals do not overlap).")
    same = all(equal.values())
    parts.append(("Both gave the same answers at every scale: " if same else "The answers DIFFERED (a bug): ")
                 + "ALLOW FILTERING makes the query run, not cheap: it reads the whole table, so in Cassandra one "
                 "designs a table for each question instead.")
    return " ".join(parts)


def _plot(ctx: Context, info: Any, scales: list[int], points: dict[str, list[Measured]],
          fits: dict[str, dict[str, Any]]) -> str | None:
    from matplotlib.ticker import NullFormatter

    from bench.report import _log_axis, _pyplot, fmt_tick_us

    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    colours = {FIRST: "#1f77b4", FILTERING: "#d62728"}
    for label, ms in points.items():
        k = fits[label]["examined"]
        axes[0].plot(scales, [m.examined for m in ms], marker="o", ms=4, color=colours[label],
                     label=f"{label}: rows read" + (f", k={k['k']:.2f}" if k else ""))
        axes[0].plot(scales, [m.returned for m in ms], marker="x", ms=4, ls=":", color=colours[label],
                     label=f"{label}: rows returned")
        k = fits[label]["p50_us"]
        err = [[max(0.0, m.p50_us - m.p50_lo_us) for m in ms], [max(0.0, m.p50_hi_us - m.p50_us) for m in ms]]
        axes[1].errorbar(scales, [m.p50_us for m in ms], yerr=err, marker="o", ms=4, capsize=2, color=colours[label],
                         label=label + (f": k={k['k']:.2f}" if k else ""))
    for ax, title in zip(axes, ("rows read and returned per question (query trace)", "p50 latency (95% interval)"),
                         strict=True):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(scales, [str(s) for s in scales])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("scale (× 1,000 patients)")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7, frameon=False)
    _log_axis(axes[0].yaxis, lambda v: f"{v:,.6g}")
    _log_axis(axes[1].yaxis, fmt_tick_us)
    fig.suptitle(f"Cassandra {info.version}: patients with a code, query-first table vs ALLOW FILTERING", fontsize=10)
    return save(ctx, fig, "growth")


DEMO = QueryFirst
