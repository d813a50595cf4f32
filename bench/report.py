"""Seeing results: the terminal table, the self-contained HTML report, and comparing two runs.

All three read results documents (`bench.results`), never live engines. Several documents can
go into one report; a backend that appears in more than one is labelled with its run id.
Everywhere, an emulated engine (moto, mongo-java-server) is marked "emulator" - its numbers
say nothing about the real engine - and a phase the backend answers client-side (a scan with
a filter, a client-side join) is marked "client".

The HTML report is one file: plots are rendered with matplotlib (Agg) to PNG and embedded as
base64 data URIs into `templates/report.html.j2`; it has no external references.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import Environment, FileSystemLoader, select_autoescape
from rich.table import Table
from rich.text import Text

from bench.uncertainty import P999_MIN_OPS, shaky_p99

PERCENTILE_KEYS = (("p50_us", "p50"), ("p90_us", "p90"), ("p99_us", "p99"), ("p999_us", "p99.9"))
ENTITY_KINDS = ("patients", "diagnoses", "lab_results", "variants")


def fmt_us(us: float | None) -> str:
    """A latency in µs as a short human string: 53.5 µs, 4.20 ms, 1.23 s."""
    if us is None or (isinstance(us, float) and math.isnan(us)):
        return "-"
    if us < 1000:
        return f"{us:.1f} µs" if us < 100 else f"{us:.0f} µs"
    if us < 1_000_000:
        ms = us / 1000
        return f"{ms:.2f} ms" if ms < 10 else f"{ms:.1f} ms" if ms < 100 else f"{ms:.0f} ms"
    return f"{us / 1e6:.2f} s"


def fmt_tick_us(us: float) -> str:
    """An axis tick in µs, rounded: 100 µs, 1 ms, 10 s."""
    for unit, size in (("s", 1e6), ("ms", 1e3)):
        if us >= size:
            return f"{us / size:g} {unit}"
    return f"{us:g} µs"


def fmt_ratio(r: float) -> str:
    return f"{r:.1f}×" if r < 10 else f"{r:.0f}×"


# ---------------------------------------------------------------- the merged view

MODELS = ("sql", "kv", "document", "column", "graph")
MODEL_COLOURS = {"sql": "#1f5fa8", "kv": "#b35806", "document": "#1b7f3b", "column": "#7b3294", "graph": "#a50f15"}


def _model_order(series: Series) -> tuple[int, str, str]:
    model = series.info.get("model") or ""
    base, _, design = series.backend.partition(":")
    return (MODELS.index(model) if model in MODELS else len(MODELS), base, design)


@dataclass
class Series:
    """One column of a comparison: a backend in one run."""

    key: str          # label: the backend name, or "name (run id)" when several runs have it
    backend: str
    run_id: str
    info: dict[str, Any]

    @property
    def emulator(self) -> bool:
        return bool((self.info.get("engine") or {}).get("emulator"))

    @property
    def label(self) -> str:
        return f"{self.key} (emulator)" if self.emulator else self.key

    @property
    def model(self) -> str:
        return self.info.get("model") or ""

    @property
    def colour(self) -> str:
        return MODEL_COLOURS.get(self.model, "#333333")

    @property
    def engine_text(self) -> str:
        e = self.info.get("engine") or {}
        return f"{e.get('product', '?')} {e.get('version', '')}".strip() if e else "-"


@dataclass
class View:
    """Several results documents as one table: (dataset, phase) rows x series columns."""

    docs: list[dict[str, Any]]
    series: dict[str, Series] = field(default_factory=dict)
    cells: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    datasets: list[str] = field(default_factory=list)
    phases: dict[str, list[str]] = field(default_factory=dict)  # dataset -> phases in run order
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (backend, run id, why)

    @classmethod
    def of(cls, docs: Iterable[dict[str, Any]]) -> View:
        view = cls(list(docs))
        runs_of: dict[str, set[str]] = {}
        for doc in view.docs:
            for name in doc["backends"]:
                runs_of.setdefault(name, set()).add(doc["id"])
        for doc in view.docs:
            for name, info in doc["backends"].items():
                key = name if len(runs_of[name]) == 1 else f"{name} ({doc['id']})"
                if info["status"] == "unavailable":
                    view.skipped.append((name, doc["id"], info.get("error") or ""))
                    continue
                view.series[key] = Series(key, name, doc["id"], info)
        view.series = dict(sorted(view.series.items(), key=lambda kv: _model_order(kv[1])))
        for doc in view.docs:
            for r in doc["results"]:
                key = r["backend"] if len(runs_of[r["backend"]]) == 1 else f"{r['backend']} ({doc['id']})"
                if r["dataset"] not in view.phases:
                    view.datasets.append(r["dataset"])
                    view.phases[r["dataset"]] = []
                if r["phase"] not in view.phases[r["dataset"]]:
                    view.phases[r["dataset"]].append(r["phase"])
                view.cells[(r["dataset"], r["phase"], key)] = r
        return view

    def row(self, dataset: str, phase: str) -> dict[str, dict[str, Any]]:
        return {s: self.cells[(dataset, phase, s)] for s in self.series if (dataset, phase, s) in self.cells}

    def fastest(self, dataset: str, phase: str, key: str = "p50_us") -> float | None:
        # A backend known to answer wrongly is never the baseline the others are measured against.
        pick = p50_of if key == "p50_us" else p99_of if key == "p99_us" else (lambda c: c["latency"][key])
        values = [pick(c) for c in self.row(dataset, phase).values() if ok(c) and c.get("verified") is not False]
        return min(values) if values else None


def ok(cell: dict[str, Any] | None) -> bool:
    return bool(cell) and cell["status"] == "ok" and bool(cell.get("ops"))


# ---------------------------------------------------------------- terminal

def terminal_tables(docs: Iterable[dict[str, Any]]) -> list[Table]:
    """Per data set: phases as rows, backends as columns; p50 (with its multiple of the fastest
    backend's and the verdict: `≈` where the 95% intervals say no difference) and p99.
    Emulators, client-side phases, shaky percentiles and client-bound phases are marked."""
    view = View.of(docs)
    tables = []
    for dataset in view.datasets:
        table = Table(title=f"latency on {dataset}: p50 (× the fastest, verdict) and p99",
                      caption="emulator: a local API emulator, not the real engine's performance; "
                              "\\[client]: answered client-side (scan, filter or join in Python); "
                              "≈: not different from the fastest at this noise (95% interval includes 1); "
                              "p99*: fewer than 10 operations beyond it; "
                              "CPU!: the client used more CPU than the engine (this phase measured the client)",
                      caption_justify="left", show_lines=True)
        table.add_column("phase", style="bold", no_wrap=True)
        for s in view.series.values():
            header = Text(s.key)
            if s.emulator:
                header.append("\n(emulator)", style="yellow")
            table.add_column(header, justify="right")
        for phase in view.phases[dataset]:
            best50, best99 = view.fastest(dataset, phase), view.fastest(dataset, phase, "p99_us")
            cells = [_terminal_cell(view.cells.get((dataset, phase, key)), best50, best99) for key in view.series]
            table.add_row(phase, *cells)
        tables.append(table)
    return tables


def _terminal_cell(cell: dict[str, Any] | None, best50: float | None, best99: float | None) -> Text:
    if cell is None:
        return Text("-", style="dim")
    if cell["status"] == "skipped":
        return Text("n/a", style="dim")
    if not ok(cell):
        return Text(cell["status"] if cell["status"] != "ok" else "no ops", style="red")
    lat, out = cell["latency"], Text()
    vs = (cell.get("stats") or {}).get("vs_fastest")
    ratio = vs["value"] if vs else (lat["p50_us"] / best50 if best50 else 1.0)
    fastest = ratio < 1.005
    style = "green" if fastest else "red" if ratio >= 10 else ""
    out.append(f"{fmt_us(p50_of(cell))} ", style=style)
    out.append(fmt_ratio(ratio), style=style or "dim")
    if vs and not fastest:
        out.append(" ≈" if vs["verdict"] == "≈" else "", style="dim")
    out.append(f"\np99 {fmt_us(p99_of(cell))}" + ("*" if shaky_p99(cell["ops"]) else ""), style="dim")
    if cell.get("tier") == "client":
        out.append("\n[client]", style="cyan")  # Text: no markup
    if (cell.get("cpu") or {}).get("client_bound"):
        out.append("\nCPU!", style="magenta")
    if cell.get("errors"):
        out.append(f"\n{cell['errors']} errors", style="red")
    if cell.get("verified") is False:
        out.append("\nWRONG ANSWER", style="bold red")
    return out


def p50_of(cell: dict[str, Any]) -> float:
    """The phase's p50: the median over its rounds (the merged histogram's p50 for old files)."""
    stats = cell.get("stats")
    return stats["p50_us"]["value"] if stats else cell["latency"]["p50_us"]


def p99_of(cell: dict[str, Any]) -> float:
    stats = cell.get("stats")
    return stats["p99_us"]["value"] if stats else cell["latency"]["p99_us"]


# ---------------------------------------------------------------- HTML

PERCENTILE_COLOURS = ("#08306b", "#2171b5", "#6baed6", "#c6dbef")  # p50 (dark) .. p99.9 (light)
ENTITY_COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a")


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    import matplotlib.pyplot as plt
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _pyplot() -> Any:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
                         "figure.constrained_layout.use": True})
    return plt


def _log_axis(axis: Any, label: Any) -> None:
    """Ticks of a log-scale axis labelled by `label` (`100 µs`, `1 ms`): no mathtext, which is
    slow to lay out."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    low, high = sorted(axis.get_view_interval())  # call after the limits are final
    narrow = high / max(low, 1e-12) < 10**2.5  # under 2.5 decades: also label 2x and 5x
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if narrow else (1.0,), numticks=12))
    axis.set_major_formatter(FuncFormatter(lambda v, _: label(v)))
    axis.set_minor_formatter(NullFormatter())


