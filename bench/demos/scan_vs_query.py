"""`mmbench demo scan-vs-query`: the lecture's console example, DynamoDB's `Scan` with
`Depth > 50`, against reads by key, as the table grows.

The lecture scans its `genomics` table with a filter `Depth > 50` in the console. A Scan reads
every item of the table (1 MB per page) and the filter only trims what comes back, so DynamoDB
bills, and the engine does, the whole table: `ScannedCount` (items read) against `Count` (items
returned). A read by key touches only its items: `GetItem` one item (`variant_by_id`, on the
same variants table the Scan reads), `Query` one item collection (`patient_by_id`: a patient's
profile and diagnoses, one partition's key range). The demo loads the synthetic patients,
diagnoses and variants at each scale (1, 2, 4 by default; `--scale N` the largest, the others
the powers of two below it), asks the three, and reports per scale the items read and returned
(from the requests' own ScannedCount and Count, via `explain`), the read units billed (on-demand,
eventually consistent: half a unit per 4 KB read, at least one step per request, as the engine
reports them) and the latency; then the growth exponents k (cost ∝ scale^k, `bench.sweep.Fit`)
of items read and of latency.

The local DynamoDB is dynalite, an emulator: the counts follow DynamoDB's rules (they are what
the demo teaches), its latencies are a Node.js process on LevelDB and say nothing about Amazon
DynamoDB's. When the moto server is reachable too (and the main engine is not moto), the demo
adds the emulator lesson, labelled as such: moto answers a Query by walking the whole table in
Python, so its `patient_by_id` time grows with the table while dynalite's does not, with the same
items read reported by both — a benchmark of an emulator is not a benchmark of the service.

`--backend dynamodb:single-table` runs the single-table design instead (there `Depth > 50` is
four Queries over the variant shards of an overloaded GSI with the same filter: every variant
is still read).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from typing import Any, ClassVar

from bench.demos.base import Context, Demo, DemoResult, Measured, compared, fmt_count
from bench.demos.common import (
    Only,
    choose,
    draw,
    emulator_notes,
    ensure_loaded,
    human_us,
    load_average,
    measure,
    save,
    try_open,
)
from bench.demos.join_vs_traversal import grew_apart, growth, scales_up_to
from bench.sweep import Fit
from models.catalog import Q
from models.errors import MMBenchError, first_line
from models.generate import SyntheticDataset

THRESHOLD = 50   # the lecture's Depth > 50
DRAWS = 20       # keys per lookup, drawn once at the smallest scale (they exist at every scale)
EXPLAINED = 5    # of which explained: items read and units are their means
SCAN, GET, QUERY = "Scan, Depth > 50", "GetItem by key", "Query by key"
ALTERNATIVES: tuple[tuple[str, Q, str], ...] = (
    (SCAN, Q.VARIANTS_MIN_DEPTH, "variants_min_depth"),
    (GET, Q.VARIANT_BY_ID, "variant_by_id"),
    (QUERY, Q.PATIENT_BY_ID, "patient_by_id"),
)
MOTO = "Query by key on moto"
COLUMNS = ["question", "backend", "scale", "table_items", "requests", "p50_us", "p99_us", "examined", "returned",
           "cost"]


def requests(m: Measured) -> str:
    """The requests one question sent, counted: `Scan`, `Query ×4`, `GetItem`."""
    ops = Counter(s.text.split(" ", 1)[0] for s in m.explanation.statements)  # type: ignore[attr-defined]
    return ", ".join(op if n == 1 else f"{op} ×{n}" for op, n in ops.items())


def _fit(scales: list[int], values: list[Any]) -> dict[str, Any] | None:
    if any(v is None for v in values):
        return None
    fit = Fit.of([float(s) for s in scales], [float(v) for v in values])
    if fit is None:
        return None
    return {k: (round(v, 6) + 0.0 if isinstance(v, float) else v) for k, v in asdict(fit).items()}  # no -0.00


def table_items(name: str, label: str, rows: dict[str, int]) -> int:
    """Items of the table (or index partitions) the question reads: the three-table design keeps
    variants and patients (profiles and diagnoses) apart; the single-table design reads its
    variants through GSI2's variant shards, and everything else from the one table."""
    variants, patients = rows.get("variants", 0), rows.get("patients", 0) + rows.get("diagnoses", 0)
    if name == "dynamodb":
        return patients if label == QUERY else variants
    return variants if label == SCAN else variants + patients


