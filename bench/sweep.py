"""Scale sweeps: how each query's cost grows with the data, per backend, as a growth exponent.

`mmbench sweep --scales 1,2,5,10,20` runs the benchmark on the synthetic data set at each
scale (a full `mmbench run` per scale: load, warmup, timed operations, explain) and fits, per
backend and query, cost ∝ size^k on log-log axes — least squares over the scales, with a 95%
interval for k from the t distribution of the slope — for the latency (p50) and, where the
backend reports it, for the records examined. Each exponent is classified: flat (k < 0.2),
sub-linear (0.2-0.8), linear (0.8-1.2), super-linear (> 1.2) — by its whole interval, not the
point estimate alone: an interval inside one class names it, one across two names both ("linear
to super-linear"), a wider one is "unclear", and a fit through two scales (no interval) says so.
A key lookup should be flat, a Scan linear; the interval says whether this run can tell.

Output: one results file per scale (the usual schema) and `sweep.json` (the points and the
exponents) in a directory of its own, and with `--html` a report: one log-log plot per query
(a line per backend, k in the legend) and the table of exponents.
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.results import now_iso

# t quantiles (0.975) for 1..30 degrees of freedom; beyond, the normal's 1.96 is close enough.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042)


def t975(df: int) -> float:
    return _T975[df - 1] if 1 <= df <= len(_T975) else 1.96


def classify(k: float) -> str:
    if k < 0.2:
        return "flat"
    if k < 0.8:
        return "sub-linear"
    if k <= 1.2:
        return "linear"
    return "super-linear"


CLASSES = ("flat", "sub-linear", "linear", "super-linear")


def growth_of(k: float, lo: float | None, hi: float | None) -> str:
    """The class the whole 95% interval supports (see the module docstring)."""
    if lo is None or hi is None:
        return f"{classify(k)} (two scales, no interval)"
    low, high = CLASSES.index(classify(lo)), CLASSES.index(classify(hi))
    if low == high:
        return CLASSES[low]
    if high - low == 1:
        return f"{CLASSES[low]} to {CLASSES[high]}"
    return "unclear (interval too wide)"


@dataclass
class Fit:
    """cost ∝ size^k: the exponent, its 95% interval (None with two points: no spread to judge)."""

    k: float
    lo: float | None
    hi: float | None
    points: int
    growth: str

    @classmethod
    def of(cls, sizes: list[float], values: list[float]) -> Fit | None:
        pairs = [(s, v) for s, v in zip(sizes, values, strict=True) if s > 0 and v is not None and v > 0]
        if len(pairs) < 2:
            return None
        x = np.log([p[0] for p in pairs])
        y = np.log([p[1] for p in pairs])
        k, intercept = np.polyfit(x, y, 1)
        lo = hi = None
        if len(pairs) > 2:
            residual = y - (k * x + intercept)
            se = math.sqrt(float(residual @ residual) / (len(pairs) - 2) / float(((x - x.mean()) ** 2).sum()))
            half = t975(len(pairs) - 2) * se
            lo, hi = float(k - half), float(k + half)
        return cls(float(k), lo, hi, len(pairs), growth_of(float(k), lo, hi))


@dataclass
class Sweep:
    id: str
    scales: list[int]
    backends: list[str]
    queries: list[str]
    started_at: str
    finished_at: str | None = None
    results_files: dict[int, str] = field(default_factory=dict)
    points: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)  # backend -> query -> per scale
    fits: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)          # backend -> query -> metric -> Fit
    engines: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"schema": "mmbench.sweep/1", **asdict(self)}, indent=1, default=str)


def run_sweep(scales: list[int], backends: list[str] | None, queries: tuple[Any, ...], *, seed: int, ops: int,
              warmup: int, max_time_s: float, out_dir: Path, say: Callable[[str], None],
              tick: Callable[[int, str], None]) -> tuple[Sweep, Path]:
    from bench.runner import RunSettings, Runner, Target, default_targets

    stamp = now_iso().replace(":", "").replace("-", "")[:15]
    sweep = Sweep(f"{stamp}Z-{secrets.token_hex(3)}", scales, [], [q.value for q in queries], now_iso())
    folder = out_dir / f"sweep-{sweep.id}"
    folder.mkdir(parents=True, exist_ok=True)
    targets = [Target.registered(b) for b in backends] if backends else default_targets()
    for scale in scales:
        settings = RunSettings(datasets=("synthetic",), scale=scale, seed=seed, queries=queries, ops=ops,
                               warmup=warmup, max_time_s=max_time_s)
        say(f"scale {scale}")
        runner = Runner(settings, targets, say=say, tick=tick)
        doc = runner.run()
        path = doc.write(folder / f"scale-{scale}.json")
        sweep.results_files[scale] = path.name
        data = doc.validated().dump()
        for name, b in data["backends"].items():
            if b.get("engine"):
                sweep.engines[name] = b["engine"]
        for r in data["results"]:
            if r["status"] != "ok" or not r.get("latency"):
                continue
            work = ((r.get("explain") or {}).get("work")) or {}
            point = {"scale": scale, "p50_us": (r.get("stats") or {}).get("p50_us", {}).get("value", r["latency"]["p50_us"]),
                     "p99_us": r["latency"]["p99_us"], "examined": work.get("examined"), "returned": work.get("returned"),
                     "rows": data["datasets"]["synthetic"].get("rows")}
            sweep.points.setdefault(r["backend"], {}).setdefault(r["phase"], []).append(point)
        if doc.data["status"] == "interrupted":
            break
    sweep.backends = list(sweep.points)
    for backend, per_query in sweep.points.items():
        for query, pts in per_query.items():
            sizes = [float(p["scale"]) for p in pts]
            fits = {metric: Fit.of(sizes, [p[metric] for p in pts]) for metric in ("p50_us", "examined")}
            sweep.fits.setdefault(backend, {})[query] = {m: asdict(f) for m, f in fits.items() if f is not None}
    sweep.finished_at = now_iso()
    summary = folder / "sweep.json"
    summary.write_text(sweep.to_json() + "\n")
    return sweep, summary


def exponent_text(fit: dict[str, Any] | None) -> str:
    if not fit:
        return "-"
    ci = f" [{fit['lo']:.2f}, {fit['hi']:.2f}]" if fit.get("lo") is not None else ""
    return f"{fit['k']:.2f}{ci} {fit['growth']}"


def sweep_html(sweep: Sweep, path: Path) -> Path:
    """One log-log plot per query (a line per backend, k in the legend) and the exponents table."""
    import html as _html

    from bench.report import _log_axis, _png, _pyplot, fmt_tick_us

    plt = _pyplot()
    parts = [f"<h1>mmbench sweep {sweep.id}</h1><p>synthetic data set at scales {', '.join(map(str, sweep.scales))}; "
             "cost ∝ size<sup>k</sup>, k fitted by least squares on log-log axes with its 95% interval. "
             "flat: k &lt; 0.2; sub-linear: 0.2–0.8; linear: 0.8–1.2; super-linear: &gt; 1.2 — the class the "
             "whole interval lies in, or the two it spans, or unclear when it spans more.</p>"]
    rows = []
    for query in sweep.queries:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
        drawn = False
        for backend, per_query in sweep.points.items():
            pts = per_query.get(query)
            if not pts:
                continue
            fits = sweep.fits.get(backend, {}).get(query, {})
            label = backend + (" (emulator)" if sweep.engines.get(backend, {}).get("emulator") else "")
            xs = [p["scale"] for p in pts]
            axes[0].plot(xs, [p["p50_us"] for p in pts], marker="o",
                         label=f"{label}: k={fits['p50_us']['k']:.2f}" if "p50_us" in fits else label)
            ex = [(p["scale"], p["examined"]) for p in pts if p["examined"]]
            if ex:
                axes[1].plot([e[0] for e in ex], [e[1] for e in ex], marker="o",
                             label=f"{label}: k={fits['examined']['k']:.2f}" if "examined" in fits else label)
            drawn = True
            rows.append((query, label, exponent_text(fits.get("p50_us")), exponent_text(fits.get("examined"))))
        if not drawn:
            plt.close(fig)
            continue
        for ax, title in zip(axes, ("p50 latency", "records examined (explain)"), strict=True):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("scale (× 1,000 patients, × 10,000 variant calls)")
            ax.set_title(title, fontsize=9)
            if ax.lines:
                ax.legend(fontsize=7, frameon=False)
        _log_axis(axes[0].yaxis, fmt_tick_us)
        fig.suptitle(query, fontsize=10)
        parts.append(f"<h2>{_html.escape(query)}</h2><img src='{_png(fig)}' alt='growth of {_html.escape(query)}'>")
    table = "".join(f"<tr><td>{_html.escape(q)}</td><td>{_html.escape(b)}</td><td>{lat}</td><td>{ex}</td></tr>"
                    for q, b, lat, ex in rows)
    parts.insert(1, "<h2>Growth exponents</h2><table><tr><th>query</th><th>backend</th><th>k of p50 latency</th>"
                    f"<th>k of records examined</th></tr>{table}</table>")
    style = ("<style>body{font:14px system-ui,sans-serif;max-width:1100px;margin:auto;padding:24px}"
             "td,th{padding:3px 9px;border-bottom:1px solid #ddd;text-align:left}img{max-width:100%}</style>")
    path.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>mmbench sweep {sweep.id}</title>"
                    f"{style}</head><body>{''.join(parts)}</body></html>")
    return path
