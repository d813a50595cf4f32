"""`mmbench demo types-on-import`: the lecture imports its CSV into DynamoDB from S3, where every
attribute arrives as a string, then filters `Depth > 50`. Which rows does it get wrong?

AWS's "Import from S3" of a CSV file has no types: `Depth` arrives as `"52"`. The console's
filter then offers the attribute's type (the lecture's screenshot shows `String`), and strings
compare character by character: `"6" > "50"` (the first characters decide, "6" after "5") and
`"100" < "50"` ("1" before "5"). The lecture's own ten rows all have two-digit depths, where text
order and number order agree, so the mistake never shows there.

The demo writes a small genomics CSV with the lecture's header, its ten rows and ten more with
one-, two-, three- and four-digit depths (`ROWS`), uploads it to S3 (the local moto server,
`MMBENCH_S3_URL`, default http://127.0.0.1:5000), and imports it twice with `etl.dynamo_import`
into the local DynamoDB (`MMBENCH_DYNAMODB_*`, dynalite by default): as AWS imports CSV, every
value a string, and typed (numbers as N). It then runs the Scan three ways:

- the string import with `Depth > '50'` (the console's filter with Type String);
- the string import with `Depth > 50` (a number): DynamoDB never compares a number with a
  string, so nothing matches;
- the typed import with `Depth > 50`: the right answer.

and lists the rows the string comparison included wrongly and excluded wrongly, next to the
right answer. The table has each Scan's items read (ScannedCount) and returned, the read units
billed, and its latency (the Scan requests alone, on one client); the wrong rows are in the
JSON (`data.wrong`). Locally the import is CreateTable + BatchWriteItem with the values typed
exactly as AWS's CSV import types them (dynalite has no ImportTable; moto's imports nothing
from a CSV); on AWS `etl.dynamo_import` uses ImportTable itself.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, ClassVar

from bench.demos.base import Context, Demo, DemoResult, Measured, compared, fmt_count
from bench.demos.common import emulator_notes, load_average, ops_for, save, try_open
from models.errors import MMBenchError, UsageError, first_line

HEADER = ("ID", "Chromosome", "Position", "Reference_Allele", "Alternate_Allele", "Genotype", "Quality", "Depth")
LECTURE = (
    (1, "1", 100001, "A", "T", "AA", 30, 50), (2, "1", 150002, "C", "G", "CC", 28, 45),
    (3, "2", 500003, "G", "A", "GG", 35, 60), (4, "2", 750004, "T", "C", "TT", 32, 55),
    (5, "3", 300005, "A", "G", "AG", 25, 40), (6, "3", 450006, "C", "T", "CC", 28, 48),
    (7, "4", 900007, "G", "T", "GT", 31, 52), (8, "4", 1200008, "A", "C", "AC", 27, 44),
    (9, "5", 600009, "T", "G", "TG", 33, 58), (10, "5", 900010, "C", "A", "CA", 29, 46),
)
"""The lecture's genomics.csv: depths 40 to 60, all two digits."""
MORE = (
    (11, "6", 320011, "G", "A", "GA", 18, 6), (12, "7", 410012, "T", "C", "TC", 21, 8),
    (13, "9", 130013, "C", "T", "CT", 24, 9), (14, "22", 660014, "A", "T", "AT", 26, 5),
    (15, "11", 770015, "A", "G", "AA", 38, 100), (16, "12", 880016, "G", "C", "GC", 40, 120),
    (17, "17", 410017, "T", "A", "TA", 37, 250), (18, "4", 1500018, "G", "A", "GA", 34, 1000),
    (19, "1", 230019, "T", "G", "TG", 36, 75), (20, "X", 990020, "C", "G", "CG", 39, 500),
)
"""Ten more calls with one-digit (low coverage), two-digit and three- or four-digit (deep) depths."""
ROWS = LECTURE + MORE
THRESHOLD = 50
BUCKET = "mmbench-demos"
STRINGS, TYPED = "genomics_strings", "genomics_typed"
SCANS: tuple[tuple[str, str, str, str], ...] = (
    ("strings (as AWS imports CSV)", STRINGS, f"Depth > '{THRESHOLD}'", "as strings: the console's filter, Type String"),
    ("strings (as AWS imports CSV)", STRINGS, f"Depth > {THRESHOLD}", "as a number on string attributes"),
    ("typed (numbers as N)", TYPED, f"Depth > {THRESHOLD}", "as a number: the right answer"),
)
"""(import, table, filter, what the comparison is) of each Scan."""
COLUMNS = ["import", "filter", "backend", "p50_us", "p99_us", "examined", "returned", "wrong_in", "wrong_out", "cost",
           "depths returned"]


