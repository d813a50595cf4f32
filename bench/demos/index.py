"""`mmbench demo index`: when does a secondary index pay, and when does it stop paying?

SQLite and PostgreSQL answer `variants_min_depth` (depth > t) and `patients_older_than`
(age > t) on the same synthetic data with their secondary index (`ix_variants_depth`,
`ix_patients_age`) and without it (dropped for the measurement, recreated after:
`backends.sql.indexes`). The threshold t is swept so that the answer goes from a few rows
to nearly all of them (`SELECTIVITIES`, as shares of the table; the thresholds are read off the
data, and the share actually selected is reported, integer values tie). At each share the
two are measured back to back (alternating which goes first, against drift), with the plan
of each from `explain`.

What students should see, when the run shows it: with few rows selected the index reads only
those (examined ≈ returned) where the scan reads the whole table; as the share grows, the
index's random lookups cost more than the scan's sequential reads, and the index stops
winning. SQLite's planner, without histograms, uses the index at any threshold; PostgreSQL's
plans each statement for its own threshold (here: statements are not prepared,
`prepare_threshold=-1`, so the plan timed is the plan shown) and switches to a Seq Scan by
itself when it expects most rows. The takeaway says where the index stopped winning in this
run, or that it never did.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from backends.sql import indexes
from bench.demos.base import (
    Context,
    Demo,
    DemoResult,
    Measured,
    compared,
    fmt_count,
    times,
)
from bench.demos.common import (
    choose,
    emulator_notes,
    ensure_loaded,
    human_us,
    load_average,
    measure,
    save,
    try_open,
)
from models.catalog import Q
from models.errors import MMBenchError, first_line
from models.generate import SyntheticDataset

SELECTIVITIES: tuple[float, ...] = (0.001, 0.01, 0.05, 0.2, 0.5, 0.9)
"""Target shares of the table selected by the threshold (the actual share is reported)."""


class Case:
    """One query with its indexed column: the index, its table, the parameter and the data's values."""

    def __init__(self, query: Q, index: str, table: str, param: str, column: str) -> None:
        self.query, self.index, self.table, self.param, self.column = query, index, table, param, column


CASES = (Case(Q.VARIANTS_MIN_DEPTH, "ix_variants_depth", "variants", "min_depth", "depth"),
         Case(Q.PATIENTS_OLDER_THAN, "ix_patients_age", "patients", "age", "age"))

WITH, WITHOUT = "with index", "without index"


def thresholds(values: Iterable[int], shares: Iterable[float]) -> list[tuple[int, int, float]]:
    """(threshold t, rows with value > t, their share) for each target share: the t that selects
    as close to the share as the data allows (at least one row), duplicates dropped."""
    ordered = sorted(values)
    n = len(ordered)
    out: dict[int, tuple[int, int, float]] = {}
    distinct = sorted(set(ordered))
    for share in shares:
        want = max(1, round(share * n))
        best = None
        for t in distinct[:-1] or distinct:
            got = n - bisect.bisect_right(ordered, t)
            if got >= 1 and (best is None or abs(got - want) < abs(best[1] - want)):
                best = (t, got)
        if best is not None:
            out[best[0]] = (best[0], best[1], best[1] / n)
    return sorted(out.values(), key=lambda x: x[1])


def pct(share: float) -> str:
    return f"{share * 100:.2g}%" if share < 0.1 else f"{share * 100:.0f}%"


def uses_index(plan: str | None, index: str) -> bool:
    return bool(plan) and index in str(plan)