def latency_plot(view: View, dataset: str, phase: str) -> str | None:
    """Horizontal percentile bars per backend (p99.9 lightest at the back, p50 darkest in front),
    log scale; emulators hatched, client-side phases labelled, failures said in words."""
    plt = _pyplot()
    keys = list(view.series)
    cells = [view.cells.get((dataset, phase, k)) for k in keys]
    if not any(ok(c) for c in cells):
        return None
    fig, ax = plt.subplots(figsize=(7.2, 0.42 * len(keys) + 0.9))
    ys = range(len(keys))[::-1]
    good = [c["latency"]["p999_us"] for c in cells if ok(c)]
    low, high = min(c["latency"]["p50_us"] for c in cells if ok(c)), max(good)
    for y, key, cell in zip(ys, keys, cells, strict=True):
        series = view.series[key]
        if not ok(cell):
            why = "not run" if cell is None else cell["status"]
            ax.text(low, y, f"  {why}", va="center", color="#b30000", fontsize=8)
            continue
        lat = cell["latency"]
        for (pkey, _), colour in reversed(list(zip(PERCENTILE_KEYS, PERCENTILE_COLOURS, strict=True))):
            ax.barh(y, lat[pkey], color=colour, height=0.7, linewidth=0.3,
                    edgecolor="#7f6000" if series.emulator else "white", hatch="///" if series.emulator else None)
        ax.text(lat["p999_us"] * 1.08, y, f"p50 {fmt_us(lat['p50_us'])} · p99 {fmt_us(lat['p99_us'])}",
                va="center", fontsize=7.5, color="#333")
    ax.set_yticks(list(ys), [_tick(view, dataset, phase, k) for k in keys])
    ax.set_xscale("log")
    ax.set_xlim(low / 2, high * 12)
    _log_axis(ax.xaxis, fmt_tick_us)
    ax.set_xlabel("latency (log scale)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in PERCENTILE_COLOURS]
    ax.legend(handles, [name for _, name in PERCENTILE_KEYS], ncol=4, fontsize=7, loc="lower right", frameon=False,
              bbox_to_anchor=(1, 1))
    return _png(fig)


def _tick(view: View, dataset: str, phase: str, key: str) -> str:
    cell, series = view.cells.get((dataset, phase, key)), view.series[key]
    tick = series.label
    if cell and cell.get("tier") == "client":
        tick += " [client]"
    return tick


def load_plot(view: View, dataset: str) -> str | None:
    """Rows per second per entity kind and backend (insert + index build), log scale."""
    plt = _pyplot()
    rows = [(k, s.info["loads"][dataset]) for k, s in view.series.items()
            if s.info.get("loads", {}).get(dataset, {}).get("status") == "ok"]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(7.2, 0.6 * len(rows) + 1.0))
    height = 0.8 / len(ENTITY_KINDS)
    for i, (key, load) in enumerate(rows):
        y = len(rows) - 1 - i
        for j, (kind, colour) in enumerate(zip(ENTITY_KINDS, ENTITY_COLOURS, strict=True)):
            rate = load["kinds"][kind]["rows_per_s"]
            if rate > 0:
                ax.barh(y + 0.4 - (j + 0.5) * height, rate, height=height, color=colour,
                        hatch="///" if view.series[key].emulator else None, edgecolor="white", linewidth=0.3)
    ax.set_yticks(range(len(rows))[::-1], [
        f"{view.series[k].label}\n{load['backend_s']:.2f} s, {load['total_rows']:,} rows" for k, load in rows])
    ax.set_xscale("log")
    _log_axis(ax.xaxis, lambda v: f"{v:,.0f}")
    ax.set_xlabel("rows per second (insert + index build; log scale)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in ENTITY_COLOURS]
    ax.legend(handles, ENTITY_KINDS, ncol=4, fontsize=7, loc="lower right", frameon=False, bbox_to_anchor=(1, 1))
    return _png(fig)


def heatmap(view: View, dataset: str) -> str | None:
    """Phases x backends: p50 as a multiple of the fastest backend's p50 (log colour scale)."""
    plt = _pyplot()
    from matplotlib.colors import LogNorm

    phases, keys = view.phases[dataset], list(view.series)
    if not phases or not keys:
        return None
    ratios = np.full((len(phases), len(keys)), np.nan)
    for i, phase in enumerate(phases):
        best = view.fastest(dataset, phase)
        for j, key in enumerate(keys):
            cell = view.cells.get((dataset, phase, key))
            if ok(cell) and best:
                ratios[i, j] = max(1.0, cell["latency"]["p50_us"] / best)
    fig, ax = plt.subplots(figsize=(1.2 * len(keys) + 2.6, 0.34 * len(phases) + 1.4))
    vmax = max(10.0, float(np.nanmax(ratios)) if np.isfinite(ratios).any() else 10.0)
    cmap = plt.get_cmap("RdYlGn_r").with_extremes(bad="#dddddd")
    norm = LogNorm(vmin=1, vmax=vmax)
    im = ax.imshow(np.ma.masked_invalid(ratios), cmap=cmap, norm=norm, aspect="auto")
    for i, phase in enumerate(phases):
        for j, key in enumerate(keys):
            cell = view.cells.get((dataset, phase, key))
            text = "–" if cell is None else fmt_ratio(ratios[i, j]) if ok(cell) else "✗"
            if cell and cell.get("tier") == "client" and ok(cell):
                text += " c"
            dark = ok(cell) and _luminance(cmap(norm(ratios[i, j]))) < 0.45
            ax.text(j, i, text, ha="center", va="center", fontsize=7.5, color="white" if dark else "black")
    ax.set_xticks(range(len(keys)), [view.series[k].label.replace(" (emulator)", "\n(emulator)") for k in keys])
    ax.set_yticks(range(len(phases)), phases)
    ax.xaxis.tick_top()
    ax.spines[:].set_visible(False)
    bar = fig.colorbar(im, ax=ax, shrink=0.7, aspect=30, pad=0.02, label="p50 ÷ fastest p50")
    _log_axis(bar.ax.yaxis, fmt_ratio)
    return _png(fig)


def _luminance(rgba: tuple[float, ...]) -> float:
    r, g, b = rgba[:3]
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _row_table(view: View, dataset: str, phase: str) -> list[dict[str, Any]]:
    best = view.fastest(dataset, phase)
    rows = []
    for key, cell in view.row(dataset, phase).items():
        series = view.series[key]
        lat = cell.get("latency") or {}
        stats, cpu = cell.get("stats") or {}, cell.get("cpu") or {}
        vs = stats.get("vs_fastest")
        rows.append({
            "label": series.label, "emulator": series.emulator, "status": cell["status"], "colour": series.colour,
            "p50_ci": f"{fmt_us(stats['p50_us']['lo'])}–{fmt_us(stats['p50_us']['hi'])}" if stats else "",
            "rounds": stats.get("rounds"), "verdict": vs["verdict"] if vs else "",
            "ratio_ci": f"[{vs['lo']:.2f}–{vs['hi']:.2f}]" if vs else "",
            "shaky": shaky_p99(cell.get("ops", 0)) if ok(cell) else None,
            "cpu_client": cpu.get("client_us_per_op"), "cpu_server": cpu.get("server_us_per_op"),
            "cpu_reason": cpu.get("server_reason"), "client_bound": cpu.get("client_bound"),
            "error": cell.get("error"), "tier": cell.get("tier"), "ops": cell.get("ops", 0),
            "errors": cell.get("errors", 0), "ops_per_s": cell.get("ops_per_s", 0.0),
            "p50": fmt_us(p50_of(cell)) if ok(cell) else "", "p90": fmt_us(lat.get("p90_us")),
            "p99": fmt_us(p99_of(cell)) if ok(cell) else "",
            "p999": fmt_us(lat.get("p999_us")) if cell.get("ops", 0) >= P999_MIN_OPS else "—",
            "max": fmt_us(lat.get("max_us")), "mean": fmt_us(lat.get("mean_us")),
            "ratio": fmt_ratio(vs["value"] if vs else p50_of(cell) / best) if ok(cell) and best else "",
            "verified": cell.get("verified"), "verify_error": cell.get("verify_error"),
            "cost": cell.get("cost"), "service": cell.get("service_time"),
            "operations": cell.get("operations"),
        })
    return rows


def amplification_heatmap(view: View, dataset: str) -> str | None:
    """Phases x backends: records the engine examined per record it returned (explain of the
    phase's first question): why a model is slow, in counts that do not depend on the machine."""
    plt = _pyplot()
    from matplotlib.colors import LogNorm

    phases, keys = view.phases[dataset], list(view.series)
    amp = np.full((len(phases), len(keys)), np.nan)
    labels: dict[tuple[int, int], str] = {}
    for i, phase in enumerate(phases):
        for j, key in enumerate(keys):
            work = ((view.cells.get((dataset, phase, key)) or {}).get("explain") or {}).get("work") or {}
            examined, returned = work.get("examined"), work.get("returned")
            if examined is not None and returned is not None:
                amp[i, j] = max(1.0, examined / max(returned, 1))
                labels[(i, j)] = f"{_short_count(examined)}→{_short_count(returned)}"
    if not np.isfinite(amp).any():
        return None
    fig, ax = plt.subplots(figsize=(1.3 * len(keys) + 2.6, 0.34 * len(phases) + 1.4))
    cmap = plt.get_cmap("YlOrRd").with_extremes(bad="#eeeeee")
    norm = LogNorm(vmin=1, vmax=max(10.0, float(np.nanmax(amp))))
    im = ax.imshow(np.ma.masked_invalid(amp), cmap=cmap, norm=norm, aspect="auto")
    for (i, j), text in labels.items():
        dark = _luminance(cmap(norm(amp[i, j]))) < 0.45
        ax.text(j, i, text, ha="center", va="center", fontsize=6.5, color="white" if dark else "black")
    ax.set_xticks(range(len(keys)), [view.series[k].label.replace(" (emulator)", "\n(emulator)") for k in keys])
    ax.set_yticks(range(len(phases)), phases)
    ax.xaxis.tick_top()
    ax.spines[:].set_visible(False)
    bar = fig.colorbar(im, ax=ax, shrink=0.7, aspect=30, pad=0.02, label="examined ÷ returned")
    _log_axis(bar.ax.yaxis, fmt_ratio)
    return _png(fig)


def _short_count(n: float) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.0f}k" if n >= 1e4 else f"{n:.0f}"