class ScanVsQuery(Demo):
    name: ClassVar[str] = "scan-vs-query"
    question: ClassVar[str] = ("The lecture's console Scan with Depth > 50 against reads by key (GetItem, Query): "
                               "items read and read units billed as the table grows")
    backends: ClassVar[tuple[str, ...]] = ("dynamodb", "dynamodb:single-table")
    default_scale: ClassVar[int] = 4

    def run(self, ctx: Context) -> DemoResult:
        name = choose(ctx, self.backends)[0] if ctx.backend_override else "dynamodb"
        scales = scales_up_to(ctx.scale or self.default_scale)
        loads = load_average()
        notes: list[str] = [(f"data: synthetic scales {', '.join(map(str, scales))} (seed {ctx.seed}), their patients, "
                             "diagnoses and variants, loaded in turn; the keys are drawn once, at the smallest scale "
                             "(the same ids exist at every scale)")]
        backend, why = try_open(ctx, name)
        if backend is None:
            return DemoResult(self.name, self.question, COLUMNS, [], f"{name} did not answer ({why}): nothing was "
                              "measured.", notes=notes)
        info = backend.engine_info()
        kind = info.options.get("engine", "")
        notes.extend(emulator_notes(ctx, backend))
        points: dict[str, list[Measured]] = {label: [] for label, _, _ in ALTERNATIVES}
        sizes: list[int] = []
        rows: list[dict[str, Any]] = []
        params: dict[str, list[dict[str, Any]]] = {}
        datasets = {s: Only(SyntheticDataset(scale=s, seed=ctx.seed), ("patients", "diagnoses", "variants"),
                            "patients-diagnoses-variants") for s in scales}
        for scale in scales:
            data = datasets[scale]
            notes.append(ensure_loaded(ctx, backend, data))
            with ctx.namespaced():
                held = backend.holdings()
            held_rows = held.rows if held else {}
            sizes.append(held_rows.get("variants", 0))
            params = params or {"scan": [{"min_depth": THRESHOLD}],
                                GET: draw(data, Q.VARIANT_BY_ID, DRAWS, ctx.seed),
                                QUERY: draw(data, Q.PATIENT_BY_ID, DRAWS, ctx.seed)}
            for label, q, _ in ALTERNATIVES:
                ctx.say(f"{name}: {label} at scale {scale}")
                m = measure(ctx, label, backend, q, params["scan" if label == SCAN else label],
                            explain_n=1 if label == SCAN else EXPLAINED, question=label, scale=scale,
                            table_items=table_items(name, label, held_rows))
                m.extra["requests"] = requests(m)
                points[label].append(m)
                rows.append(m.row())
        fits = {label: {metric: _fit(scales, [getattr(m, metric) if metric != "rcu" else m.cost.get("rcu")
                                              for m in points[label]])
                        for metric in ("examined", "rcu", "p50_us")} for label, _, _ in ALTERNATIVES}
        moto = self._moto(ctx, kind, scales, params.get(QUERY, []), notes) if name == "dynamodb" else None
        if moto:
            rows.extend(m.row() for m in moto["points"])
            ctx.engines[f"{name} (moto, for comparison)"] = moto["engine"]
        takeaway = _takeaway(info, name, scales, sizes, points, fits, moto)
        plot = _plot(ctx, name, info, scales, points, fits, moto)
        out = {"scales": scales, "seed": ctx.seed, "backend": name, "engine": kind, "emulator": info.emulator,
               "variants": dict(zip(scales, sizes, strict=True)), "fits": fits,
               "moto": None if not moto else {"fit_p50_us": moto["fit"], "dynalite_fit_p50_us": fits[QUERY]["p50_us"]},
               "load_average": {"start": loads, "end": load_average()}}
        return DemoResult(self.name, self.question, COLUMNS, rows, takeaway, plots=[plot] if plot else [],
                          notes=notes, data=out)

    @staticmethod
    def _moto(ctx: Context, kind: str, scales: list[int], params: list[dict[str, Any]],
              notes: list[str]) -> dict[str, Any] | None:
        """patient_by_id on moto at the same scales (its patients and diagnoses only), if it answers."""
        if kind == "moto" or not params or len(scales) < 2:
            return None
        from backends.kv.settings import DynamoDBSettings

        try:
            settings = DynamoDBSettings.from_env().model_copy(update={"engine": "moto", "url": None})
        except MMBenchError as exc:
            notes.append(f"moto comparison skipped: {first_line(exc)}")
            return None
        before = dict(ctx.engines)
        backend, why = try_open(ctx, "dynamodb", settings)
        engine = ctx.engines.get("dynamodb", "moto")
        ctx.engines.clear()
        ctx.engines.update(before)
        if backend is None:
            notes.append(f"moto comparison skipped: moto does not answer ({why}); `mmbench up moto` adds it")
            return None
        if backend.engine_info().options.get("engine") != "moto":
            notes.append("moto comparison skipped: the moto address answers, but not as moto")
            return None
        points: list[Measured] = []
        for scale in scales:
            data = Only(SyntheticDataset(scale=scale, seed=ctx.seed), ("patients", "diagnoses"), "patients-diagnoses")
            notes.append("moto: " + ensure_loaded(ctx, backend, data))
            with ctx.namespaced():
                held = backend.holdings()
            ctx.say(f"moto: {MOTO} at scale {scale}")
            m = measure(ctx, MOTO, backend, Q.PATIENT_BY_ID, params, explain_n=EXPLAINED, question=MOTO, scale=scale,
                        table_items=table_items("dynamodb", QUERY, held.rows if held else {}))
            m.backend = "dynamodb on moto (emulator lesson)"
            m.extra["requests"] = requests(m)
            points.append(m)
        notes.append("the moto rows are the emulator lesson, not DynamoDB: moto answers a Query by walking every item "
                     "of the table in Python and keeping those of the key; it still reports only the items of the key "
                     "as read (ScannedCount), so its counts look like DynamoDB's while its time grows with the table")
        return {"points": points, "engine": engine, "fit": _fit(scales, [m.p50_us for m in points])}