def access(plan: str | None) -> str | None:
    """The access path of a plan summary, short: `index ix_variants_depth (bitmap)`, `full scan`."""
    if not plan:
        return plan
    for step in reversed(plan.split(" → ")):
        words = step.split()
        if "USING" in words and "INDEX" in words:        # SQLite: SEARCH t USING [COVERING] INDEX ix (...)
            return f"index {words[words.index('INDEX') + 1]}"
        if step.startswith("SCAN "):
            return "full scan"
        if " using " in step:                              # PostgreSQL: [Bitmap] Index [Only] Scan using ix on t
            name = step.split(" using ", 1)[1].split()[0]
            kind = "bitmap" if step.startswith("Bitmap") else "index-only" if "Only" in step else ""
            return f"index {name}" + (f" ({kind})" if kind else "")
        if step.startswith("Seq Scan"):
            return "full scan (Seq Scan)"
    return plan


@dataclass
class Point:
    """One threshold of one query on one engine: both sides measured, and their ratio with/without."""

    threshold: int
    selected: int
    share: float
    with_index: Measured
    without: Measured
    ratio: dict[str, Any]

    @property
    def index_used(self) -> bool:
        return bool(self.ratio["index_used"])

    @property
    def index_won(self) -> bool:
        """Faster with the index, by the interval, AND through a plan that uses it."""
        return self.ratio["verdict"] == "faster" and self.index_used


class IndexDemo(Demo):
    name: ClassVar[str] = "index"
    question: ClassVar[str] = ("When does a secondary index pay? variants_min_depth and patients_older_than with and "
                               "without their index, from a few rows selected to most")
    backends: ClassVar[tuple[str, ...]] = ("sqlite", "postgres")
    default_scale: ClassVar[int] = 2

    def run(self, ctx: Context) -> DemoResult:
        scale = ctx.scale or self.default_scale
        data = SyntheticDataset(scale=scale, seed=ctx.seed)
        loads = load_average()
        values = {"variants": [v.depth for v in data.variants()], "patients": [p.age for p in data.patients()]}
        targets = {c.query: thresholds(values[c.table], SELECTIVITIES) for c in CASES}
        notes: list[str] = []
        rows: list[dict[str, Any]] = []
        found: dict[tuple[str, Q], list[Point]] = {}
        ran: list[str] = []
        for name in choose(ctx, self.backends):
            settings, why = None, None
            if name == "postgres":
                from backends.sql.settings import PostgresSettings, read_settings

                try:
                    settings = read_settings(PostgresSettings, "postgres", "MMBENCH_POSTGRES_").model_copy(
                        update={"prepare_threshold": -1})
                except MMBenchError as exc:
                    why = first_line(exc)
            backend, why = (None, why) if why else try_open(ctx, name, settings)
            if backend is None:
                notes.append(f"{name} skipped: {why}")
                continue
            ran.append(name)
            notes.append(ensure_loaded(ctx, backend, data))
            with ctx.namespaced():
                restored = indexes.restore(backend)  # type: ignore[arg-type]
            if restored:
                notes.append(f"{name}: recreated {', '.join(restored)}, missing after an interrupted run")
            notes.extend(emulator_notes(ctx, backend))
            for case in CASES:
                series = found[(name, case.query)] = []
                for i, (t, count, share) in enumerate(targets[case.query]):
                    ctx.say(f"{name} {case.query} {pct(share)} of {case.table} (> {t})")
                    got: dict[str, Measured] = {}
                    extra = {"query": case.query.value, "selected": pct(share), "share": share, "threshold": t}
                    for variant in ((WITH, WITHOUT) if i % 2 == 0 else (WITHOUT, WITH)):
                        if variant == WITH:
                            got[variant] = measure(ctx, variant, backend, case.query, [{case.param: t}], **extra)
                        else:
                            with ctx.namespaced(), indexes.dropped(backend, case.index):  # type: ignore[arg-type]
                                got[variant] = measure(ctx, variant, backend, case.query, [{case.param: t}], **extra)
                    r = got[WITH].versus(got[WITHOUT])
                    r["index_used"] = uses_index(got[WITH].plan, case.index)
                    point = Point(t, count, share, got[WITH], got[WITHOUT], r)
                    series.append(point)
                    got[WITH].extra["verdict"] = _verdict(point)
                    for variant in (WITH, WITHOUT):
                        row = got[variant].row()
                        row["plan"] = access(got[variant].plan)
                        rows.append(row)
        if not ran:
            return DemoResult(self.name, self.question, COLUMNS, [], "Neither SQLite nor PostgreSQL answered: "
                              "nothing was measured.", notes=notes)
        if "postgres" in ran:
            notes.append("postgres: statements are not prepared in this demo (prepare_threshold=-1), so each "
                         "execution is planned for its own threshold: the plan shown is the plan timed")
        takeaway = " ".join(_finding(name, case, found[(name, case.query)], len(values[case.table]))
                            for name in ran for case in CASES)
        crossed = [(n, c) for n in ran for c in CASES if _crossover(found[(n, c.query)])["stopped_winning_at"]]
        if crossed:
            takeaway += (f" So in this run the index paid while the matching rows were few and stopped paying as they "
                         f"grew ({', '.join(f'{n} {c.query.value}' for n, c in crossed)}): it reads only the matching "
                         "rows, but one lookup each, where the scan reads the whole table in order.")
        plot = _plot(ctx, scale, ran, found)
        out = {"scale": scale, "seed": ctx.seed, "table_rows": {k: len(v) for k, v in values.items()},
               "plans": {n: {c.query.value: [{"threshold": p.threshold, "selected_rows": p.selected,
                                              "share": round(p.share, 5), WITH: p.with_index.plan,
                                              WITHOUT: p.without.plan} for p in found[(n, c.query)]]
                             for c in CASES} for n in ran},
               "crossover": {n: {c.query.value: _crossover(found[(n, c.query)]) for c in CASES} for n in ran},
               "load_average": {"start": loads, "end": load_average()}}
        return DemoResult(self.name, self.question, COLUMNS, rows, takeaway, plots=[plot] if plot else [],
                          notes=notes, data=out)