def csv_text() -> str:
    lines = [",".join(HEADER), *(",".join(str(v) for v in row) for row in ROWS)]
    return "\n".join(lines) + "\n"


def right_ids() -> set[str]:
    """What `Depth > 50` means: the IDs of the rows whose depth, as a number, exceeds 50."""
    return {str(row[0]) for row in ROWS if row[7] > THRESHOLD}


class TypesOnImport(Demo):
    name: ClassVar[str] = "types-on-import"
    question: ClassVar[str] = ("The lecture's CSV imported into DynamoDB from S3 arrives as strings: which rows does "
                               "the Scan with Depth > 50 get wrong, next to a typed import?")
    backends: ClassVar[tuple[str, ...]] = ("dynamodb",)
    needs: ClassVar[str] = "S3 (moto: mmbench up s3) for the upload; without it the CSV is imported from a local file"
    default_scale: ClassVar[int] = 0

    def run(self, ctx: Context) -> DemoResult:
        from etl.dynamo_import import import_table, scan_table

        if ctx.backend_override not in (None, "dynamodb"):
            raise UsageError("demo types-on-import imports into DynamoDB (choose its engine with "
                             "MMBENCH_DYNAMODB_ENGINE or MMBENCH_DYNAMODB_URL): it takes no other --backend")
        if ctx.scale:
            raise UsageError("demo types-on-import runs on its own twenty rows: it takes no --scale")
        loads = load_average()
        backend, why = try_open(ctx, "dynamodb")
        if backend is None:
            raise MMBenchError(f"demo types-on-import needs DynamoDB: {why}")
        info = backend.engine_info()
        notes = [(f"data: the lecture's genomics.csv (IDs 1-10, depths 40-60) and ten more rows (IDs 11-20, depths "
                 f"{', '.join(str(r[7]) for r in MORE)}), {len(ROWS)} in all")]
        with tempfile.TemporaryDirectory(prefix="mmbench-types-") as tmp:
            path = Path(tmp) / "genomics.csv"
            path.write_text(csv_text())
            source = self._upload(ctx, path, notes)
            ctx.say(f"dynamodb: importing {source} twice (strings, typed)")
            with ctx.namespaced():
                imported = {typed: import_table(source, TYPED if typed else STRINGS, typed=typed, replace=True)
                            for typed in (False, True)}
        for typed, result in imported.items():
            how = "ImportTable" if result.method == "import" else "CreateTable + BatchWriteItem"
            notes.append(f"{'typed' if typed else 'strings'}: {result.items} items into {result.table} ({how}, key "
                         f"{result.key}{', numbers as N' if typed else ', every value a string'})")
        if any(r.method == "put" for r in imported.values()):
            notes.append("locally the import is CreateTable + BatchWriteItem with the values typed as AWS's CSV import "
                         "types them (dynalite has no ImportTable, moto's imports nothing from a CSV); on AWS "
                         "etl.dynamo_import runs ImportTable")
        notes.extend(emulator_notes(ctx, backend))
        right = right_ids()
        rows: list[dict[str, Any]] = []
        found: dict[tuple[str, str], Any] = {}
        measured: list[Measured] = []
        for kind, table, where, meaning in SCANS:
            ctx.say(f"dynamodb: Scan {table} where {where}")
            with ctx.namespaced():
                result = scan_table(table, where)
                m = self._timed(ctx, backend, table, where, meaning)
            found[(table, where)] = result
            ids = {str(it["ID"]) for it in result.items}
            wrong_in = sorted(ids - right, key=int)
            wrong_out = sorted(right - ids, key=int)
            m.examined, m.returned, m.answer = result.scanned, len(result.items), len(result.items)
            m.extra.update({"import": kind, "filter": f"{where} ({meaning})", "table": result.table,
                            "attribute_types": result.types, "wrong_in": len(wrong_in), "wrong_out": len(wrong_out),
                            "ids": sorted(ids, key=int),
                            "depths returned": ", ".join(str(it["Depth"]) for it in result.items) or "none"})
            measured.append(m)
            rows.append(m.row())
        strings = found[(STRINGS, SCANS[0][2])]
        typed = found[(TYPED, SCANS[2][2])]
        wrong = _wrong(strings.items, typed.items, right)
        takeaway = _takeaway(info, strings, found[(STRINGS, SCANS[1][2])], typed, wrong, measured)
        plot = _plot(ctx, info, rows, right)
        out = {"source": source, "threshold": THRESHOLD, "csv": csv_text(),
               "right_answer": {"filter": SCANS[2][2], "ids": sorted(right, key=int), "items": typed.items},
               "wrong": wrong, "string_scan": strings.describe(),
               "attribute_types": {"strings": strings.types, "typed": typed.types},
               "imports": {("typed" if t else "strings"): r.describe() for t, r in imported.items()},
               "emulator": info.emulator, "load_average": {"start": loads, "end": load_average()}}
        return DemoResult(self.name, self.question, COLUMNS, rows, takeaway, plots=[plot] if plot else [],
                          notes=notes, data=out)

    @staticmethod
    def _upload(ctx: Context, path: Path, notes: list[str]) -> str:
        """The CSV uploaded to S3 (the lecture's first step); the local file when S3 does not answer."""
        from etl.aws import ServiceUnavailable
        from etl.storage import S3Url, upload

        dest = S3Url(BUCKET, f"{ctx.namespace}/genomics.csv")
        try:
            where = str(upload(path, dest))
        except ServiceUnavailable as exc:
            notes.append(f"S3 did not answer ({first_line(exc)}): the CSV was imported from a local file instead; "
                         "`mmbench up s3` starts the local S3")
            return str(path)
        notes.append(f"uploaded genomics.csv to {where} (MMBENCH_S3_URL; the local moto server by default)")
        return where

    @staticmethod
    def _timed(ctx: Context, backend: Any, table: str, where: str, label: str) -> Measured:
        """The Scan requests alone (one client, every page), timed; read units from ConsumedCapacity."""
        from etl.dynamo_import import dynamodb_client, filter_request, table_name

        client, _, _ = dynamodb_client()
        request = {"TableName": table_name(table), "ReturnConsumedCapacity": "TOTAL", **filter_request(where)}
        units: list[float] = []

        def scan() -> None:
            spent = 0.0
            page = client.scan(**request)
            spent += page.get("ConsumedCapacity", {}).get("CapacityUnits", 0.0)
            while "LastEvaluatedKey" in page:
                page = client.scan(**request, ExclusiveStartKey=page["LastEvaluatedKey"])
                spent += page.get("ConsumedCapacity", {}).get("CapacityUnits", 0.0)
            units.append(spent)

        try:
            ops = ops_for(ctx, scan, [{}], 0.6)
            m = ctx.measure(label, backend, scan, [{}], ops=ops)
        finally:
            client.close()
        m.cost = {"rcu": units[-1]} if units and units[-1] else {}
        m.statement = f"Scan {request}"
        return m