def _takeaway(info: Any, name: str, scales: list[int], sizes: list[int], points: dict[str, list[Measured]],
              fits: dict[str, dict[str, Any]], moto: dict[str, Any] | None) -> str:
    top = scales[-1]
    scan, get, query = (points[label][-1] for label in (SCAN, GET, QUERY))
    parts = [f"On {info.product} {info.version}" + (" (an emulator: the items read and units billed follow DynamoDB's "
                                                    "rules; its times are not DynamoDB's)" if info.emulator else "")
             + f", at scale {top} ({fmt_count(sizes[-1])} variants):"]
    parts.append(f"the Scan with Depth > {THRESHOLD} ({requests(scan)}) read {fmt_count(scan.examined)} items to "
                 f"return {fmt_count(scan.returned)} and was billed {_units(scan)};")
    parts.append(f"a GetItem by key read {fmt_count(get.examined)} item for {_units(get)}, and a Query by key "
                 f"(a patient's item collection) read {fmt_count(query.examined)} items for {_units(query)}.")
    if scan.examined and sizes[-1] and scan.examined >= sizes[-1]:
        parts.append("The filter did not reduce what was read, only what came back.")
    if len(scales) > 1:
        parts.append(f"Over scales {', '.join(map(str, scales))}: Scan {growth(fits[SCAN]['examined'], 'items read')}, "
                     f"{growth(fits[SCAN]['p50_us'], 'p50')}; GetItem {growth(fits[GET]['examined'], 'items read')}, "
                     f"{growth(fits[GET]['p50_us'], 'p50')}; Query {growth(fits[QUERY]['examined'], 'items read')}, "
                     f"{growth(fits[QUERY]['p50_us'], 'p50')}.")
    parts.append(f"At scale {top}, {compared('the Scan', 'the GetItem', scan.versus(get))} "
                 f"({human_us(scan.p50_us)} vs {human_us(get.p50_us)} p50).")
    if moto:
        m, engine = moto["points"], info.options.get("engine", name)
        dyn = fits[QUERY]["p50_us"]
        line = (f"The emulator lesson: the same Query by key took {human_us(m[0].p50_us)} at scale {scales[0]} and "
                f"{human_us(m[-1].p50_us)} at scale {top} on moto ({growth(moto['fit'], 'p50')}), against "
                f"{human_us(points[QUERY][0].p50_us)} and {human_us(query.p50_us)} on {engine} "
                f"({growth(dyn, 'p50')}), while moto reported {fmt_count(m[-1].examined)} items read and {engine} "
                f"{fmt_count(query.examined)}.")
        apart = grew_apart(moto["fit"], dyn)
        if apart:
            line += f" moto's latency grew {apart} than {engine}'s (the exponents' intervals do not overlap)."
        elif moto["fit"] and dyn and moto["fit"].get("lo") is not None and dyn.get("lo") is not None:
            line += " This run could not tell the growth of the two apart (the intervals overlap)."
        parts.append(line + " Only the counts carry over to Amazon DynamoDB; neither emulator's times do.")
    elif info.emulator:
        parts.append("Only the counts carry over to Amazon DynamoDB, not the emulator's times.")
    return " ".join(parts)