def split_plot(view: View, dataset: str) -> str | None:
    """Per phase and backend where the engine reports its own execution time: the share of p50
    that is the engine's (server) and the rest (network, driver, adapter, harness: client), as
    100% bars labelled with the times themselves."""
    plt = _pyplot()
    bars = []
    for phase in view.phases[dataset]:
        for key, cell in view.row(dataset, phase).items():
            server = (cell.get("server") or {}).get("server_us")
            if ok(cell) and server is not None:
                p50 = p50_of(cell)
                bars.append((f"{phase} · {view.series[key].label}", min(server, p50), p50))
    if not bars:
        return None
    fig, ax = plt.subplots(figsize=(7.2, 0.24 * len(bars) + 1.0))
    ys = list(range(len(bars)))[::-1]
    share = [100 * b[1] / b[2] if b[2] else 0.0 for b in bars]
    ax.barh(ys, share, color="#2171b5", height=0.7, label="server: the engine's own time")
    ax.barh(ys, [100 - x for x in share], left=share, color="#fdae6b", height=0.7,
            label="client: network, driver, adapter, harness")
    for y, (_, server, p50) in zip(ys, bars, strict=True):
        ax.text(101, y, f"{fmt_us(server)} of {fmt_us(p50)}", va="center", fontsize=6.5, color="#333")
    ax.set_yticks(ys, [b[0] for b in bars], fontsize=7)
    ax.set_xlim(0, 130)
    ax.set_xticks([0, 25, 50, 75, 100], ["0%", "25%", "50%", "75%", "100%"])
    ax.set_xlabel("share of p50")
    ax.legend(fontsize=7, loc="lower right", frameon=False, bbox_to_anchor=(1, 1), ncol=2)
    return _png(fig)