def _wrong(strings: list[dict[str, Any]], typed: list[dict[str, Any]], right: set[str]) -> dict[str, Any]:
    """The rows the string comparison got wrong, as imported (strings), with why."""
    got = {str(it["ID"]): it for it in strings}
    rows = {str(it["ID"]): it for it in typed}

    def why(depth: Any, included: bool) -> str:
        text = f'"{depth}" {">" if included else "<"} "{THRESHOLD}"'
        return (f"{text} as text (the first differing character decides), but {depth} "
                f"{'<=' if included else '>'} {THRESHOLD} as a number")

    included = [{**got[i], "why": why(got[i]["Depth"], True)} for i in sorted(set(got) - right, key=int)]
    excluded = [{**{k: str(v) for k, v in rows[i].items()}, "why": why(rows[i]["Depth"], False)}
                for i in sorted(right - set(got), key=int)]
    return {"filter": f"Depth > '{THRESHOLD}' on the string import", "included_wrongly": included,
            "excluded_wrongly": excluded, "right": len(right), "returned": len(strings)}


def _takeaway(info: Any, strings: Any, as_number: Any, typed: Any, wrong: dict[str, Any],
              measured: list[Measured]) -> str:
    inc, exc = wrong["included_wrongly"], wrong["excluded_wrongly"]
    depths = ", ".join
    parts = [(f"Imported as strings (every value, as AWS's CSV import does), the lecture's filter Depth > {THRESHOLD} "
             f"with Type String returned {len(strings.items)} of {strings.scanned} rows, and "
             f"{len(inc) + len(exc)} answers were wrong:")]
    if inc:
        parts.append(f"{len(inc)} included wrongly (depth {depths(str(r['Depth']) for r in inc)}: "
                     f'"{inc[0]["Depth"]}" > "{THRESHOLD}" as text)' + (";" if exc else "."))
    if exc:
        parts.append(f"{len(exc)} excluded wrongly (depth {depths(str(r['Depth']) for r in exc)}: "
                     f'"{exc[0]["Depth"]}" < "{THRESHOLD}" as text).')
    if not inc and not exc:
        parts.append("none — this data has no depth whose text order differs from its number order.")
    parts.append(f"The same filter as a number (Depth > {THRESHOLD}) matched {len(as_number.items)} of the string "
                 "items: DynamoDB never compares a number with a string.")
    parts.append(f"Imported typed, Depth > {THRESHOLD} returned the right {len(typed.items)} rows (IDs "
                 f"{', '.join(str(it['ID']) for it in typed.items)}).")
    read = sorted({m.examined for m in measured if m.examined is not None})
    units = sorted({m.cost.get("rcu", 0.0) for m in measured})
    if len(read) == 1:
        parts.append(f"Every Scan read all {fmt_count(read[0])} items, whatever the filter"
                     + (f", and was billed {units[0]:g} read units" if len(units) == 1 and units[0] else "")
                     + ": a filter trims what comes back, not what is read or billed.")
    clocks = compared("the string Scan", "the typed Scan", measured[0].versus(measured[2]))
    parts.append(f"On the clock, {clocks}" + (f" — on {info.product}, an emulator whose times are not DynamoDB's; the "
                                              "types change what matches, not the work of the Scan" if info.emulator
                                              else "") + ".")
    parts.append("Type the numbers on import (or convert before comparing): the console's String filter is a text "
                 "comparison.")
    return " ".join(parts)


