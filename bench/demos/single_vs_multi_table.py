"""`mmbench demo single-vs-multi-table`: one DynamoDB table with overloaded keys and indexes, or
a table per entity?

`dynamodb` (three tables: patients with their diagnoses in one item collection, lab results,
variants; sparse GSIs by code and by age) and `dynamodb:single-table` (every entity in one table,
overloaded `pk`/`sk`, two overloaded GSIs, the second sharded four ways) answer the same
questions on the same data (the synthetic patients and diagnoses at `--scale`, 1 by default):

- `patient_by_id`: the requests each design sends for one patient, and the items they read;
- `patients_with_diagnosis`: code -> patients, a Query on an index in both;
- `diagnosis_counts`: every diagnosis read and counted in the client (DynamoDB has no GROUP BY):
  a Scan of a sparse index, or one Query per shard;
- `add_diagnosis`: one logical write, its requests and write units — as the engine reports them,
  and as DynamoDB bills them (1 unit per KB of the item in the table and again in every GSI the
  item lands in, computed from the explained write's items and the design's table definitions,
  since dynalite leaves the index writes out);
- the bulk load: rows per second of the writes, and the switch of the load generation apart.

Requests, items read and returned come from each question's `explain` (the requests as sent,
with DynamoDB's ScannedCount and Count). The local engine is dynalite, an emulator: the counts
and units follow DynamoDB's rules; its latencies and load rates are one Node.js process on
LevelDB and say nothing about Amazon DynamoDB's, which the takeaway says.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, ClassVar

from backends import Backend
from backends.base import Explanation
from bench.demos.base import Context, Demo, DemoResult, Measured, compared, fmt_count
from bench.demos.common import (
    Only,
    Question,
    bars,
    compare_on,
    draw,
    emulator_notes,
    human_us,
    load_average,
    measure_writes,
    no_choice,
    open_each,
)
from bench.loading import timed_load
from models.catalog import CATALOG, Q
from models.generate import SyntheticDataset
from models.sampling import SampleSource

MULTI, SINGLE = "dynamodb", "dynamodb:single-table"
LABELS = {MULTI: "three tables (dynamodb)", SINGLE: "one table (dynamodb:single-table)"}
COLUMNS = ["question", "backend", "p50_us", "p99_us", "requests", "examined", "returned", "cost", "rows_per_s"]
DRAWS = 50
EXPLAINED = 3
WRITE = "add_diagnosis"
EXPLAIN_OP = 900_000  # op index of the explained write's parameters: far from the timed ones


def requests(e: Explanation) -> str:
    """The requests one question sent, counted: `Query`, `GetItem, PutItem`, `Query ×4`."""
    ops = Counter(s.text.split(" ", 1)[0] for s in e.statements)
    return ", ".join(op if n == 1 else f"{op} ×{n}" for op, n in ops.items())


def billed_write_units(backend: Backend, e: Explanation) -> float:
    """Write units of an explained write as DynamoDB bills them: every item put, per KB, in its table
    and again in each GSI it lands in (`backends.kv.explain.write_units`)."""
    import json

    from backends.kv import explain as ex

    definitions = {d["TableName"]: d for d in backend.tables.definitions()}  # type: ignore[attr-defined]
    units = 0.0
    for s in e.statements:
        op, _, body = s.text.partition(" ")
        call = ex.Call(op, s.text, json.loads(body or "{}"))
        for table, item, transactional in ex.written_items(call):
            units += ex.write_units(item, definitions.get(table, {}), transactional)
    return units


class SingleVsMultiTable(Demo):
    name: ClassVar[str] = "single-vs-multi-table"
    question: ClassVar[str] = ("One DynamoDB table with overloaded keys and GSIs, or a table per entity? Requests, "
                               "items read, write units and load rate of dynamodb vs dynamodb:single-table")
    backends: ClassVar[tuple[str, ...]] = (MULTI, SINGLE)
    default_scale: ClassVar[int] = 1

    def run(self, ctx: Context) -> DemoResult:
        no_choice(ctx, self.backends)
        scale = ctx.scale or self.default_scale
        data = Only(SyntheticDataset(scale=scale, seed=ctx.seed), ("patients", "diagnoses"), "patients-diagnoses")
        loads = load_average()
        notes: list[str] = [f"data: synthetic scale {scale} (seed {ctx.seed}), its patients and diagnoses only"]
        opened = open_each(ctx, self.backends, notes)
        if len(opened) < 2:
            return DemoResult(self.name, self.question, COLUMNS, [], "Both designs are needed to compare them; "
                              f"only {', '.join(opened) or 'neither'} answered, so nothing was compared.", notes=notes)
        info = opened[MULTI].engine_info()
        notes.extend(emulator_notes(ctx, opened[MULTI], (SINGLE,)))
        rows: list[dict[str, Any]] = []
        loaded: dict[str, dict[str, Any]] = {}
        for name in self.backends:  # always loaded: the load is one of the things compared
            ctx.say(f"{name}: loading {data.name} scale {scale}")
            with ctx.namespaced():
                timing = timed_load(opened[name], data)
            write_s = sum(k.write_s + k.index_s for k in timing.kinds.values())
            loaded[name] = {"rows": timing.total_rows, "write_s": round(write_s, 3), "setup_s": round(timing.setup_s, 3),
                            "switch_s": round(timing.finish_s, 3),
                            "rows_per_s": round(timing.total_rows / write_s) if write_s > 0 else None}
            rows.append({"question": "load (patients + diagnoses)", "label": "load", "backend": name,
                         "p50_us": None, "p99_us": None, "requests": "BatchWriteItem", "examined": None,
                         "returned": None, "cost": {}, **loaded[name]})
            notes.append(f"{name}: loaded {fmt_count(timing.total_rows)} rows in {write_s:.2f} s of writes "
                         f"({fmt_count(loaded[name]['rows_per_s'])} rows/s), {timing.setup_s:.2f} s creating the "
                         f"generation's tables, {timing.finish_s:.2f} s switching to it (deleting the previous one)")
        questions = [Question("patient_by_id", Q.PATIENT_BY_ID, draw(data, Q.PATIENT_BY_ID, DRAWS, ctx.seed)),
                     Question("patients_with_diagnosis", Q.PATIENTS_WITH_DIAGNOSIS,
                              draw(data, Q.PATIENTS_WITH_DIAGNOSIS, DRAWS, ctx.seed)),
                     Question("diagnosis_counts", Q.DIAGNOSIS_COUNTS, [{"min_age": None}])]
        measured = compare_on(ctx, opened, questions, explain_n=EXPLAINED)
        for q in questions:
            for name in self.backends:
                m = measured[(name, q.label)]
                m.extra["requests"] = requests(m.explanation)  # type: ignore[attr-defined]
                rows.append(m.row())
        source = SampleSource.from_dataset(data, seed=ctx.seed)
        writes: dict[str, tuple[Measured, Explanation]] = {}
        for i, name in enumerate(self.backends):
            ctx.say(f"{name}: {WRITE}")
            params = _drawer(source, ctx.seed, i)
            m, e = measure_writes(ctx, WRITE, opened[name], Q.ADD_DIAGNOSIS, params, explain=params(EXPLAIN_OP),
                                  question=WRITE)
            with ctx.namespaced():
                billed = billed_write_units(opened[name], e)
            m.cost = {"rcu": e.work.cost.get("rcu", 0.0), "wcu_reported": e.work.cost.get("wcu", 0.0),
                      "wcu_billed": billed}
            m.extra["requests"] = requests(e)
            writes[name] = (m, e)
            measured[(name, WRITE)] = m
            rows.append(m.row())
        notes.append("add_diagnosis cost: rcu is the profile it reads first (strongly consistent), wcu_reported the "
                     "write units the engine reported (dynalite: the table's only), wcu_billed what DynamoDB bills: "
                     "the item in its table and again in each GSI it lands in")
        takeaway = _takeaway(info, questions, measured, writes, loaded)
        plot = bars(ctx, f"one table or three? synthetic scale {scale}"
                    + (f", {info.product} (emulator)" if info.emulator else ""),
                    [*questions, Question(WRITE, Q.ADD_DIAGNOSIS, [])], list(self.backends), measured, LABELS)
        out = {"scale": scale, "seed": ctx.seed, "emulator": info.emulator, "engine": info.options.get("engine"),
               "loads": loaded,
               "statements": {f"{name} {q}": [s.text for s in m.explanation.statements]  # type: ignore[attr-defined]
                              for (name, q), m in measured.items()},
               "ratios": {q.label: measured[(SINGLE, q.label)].versus(measured[(MULTI, q.label)])
                          for q in [*questions, Question(WRITE, Q.ADD_DIAGNOSIS, [])]},
               "load_average": {"start": loads, "end": load_average()}}
        return DemoResult(self.name, self.question, COLUMNS, rows, takeaway, plots=[plot] if plot else [],
                          notes=notes, data=out)


def _drawer(source: SampleSource, seed: int, design: int) -> Any:
    """Parameters of write number i: fresh diagnosis ids, different for each design."""
    import random

    def params(i: int) -> dict[str, Any]:
        return CATALOG[Q.ADD_DIAGNOSIS].sample(source, random.Random(f"{seed}-{design}-{i}"), 10_000_000 * design + i)

    return params


def _work(m: Measured) -> str:
    """`Query, 7 items read, 0.5 read units`."""
    rcu = m.cost.get("rcu")
    return (f"{requests(m.explanation)}, {fmt_count(m.examined)} items read"  # type: ignore[attr-defined]
            + (f", {rcu:g} read units" if rcu is not None else ""))


def _takeaway(info: Any, questions: list[Question], measured: dict[tuple[str, str], Measured],
              writes: dict[str, tuple[Measured, Explanation]], loaded: dict[str, dict[str, Any]]) -> str:
    parts = [f"Measured on {info.product} {info.version}"
             + (", an emulator: requests, items and units follow DynamoDB's rules, the times do not." if info.emulator
                else ".")]
    for q in questions:
        multi, single = measured[(MULTI, q.label)], measured[(SINGLE, q.label)]
        parts.append(
            f"{q.label}: three tables {_work(multi)}; one table {_work(single)}; at {human_us(single.p50_us)} vs "
            f"{human_us(multi.p50_us)} p50, {compared('the single table', 'the three tables', single.versus(multi))}.")
    (mw, _), (sw, _) = writes[MULTI], writes[SINGLE]
    parts.append(
        f"add_diagnosis: three tables sent {mw.extra['requests']} and are billed {mw.cost.get('wcu_billed', 0):g} write "
        f"units, one table {sw.extra['requests']} and {sw.cost.get('wcu_billed', 0):g} (the diagnosis lands in "
        f"every GSI whose keys it carries); on the clock {compared('the single table', 'the three tables', sw.versus(mw))}.")
    lm, ls = loaded[MULTI], loaded[SINGLE]
    if lm.get("rows_per_s") and ls.get("rows_per_s"):
        parts.append(f"Load: {fmt_count(ls['rows_per_s'])} rows/s into one table against {fmt_count(lm['rows_per_s'])} "
                     f"into three (one load each, no interval; the generation switch apart: {ls['switch_s']:.2f} s vs "
                     f"{lm['switch_s']:.2f} s).")
    if info.emulator:
        parts.append(f"These times are {info.product.split(' (')[0]}'s, not DynamoDB's; the requests and units are what "
                     "carries over.")
    return " ".join(parts)


DEMO = SingleVsMultiTable