def _units(m: Measured) -> str:
    rcu = m.cost.get("rcu")
    return "no read units reported" if rcu is None else f"{rcu:g} read units"


def _plot(ctx: Context, name: str, info: Any, scales: list[int], points: dict[str, list[Measured]],
          fits: dict[str, dict[str, Any]], moto: dict[str, Any] | None) -> str | None:
    from matplotlib.ticker import NullFormatter

    from bench.report import _log_axis, _pyplot, fmt_tick_us

    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    colours = {SCAN: "#d62728", GET: "#1f77b4", QUERY: "#2ca02c"}
    series = [(label, points[label], fits[label], colours[label], "-") for label, _, _ in ALTERNATIVES]
    if moto:
        series.append((f"{MOTO} (emulator lesson)", moto["points"], {"p50_us": moto["fit"]}, "#9467bd", "--"))
    for col, (metric, title) in enumerate((("examined", "items read per question (ScannedCount)"),
                                           ("rcu", "read units billed per question"),
                                           ("p50_us", "p50 latency (95% interval)"))):
        ax = axes[col]
        for label, ms, fit, colour, style in series:
            if metric != "p50_us" and style == "--":
                continue
            ys = [m.cost.get("rcu") if metric == "rcu" else getattr(m, metric) for m in ms]
            if any(y is None or y <= 0 for y in ys):
                continue
            k = (fit or {}).get(metric)
            legend = label + (f": k={k['k']:.2f}" if k else "")
            if metric == "p50_us":
                err = [[max(0.0, m.p50_us - m.p50_lo_us) for m in ms], [max(0.0, m.p50_hi_us - m.p50_us) for m in ms]]
                ax.errorbar(scales, ys, yerr=err, marker="o", ms=4, capsize=2, color=colour, ls=style, label=legend)
            else:
                ax.plot(scales, ys, marker="o", ms=4, color=colour, ls=style, label=legend)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(scales, [str(s) for s in scales])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("scale (× 10,000 variants)")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7, frameon=False)
        _log_axis(ax.yaxis, fmt_tick_us if metric == "p50_us" else (lambda v: f"{v:,.6g}"))
    engine = f"{info.product} {info.version}"
    fig.suptitle(f"{name}: Scan vs reads by key as the table grows — {engine}"
                 + (" (emulator: counts follow DynamoDB, times do not)" if info.emulator else ""), fontsize=10)
    return save(ctx, fig, "growth")


DEMO = ScanVsQuery