def _explain_rows(view: View, dataset: str, phase: str) -> list[dict[str, Any]]:
    """Per backend: what it sent, its plan's top operators, and the work behind the latency."""
    rows = []
    for key, cell in view.row(dataset, phase).items():
        e = cell.get("explain")
        if not e:
            if cell.get("explain_error"):
                rows.append({"label": view.series[key].label, "error": cell["explain_error"]})
            continue
        work = e["work"]
        statements = e["statements"]
        rows.append({
            "label": view.series[key].label, "tier": e["tier"], "language": statements[0]["language"] if statements else "",
            "statement": statements[0]["text"] if statements else "", "more": len(statements) - 1,
            "plan": " → ".join(e.get("plan_summary") or []), "examined": work.get("examined"),
            "returned": work.get("returned"), "answer": work.get("answer"), "round_trips": work.get("round_trips"),
            "cost": work.get("cost") or {}, "reasons": work.get("reasons") or {}, "notes": e.get("notes") or [],
            "server": (cell.get("server") or {}).get("server_us"),
        })
    return rows


def _first_params(view: View, dataset: str, phase: str) -> dict[str, Any] | None:
    for cell in view.row(dataset, phase).values():
        if cell.get("explain"):
            return cell["explain"]["params"]
    return None


def design_rows(view: View, dataset: str) -> list[dict[str, Any]]:
    """For each backend with several designs, per phase: each design's p50 against the default
    design's, with the 95% interval of the ratio and which design wins (≈: no difference)."""
    from bench.compare import _rounds
    from bench.uncertainty import estimate, ratio, replicates, rng_for

    groups: dict[str, list[str]] = {}
    for key, s in view.series.items():
        groups.setdefault(f"{s.backend.partition(':')[0]}|{s.run_id}", []).append(key)
    rows = []
    for members in groups.values():
        default = next((k for k in members if ":" not in view.series[k].backend), None)
        if default is None or len(members) < 2:
            continue
        for phase in view.phases[dataset]:
            base = view.cells.get((dataset, phase, default))
            if not ok(base):
                continue
            b0 = _rounds(base)
            rep0 = replicates(b0, 50, rng_for(dataset, phase, default))
            for key in members:
                cell = view.cells.get((dataset, phase, key))
                if key == default or not ok(cell):
                    continue
                b1 = _rounds(cell)
                r = ratio(replicates(b1, 50, rng_for(dataset, phase, key)), rep0, estimate(b1, 50) / estimate(b0, 50))
                winner = (view.series[key].backend if r["verdict"] == "faster" else
                          view.series[default].backend if r["verdict"] == "slower" else "≈ neither")
                rows.append({"phase": phase, "design": view.series[key].label, "default": view.series[default].label,
                             "p50_design": fmt_us(p50_of(cell)), "p50_default": fmt_us(p50_of(base)),
                             "ratio": r, "winner": winner})
    return rows