COLUMNS = ["backend", "query", "selected", "label", "p50_us", "p99_us", "examined", "returned", "cost", "plan",
           "verdict"]


def _verdict(p: Point) -> str:
    r = p.ratio
    if not p.index_used:
        return f"index unused: same plan ({r['value']:.2f}, {r['lo']:.2f}–{r['hi']:.2f})"
    if r["verdict"] == "faster":
        return f"index {times(r)} faster"
    if r["verdict"] == "slower":
        return f"index {times(r)} slower"
    return f"≈ ({r['value']:.2f}, {r['lo']:.2f}–{r['hi']:.2f})"


def _crossover(series: list[Point]) -> dict[str, Any]:
    """Where the index stopped winning: the first share it did not win at after it won at a
    smaller one. A plan that does not use the index is not the index winning, whatever the
    clocks said."""
    shares = [round(p.share, 5) for p in series]
    first = next((i for i, p in enumerate(series) if p.index_won), None)
    if first is None:
        return {"index_won": False, "won_up_to": None, "stopped_winning_at": None}
    loss = next((i for i in range(first, len(series)) if not series[i].index_won), None)
    if loss is None:
        return {"index_won": True, "won_up_to": shares[-1], "stopped_winning_at": None}
    return {"index_won": True, "won_up_to": shares[loss - 1], "stopped_winning_at": shares[loss]}


