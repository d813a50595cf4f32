"""Exports of results files: one row per (backend, data set, phase), as JSON, CSV or Markdown
(for a README or slides), or a `pytest-benchmark` JSON file that `pytest-benchmark compare` reads.

Every row carries what a reader needs to trust it: the engine and whether it is an emulator,
the tier, p50 / p99 with their 95% intervals and the verdict against the fastest backend.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any

from hdrh.histogram import HdrHistogram

COLUMNS = ("run", "backend", "model", "design", "engine", "emulator", "dataset", "phase", "tier", "status", "ops",
           "errors", "ops_per_s", "p50_us", "p50_lo_us", "p50_hi_us", "p99_us", "p99_lo_us", "p99_hi_us", "p999_us",
           "rounds", "vs_fastest", "vs_fastest_lo", "vs_fastest_hi", "verdict", "examined", "returned",
           "server_us", "client_cpu_us_per_op", "server_cpu_us_per_op", "error")


def rows(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for doc in docs:
        for r in doc["results"]:
            b = doc["backends"].get(r["backend"], {})
            engine = b.get("engine") or {}
            lat, stats, cpu = r.get("latency") or {}, r.get("stats") or {}, r.get("cpu") or {}
            vs = stats.get("vs_fastest") or {}
            work = ((r.get("explain") or {}).get("work")) or {}
            p50, p99 = stats.get("p50_us") or {}, stats.get("p99_us") or {}
            out.append({
                "run": doc["id"], "backend": r["backend"], "model": b.get("model"), "design": b.get("design"),
                "engine": f"{engine.get('product', '')} {engine.get('version', '')}".strip() or None,
                "emulator": engine.get("emulator"), "dataset": r["dataset"], "phase": r["phase"], "tier": r["tier"],
                "status": r["status"], "ops": r.get("ops"), "errors": r.get("errors"), "ops_per_s": r.get("ops_per_s"),
                "p50_us": p50.get("value", lat.get("p50_us")), "p50_lo_us": p50.get("lo"), "p50_hi_us": p50.get("hi"),
                "p99_us": p99.get("value", lat.get("p99_us")), "p99_lo_us": p99.get("lo"), "p99_hi_us": p99.get("hi"),
                "p999_us": lat.get("p999_us") if (r.get("ops") or 0) >= 1000 else None,
                "rounds": len(r.get("rounds") or []) or None, "vs_fastest": vs.get("value"),
                "vs_fastest_lo": vs.get("lo"), "vs_fastest_hi": vs.get("hi"), "verdict": vs.get("verdict"),
                "examined": work.get("examined"), "returned": work.get("returned"),
                "server_us": (r.get("server") or {}).get("server_us"),
                "client_cpu_us_per_op": cpu.get("client_us_per_op"), "server_cpu_us_per_op": cpu.get("server_us_per_op"),
                "error": r.get("error"),
            })
    return out


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def to_csv(table: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in table:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buf.getvalue()


MARKDOWN = ("backend", "dataset", "phase", "tier", "p50_us", "p99_us", "vs_fastest", "verdict", "examined", "returned",
            "ops", "status")


def to_markdown(table: list[dict[str, Any]]) -> str:
    def cell(row: dict[str, Any], col: str) -> str:
        if col in ("p50_us", "p99_us") and row[col] is not None:
            lo, hi = row[f"{col[:3]}_lo_us"], row[f"{col[:3]}_hi_us"]
            return _fmt(row[col]) + (f" [{_fmt(lo)}–{_fmt(hi)}]" if lo is not None else "")
        if col == "vs_fastest" and row[col] is not None:
            return f"×{row[col]:.2f}" + (f" [{row['vs_fastest_lo']:.2f}–{row['vs_fastest_hi']:.2f}]"
                                         if row["vs_fastest_lo"] is not None else "")
        if col == "backend" and row["emulator"]:
            return f"{row['backend']} (emulator)"
        return _fmt(row[col]).replace("|", "\\|")

    head = ["backend", "data set", "phase", "tier", "p50 µs [95% CI]", "p99 µs [95% CI]", "÷ fastest p50",
            "verdict", "examined", "returned", "ops", "status"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell(r, c) for c in MARKDOWN) + " |" for r in table]
    return "\n".join(lines) + "\n"


def to_pytest_benchmark(docs: list[dict[str, Any]]) -> str:
    """The pytest-benchmark JSON format (times in seconds), one benchmark per (backend, data set,
    phase), grouped by (data set, phase) so its tables put the backends side by side."""
    doc = docs[0]
    benchmarks = []
    for d in docs:
        for r in d["results"]:
            if r["status"] != "ok" or not r.get("ops") or not r.get("histogram"):
                continue
            hist = HdrHistogram.decode(r["histogram"].encode("ascii"))
            lat = r["latency"]
            q1, q3 = (hist.get_value_at_percentile(p) / 1e9 for p in (25, 75))
            name = f"{r['phase']}[{r['backend']}]"
            benchmarks.append({
                "group": f"{r['dataset']}: {r['phase']}", "name": name, "fullname": f"mmbench::{r['dataset']}::{name}",
                "params": {"backend": r["backend"], "dataset": r["dataset"]}, "param": r["backend"],
                "extra_info": {"tier": r["tier"], "run": d["id"]}, "options": {"timer": "perf_counter_ns"},
                "stats": {"min": lat["min_us"] / 1e6, "max": lat["max_us"] / 1e6, "mean": lat["mean_us"] / 1e6,
                          "stddev": lat["stddev_us"] / 1e6, "rounds": r["ops"], "median": lat["p50_us"] / 1e6,
                          "iqr": q3 - q1, "q1": q1, "q3": q3, "iqr_outliers": 0, "stddev_outliers": 0,
                          "outliers": "0;0", "ld15iqr": lat["min_us"] / 1e6, "hd15iqr": lat["max_us"] / 1e6,
                          "ops": r.get("ops_per_s") or 0.0, "total": lat["mean_us"] * r["ops"] / 1e6,
                          "iterations": 1},
            })
    machine = doc["machine"]
    out = {"machine_info": {"node": "", "processor": machine["cpu_model"], "machine": machine["os"],
                            "python_implementation": doc["python"]["implementation"],
                            "python_version": doc["python"]["version"], "cpu": {"count": machine["cpu_cores_logical"]}},
           "commit_info": {"id": doc["tool"]["git_commit"], "dirty": doc["tool"]["git_dirty"], "project": "mmbench"},
           "benchmarks": benchmarks,
           "datetime": doc.get("finished_at") or dt.datetime.now(dt.UTC).isoformat(),
           "version": "4.0.0"}
    return json.dumps(out, indent=1) + "\n"


def export(docs: list[dict[str, Any]], fmt: str) -> str:
    if fmt == "pytest-benchmark":
        return to_pytest_benchmark(docs)
    table = rows(docs)
    if fmt == "json":
        return json.dumps(table, indent=1) + "\n"
    if fmt == "csv":
        return to_csv(table)
    if fmt == "markdown":
        return to_markdown(table)
    raise ValueError(f"unknown format {fmt!r}")