def html_report(docs: list[dict[str, Any]], path: Path) -> Path:
    """Write one self-contained HTML file (plots embedded) for `docs`."""
    from bench.workloads import Workload, phase_by_name
    from models.catalog import CATALOG, Q

    view = View.of(docs)
    sections = []
    for dataset in view.datasets:
        phases = []
        for phase in view.phases[dataset]:
            p = phase_by_name(phase)
            summary = CATALOG[Q(phase)].summary if phase in {q.value for q in Q} else ""
            phases.append({"name": phase, "kind": p.kind, "describe": p.describe() if isinstance(p, Workload) else "",
                           "summary": summary, "params": _first_params(view, dataset, phase),
                           "plot": latency_plot(view, dataset, phase), "rows": _row_table(view, dataset, phase),
                           "explain": _explain_rows(view, dataset, phase)})
        info = docs[0]["datasets"].get(dataset, {})
        sections.append({"name": dataset, "info": info, "heatmap": heatmap(view, dataset),
                         "amplification": amplification_heatmap(view, dataset), "split": split_plot(view, dataset),
                         "designs": design_rows(view, dataset), "load": load_plot(view, dataset), "phases": phases})
    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
    env.filters["us"] = fmt_us
    page = env.get_template("report.html.j2").render(docs=docs, view=view, sections=sections, escape=html.escape)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
    return path