def _finding(name: str, case: Case, series: list[Point], table_rows: int) -> str:
    """A few sentences for one engine and query, from this run's verdicts and plans only."""
    if not series:
        return ""
    engine = "SQLite" if name == "sqlite" else "PostgreSQL"
    head = f"{engine}, {case.query.value} ({fmt_count(table_rows)} {case.table}):"
    first_win = next((p for p in series if p.index_won), None)
    after = series[series.index(first_win):] if first_win is not None else []
    loss = next((p for p in after if not p.index_won), None)  # the first share it did not win at, after a win
    last = series[-1]
    if first_win is None:
        p = series[0]
        if not p.index_used:
            text = (f"the index never won in this run: even at {pct(p.share)} of rows selected the planner chose "
                    f"{p.with_index.plan} although the index existed.")
        else:
            text = (f"the index never won in this run; at {pct(p.share)} of rows selected, "
                    f"{compared('the query with the index', 'without', p.ratio)}.")
        return f"{head} {text}"
    w, o = first_win.with_index, first_win.without
    work = (f", examining {fmt_count(w.examined)} rows instead of {fmt_count(o.examined)}"
            if w.examined is not None and o.examined is not None else "")
    text = (f"with {pct(first_win.share)} of rows selected ({fmt_count(first_win.selected)}), the index was "
            f"{times(first_win.ratio)} faster ({human_us(w.p50_us)} vs {human_us(o.p50_us)}{work})")
    if loss is None:
        return f"{head} {text}, and it still won at {pct(last.share)} ({times(last.ratio)})."
    before = series[series.index(loss) - 1]
    if before is not first_win:
        text += f", still {times(before.ratio)} faster at {pct(before.share)}"
    if loss.index_used:
        text += (f"; it stopped winning at {pct(loss.share)} of rows selected, where "
                 f"{compared('the query with the index', 'without', loss.ratio)}.")
    else:
        text += (f"; at {pct(loss.share)} of rows selected the planner no longer used the index: it chose "
                 f"{loss.with_index.plan} although the index existed, the same plan as without it, so the "
                 f"ratio the clocks showed there ({loss.ratio['value']:.2f}) is not the index's doing.")
    if last is not loss and last.index_used and last.ratio["verdict"] == "slower":
        text += f" At {pct(last.share)} the index was {times(last.ratio)} slower than the full scan."
    unused = next((p for p in series if not p.index_used), None)
    if unused is not None and loss.index_used:
        text += (f" From {pct(unused.share)} of rows selected on, the planner itself chose a plan without the index "
                 f"({unused.with_index.plan}), although the index existed.")
    return f"{head} {text}"


def _plot(ctx: Context, scale: int, ran: list[str], found: dict[tuple[str, Q], list[Point]]) -> str | None:
    from matplotlib.ticker import FuncFormatter, NullFormatter

    from bench.report import _log_axis, _pyplot, fmt_tick_us

    plt = _pyplot()
    fig, axes = plt.subplots(len(CASES), len(ran), figsize=(5.2 * len(ran), 3.4 * len(CASES)), squeeze=False)
    for col, name in enumerate(ran):
        for row, case in enumerate(CASES):
            ax = axes[row][col]
            series = found[(name, case.query)]
            xs = [p.share * 100 for p in series]
            for label, colour, side in ((WITH, "#1f77b4", "with_index"), (WITHOUT, "#d62728", "without")):
                ms = [getattr(p, side) for p in series]
                err = [[max(0.0, m.p50_us - m.p50_lo_us) for m in ms], [max(0.0, m.p50_hi_us - m.p50_us) for m in ms]]
                ax.errorbar(xs, [m.p50_us for m in ms], yerr=err, marker="o", ms=4, capsize=2, color=colour,
                            label=label)
            unused = [p.share * 100 for p in series if not p.index_used]
            if unused:
                ax.axvspan(min(unused) * 0.9, max(unused) * 1.1, color="#eeeeee", zorder=0,
                           label="planner did not use the index")
            cross = _crossover(series)
            if cross["index_won"] and cross["stopped_winning_at"] is not None:
                ax.axvline(cross["stopped_winning_at"] * 100, color="grey", ls="--", lw=1,
                           label="index stopped winning")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}%"))
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel(f"share of {case.table} selected")
            ax.set_ylabel("p50 latency (95% interval)")
            ax.set_title(f"{name}: {case.query.value}", fontsize=9)
            ax.legend(fontsize=7, frameon=False)
            _log_axis(ax.yaxis, fmt_tick_us)
    fig.suptitle(f"index or full scan? synthetic scale {scale}", fontsize=10)
    return save(ctx, fig, "latency")


DEMO = IndexDemo
