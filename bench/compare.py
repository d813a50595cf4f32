"""Comparing two runs: per (backend, data set, phase) the ratio B / A of p50 and p99 with its 95%
interval and a verdict — `slower` / `faster` only when the interval excludes 1, else `≈` —
and warnings about what differs between the runs (engines, machine, data set, settings,
target addresses). `--fail-on p50:10%` turns it into a CI gate: exit status 1 when a
*significant* regression (verdict `slower`) exceeds the threshold.

The intervals come from `bench.uncertainty` (hierarchical bootstrap over each run's rounds; a
version 1 file, which has no rounds, counts as one round).
"""

from __future__ import annotations

import math
import re
from typing import Any

from rich.table import Table
from rich.text import Text

from bench.uncertainty import Buckets, estimate, ratio, replicates, rng_for
from models.errors import UsageError

_THRESHOLD = re.compile(r"^(p50|p99):(\d+(?:\.\d+)?)%$")
QUANTILES = (("p50", 50.0), ("p99", 99.0))


def parse_threshold(text: str) -> tuple[str, float]:
    """`p50:10%` -> ("p50", 1.10)."""
    m = _THRESHOLD.match(text.strip())
    if not m:
        raise UsageError(f"--fail-on {text!r}: expected p50:N% or p99:N%, e.g. p50:10%")
    return m.group(1), 1 + float(m.group(2)) / 100


def _rounds(entry: dict[str, Any]) -> list[Buckets]:
    hists = [r["histogram"] for r in entry.get("rounds") or [] if r.get("histogram")]
    if not hists and entry.get("histogram"):
        hists = [entry["histogram"]]
    return [Buckets.decode(h) for h in hists]


def _ok(entry: dict[str, Any] | None) -> bool:
    return bool(entry) and entry["status"] == "ok" and bool(entry.get("ops"))


def compare_runs(a: dict[str, Any], b: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows for every (backend, data set, phase) in both runs, and what differs between the runs."""
    index_b = {(r["backend"], r["dataset"], r["phase"]): r for r in b["results"]}
    rows = []
    for ra in a["results"]:
        key = (ra["backend"], ra["dataset"], ra["phase"])
        rb = index_b.get(key)
        if rb is None:
            continue
        row: dict[str, Any] = {"backend": key[0], "dataset": key[1], "phase": key[2],
                               "status_a": ra["status"], "status_b": rb["status"]}
        if _ok(ra) and _ok(rb):
            ba, bb = _rounds(ra), _rounds(rb)
            for name, q in QUANTILES:
                va, vb = estimate(ba, q), estimate(bb, q)
                rep_a = replicates(ba, q, rng_for(a["id"], *key, name))
                rep_b = replicates(bb, q, rng_for(b["id"], *key, name))
                row[name] = {"a_us": va, "b_us": vb, **ratio(rep_b, rep_a, vb / va if va else math.inf)}
            row["rounds"] = [len(ba), len(bb)]
        rows.append(row)
    return rows, differences(a, b)


def regressions(rows: list[dict[str, Any]], threshold: tuple[str, float]) -> list[dict[str, Any]]:
    """Rows whose `which` ratio is a significant slowdown beyond `limit` (e.g. 1.10)."""
    which, limit = threshold
    return [r for r in rows if which in r and r[which]["verdict"] == "slower" and r[which]["value"] > limit]


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """What differs between two runs and may explain a difference: engines, addresses, machine,
    data sets, settings, tool commit."""
    notes = []
    for name in sorted(set(a["backends"]) & set(b["backends"])):
        ea, eb = (a["backends"][name].get("engine") or {}), (b["backends"][name].get("engine") or {})
        if ea and eb:
            if (ea.get("product"), ea.get("version")) != (eb.get("product"), eb.get("version")):
                notes.append(f"{name}: engine {ea.get('product')} {ea.get('version')} vs {eb.get('product')} {eb.get('version')}")
            if ea.get("address") != eb.get("address"):
                notes.append(f"{name}: target {ea.get('address')} vs {eb.get('address')}")
            if ea.get("options") != eb.get("options"):
                notes.append(f"{name}: engine options {ea.get('options')} vs {eb.get('options')}")
    sa, sb = a["settings"], b["settings"]
    for key in sorted(set(sa) | set(sb)):
        if sa.get(key) != sb.get(key):
            notes.append(f"setting {key}: {sa.get(key)!r} vs {sb.get(key)!r}")
    for name in sorted(set(a["datasets"]) & set(b["datasets"])):
        da, db = a["datasets"][name], b["datasets"][name]
        if (da.get("scale"), da.get("seed"), da.get("rows")) != (db.get("scale"), db.get("seed"), db.get("rows")):
            notes.append(f"data set {name}: scale {da.get('scale')} seed {da.get('seed')} rows {da.get('rows')} "
                         f"vs scale {db.get('scale')} seed {db.get('seed')} rows {db.get('rows')}")
    for key in ("cpu_model", "cpu_cores_logical", "memory_bytes", "os"):
        if a["machine"].get(key) != b["machine"].get(key):
            notes.append(f"machine {key}: {a['machine'].get(key)!r} vs {b['machine'].get(key)!r}")
    if a["tool"].get("git_commit") != b["tool"].get("git_commit"):
        notes.append(f"tool commit: {a['tool'].get('git_commit')} vs {b['tool'].get('git_commit')}")
    return notes


VERDICT_STYLE = {"slower": "red", "faster": "green", "≈": "dim"}


def verdict_text(r: dict[str, Any]) -> Text:
    """`×1.42 [1.31, 1.55] slower`, coloured only when the interval excludes 1."""
    return Text(f"×{r['value']:.2f} [{r['lo']:.2f}, {r['hi']:.2f}] {r['verdict']}", style=VERDICT_STYLE[r["verdict"]])


def compare_table(a: dict[str, Any], b: dict[str, Any], rows: list[dict[str, Any]]) -> Table:
    from bench.report import fmt_us

    table = Table(title=f"B / A with 95% interval (A = {a['id']}, B = {b['id']}; ≈: no difference at this noise)",
                  show_lines=False)
    for col in ("dataset", "backend", "phase", "p50 A", "p50 B", "p50 B/A", "p99 A", "p99 B", "p99 B/A"):
        table.add_column(col, justify="left" if col in ("dataset", "backend", "phase") else "right")
    for r in rows:
        cells: list[Any] = [r["dataset"], r["backend"], r["phase"]]
        for name, _ in QUANTILES:
            if name in r:
                cells += [fmt_us(r[name]["a_us"]), fmt_us(r[name]["b_us"]), verdict_text(r[name])]
            else:
                cells += [r["status_a"], r["status_b"], Text("-")]
        table.add_row(*cells)
    return table