def _plot(ctx: Context, info: Any, rows: list[dict[str, Any]], right: set[str]) -> str | None:
    from bench.report import _pyplot

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 3.8))
    depth = {str(r[0]): r[7] for r in ROWS}
    ids = sorted(depth, key=lambda i: depth[i])
    xs = range(len(ids))
    ax.bar(xs, [depth[i] for i in ids], color="#dddddd", label="depth of each call")
    ax.axhline(THRESHOLD, color="grey", ls="--", lw=1, label=f"Depth = {THRESHOLD}")
    marks = (("#2ca02c", "o", 0, rows[2]), ("#d62728", "x", 1, rows[0]))
    for colour, marker, offset, row in marks:
        got = set(row["ids"])
        ys = [depth[i] * (1.15 + 0.15 * offset) for i in ids if i in got]
        ax.scatter([x for x, i in zip(xs, ids, strict=True) if i in got], ys, color=colour, marker=marker, zorder=3,
                   label=f"returned by {row['filter'].split(' (')[0]} on the {row['import'].split(' (')[0]} import")
    for x, i in zip(xs, ids, strict=True):
        if (i in right) != (i in set(rows[0]["ids"])):
            ax.annotate("wrong", (x, depth[i]), textcoords="offset points", xytext=(0, -14), ha="center", fontsize=7,
                        color="#d62728")
    ax.set_yscale("log")
    ax.set_xticks(list(xs), [f"{i}\n({depth[i]})" for i in ids], fontsize=7)
    ax.set_xlabel("ID (depth), by depth")
    ax.set_title("Depth > 50: as text on the string import vs as a number on the typed import"
                 + (f" — {info.product}" if info else ""), fontsize=9)
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    return save(ctx, fig, "rows")


DEMO = TypesOnImport
