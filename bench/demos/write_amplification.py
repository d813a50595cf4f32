"""`mmbench demo write-amplification`: what one logical write costs in each design.

One `add_diagnosis` (one diagnosis of an existing patient) and one `add_variants` (a batch of
ten variant calls) on every backend that answers. What each wrote is counted from its own
`explain` of the write (undone afterwards: rolled back, or written on scratch ids and
deleted): the statements it sent, how many of them write, and the records they wrote —

- SQL: rows of each INSERT / UPDATE / DELETE (an executemany counts its rows); the index
  entries an insert adds are its rows × the indexes of its table (primary key included), from
  the design's schema;
- MongoDB: documents of each insert / update / delete command (an update rewrites a whole
  document: the embedded design's `$push` of a diagnosis rewrites its patient); index entries
  of inserts from the design's indexes (the emulator itself maintains only `_id`);
- Neo4j: the rows through the writing operators of each statement's PROFILE plan (CREATE
  counts each node and relationship of its pattern; SET rewrites a node's properties; a MERGE
  counts only when it did storage work, i.e. created its node); `Label` are nodes, `[TYPE]`
  relationships;
- DynamoDB: items of PutItem / UpdateItem / DeleteItem / BatchWriteItem / TransactWriteItems,
  and the write units the engine reports (`wcu` per write, where it reports them);
- Cassandra: rows of each INSERT / UPDATE / DELETE, also inside a BATCH.

Each write is also timed (every call with fresh ids, so nothing repeats an insert). The demo
runs with whichever backends answer and says which did not: DynamoDB and Cassandra join as
soon as their backends implement `explain`. Data: the seed data set by default (the cost of a
write depends on the design, not on the size), `--scale N` the synthetic patients, diagnoses
and variants at scale N; `--backend B` runs one backend.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from backends import REGISTRY, Backend
from backends.base import Explanation, Statement
from bench.demos.base import Context, Demo, DemoResult, Measured, compared, fmt_count
from bench.demos.common import (
    Only,
    choose,
    emulator_notes,
    ensure_loaded,
    human_us,
    load_average,
    measure_writes,
    save,
    try_open,
)
from models.catalog import CATALOG, Q
from models.errors import first_line
from models.generate import SyntheticDataset
from models.sampling import SampleSource
from models.seed import seed_dataset

WRITES = (Q.ADD_DIAGNOSIS, Q.ADD_VARIANTS)
EXPLAIN_OP = 900_000  # op index of the explained write's parameters: far from the timed ones
COLUMNS = ["write", "backend", "p50_us", "p99_us", "writing", "records", "per_record", "index_entries", "examined",
           "returned", "cost", "written"]


@dataclass
class Written:
    """What one logical write wrote, counted from its explanation."""

    statements: int = 0
    writing: int = 0                         # statements that write
    records: int = 0                         # rows / documents / items / nodes and relationships written
    targets: dict[str, int] = field(default_factory=dict)   # table, collection, label... -> records
    inserted: dict[str, int] = field(default_factory=dict)  # of which inserted (new records)
    unknown: list[str] = field(default_factory=list)        # statements whose writes could not be counted

    def add(self, target: str, n: int, insert: bool) -> None:
        self.records += n
        self.targets[target] = self.targets.get(target, 0) + n
        if insert:
            self.inserted[target] = self.inserted.get(target, 0) + n

    def describe(self) -> str:
        """`diagnoses +1` (inserted), `patients 1 rewritten` (updated), `x 3 (+1)` (both)."""
        def one(target: str, n: int) -> str:
            new = self.inserted.get(target, 0)
            return f"{target} +{n}" if new == n else f"{target} {n} rewritten" if not new else f"{target} {n} (+{new})"

        return ", ".join(one(t, n) for t, n in self.targets.items())


# ---------------------------------------------------------------- counting writes from an explanation

_SQL_WRITE = re.compile(r"^\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+([\w.\"]+)", re.IGNORECASE)
_CQL_WRITE = re.compile(r"\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+([\w.\"]+)", re.IGNORECASE)
_WRITE_OPERATORS = ("Create", "Merge", "Set", "Delete", "DetachDelete", "RemoveLabels", "Remove")
_DYNAMO_SINGLE = {"PutItem", "UpdateItem", "DeleteItem"}


def _rows(params: Any) -> int:
    return len(params) if isinstance(params, list) else 1


def _bare(name: str) -> str:
    return name.replace('"', "").rsplit(".", 1)[-1]


def _scope_free(name: str) -> str:
    """`HAS_DIAGNOSIS_Props_demo_x_a` -> `HAS_DIAGNOSIS`, `Variant_demo_x_a` -> `Variant`: a graph
    label or type without its design marker and namespace scope (which follow it after `_`)."""
    head, *rest = name.split("_")
    parts = [head]
    for part in rest:
        if not part.isupper():
            break
        parts.append(part)
    return "_".join(parts)


def count_writes(explanation: Explanation) -> Written:
    """The writes of one explained write, per the rules of the module docstring."""
    w = Written(statements=len(explanation.statements))
    cypher = [s for s in explanation.statements if s.language == "cypher"]
    for s in explanation.statements:
        if s.language == "sql":
            _sql(w, s)
        elif s.language == "mongo":
            _mongo(w, s)
        elif s.language == "dynamodb":
            _dynamodb(w, s)
        elif s.language == "cql":
            _cql(w, s)
    if cypher:
        plans = explanation.plan if isinstance(explanation.plan, list) else []
        for plan in plans:
            before = w.records
            _cypher(w, plan)
            w.writing += w.records > before
        if len(plans) < len(cypher):
            w.unknown.append(f"{len(cypher) - len(plans)} Cypher statement(s) without a PROFILE plan")
    return w


def _sql(w: Written, s: Statement) -> None:
    m = _SQL_WRITE.match(s.text)
    if m:
        w.writing += 1
        w.add(_bare(m.group(2)), _rows(s.params), m.group(1).upper().startswith("INSERT"))


def _cql(w: Written, s: Statement) -> None:
    found = _CQL_WRITE.findall(s.text)
    if found:
        w.writing += 1
        per = _rows(s.params) if len(found) == 1 else 1  # a BATCH lists its statements, bound once each
        for verb, table in found:
            w.add(_bare(table), per, verb.upper().startswith("INSERT"))


def _mongo(w: Written, s: Statement) -> None:
    try:
        doc = json.loads(s.text)
    except ValueError:
        w.unknown.append(s.text[:40])
        return
    for name, key, insert in (("insert", "documents", True), ("update", "updates", False),
                              ("delete", "deletes", False)):
        if name in doc:
            w.writing += 1
            w.add(str(doc[name]), len(doc.get(key) or []), insert)
            return
    if "findAndModify" in doc:
        w.writing += 1
        w.add(str(doc["findAndModify"]), 1, False)


def _dynamodb(w: Written, s: Statement) -> None:
    op, _, body = s.text.partition(" ")
    try:
        request = json.loads(body) if body else {}
    except ValueError:
        w.unknown.append(op)
        return
    if op in _DYNAMO_SINGLE:
        w.writing += 1
        w.add(str(request.get("TableName", "?")), 1, op == "PutItem")
    elif op == "BatchWriteItem":
        w.writing += 1
        for table, requests in (request.get("RequestItems") or {}).items():
            w.add(str(table), len(requests), all("PutRequest" in r for r in requests))
    elif op == "TransactWriteItems":
        w.writing += 1
        for item in request.get("TransactItems") or []:
            kind, body_ = next(iter(item.items()), ("?", {}))
            if kind != "ConditionCheck":
                w.add(str(body_.get("TableName", "?")), 1, kind == "Put")


def _cypher(w: Written, node: Mapping[str, Any]) -> None:
    op = str(node.get("operatorType", "")).split("@")[0]
    rows = int(node.get("rows", 0))
    details = str((node.get("args") or {}).get("Details", ""))
    if rows and op.startswith(_WRITE_OPERATORS):
        if op.startswith("Create"):
            for label in re.findall(r"\(\w*:(\w+)", details):
                w.add(_scope_free(label), rows, True)
            for rel in re.findall(r"\[\w*:(\w+)", details):
                w.add(f"[{_scope_free(rel)}]", rows, True)
        elif op.startswith("Merge"):
            if int(node.get("dbHits", 0)) > 0:  # it created what it did not find
                label = re.findall(r"\(\w*:(\w+)", details)
                w.add(_scope_free(label[0]) if label else "merged", rows, True)
        else:
            w.add("node properties" if "Relationship" not in op else "relationship properties", rows, False)
    for child in node.get("children", ()) or ():
        _cypher(w, child)


def indexes_of(backend: Backend) -> dict[str, int] | None:
    """Indexes per table / collection (primary key or _id included), from the design's schema:
    SQL designs' METADATA, MongoDB designs' `indexes`; None for the others."""
    meta = getattr(backend, "METADATA", None)
    if meta is not None:
        return {t.name: 1 + len(t.indexes) for t in meta.tables.values()}
    declared = getattr(backend, "indexes", None)
    if isinstance(declared, Mapping):
        out: dict[str, int] = {}
        for collection, models in declared.values():
            out[collection] = out.get(collection, 1) + len(models)
        return out
    return None


def index_entries(w: Written, indexes: dict[str, int] | None) -> int | None:
    """Entries the inserts added to the indexes of what they wrote; None when an update or a delete
    was among the writes (it changes only the entries of the fields it changes) or the indexes are
    not known."""
    if indexes is None or w.records != sum(w.inserted.values()) or any(t not in indexes for t in w.inserted):
        return None
    return sum(n * indexes[t] for t, n in w.inserted.items())


# ---------------------------------------------------------------- the demo

class WriteAmplification(Demo):
    name: ClassVar[str] = "write-amplification"
    question: ClassVar[str] = ("What does one logical write cost? add_diagnosis and add_variants: statements, records "
                               "and index entries written per write, on every design")
    backends: ClassVar[tuple[str, ...]] = tuple(REGISTRY)
    default_scale: ClassVar[int] = 0  # 0: the seed data set

    def run(self, ctx: Context) -> DemoResult:
        names = choose(ctx, tuple(REGISTRY))
        data = (seed_dataset() if not ctx.scale else
                Only(SyntheticDataset(scale=ctx.scale, seed=ctx.seed), ("patients", "diagnoses", "variants"),
                     "patients-diagnoses-variants"))
        source = SampleSource.from_dataset(data, seed=ctx.seed)
        loads = load_average()
        notes: list[str] = [f"data: {'the seed data set' if not ctx.scale else f'synthetic scale {ctx.scale}'}"]
        skipped: dict[str, str] = {}
        rows: list[dict[str, Any]] = []
        results: dict[tuple[str, Q], tuple[Measured, Written, int | None]] = {}
        emulated: list[str] = []
        for name in names:
            backend, why = try_open(ctx, name)
            if backend is None:
                skipped[name] = why or "did not answer"
                continue
            try:
                notes.append(ensure_loaded(ctx, backend, data))
            except Exception as exc:  # noqa: BLE001 - a backend that cannot load is skipped with its reason
                skipped[name] = f"loading failed: {first_line(exc)}"
                continue
            info = backend.engine_info()
            if info.emulator:
                if not any(REGISTRY[n].engine == REGISTRY[name].engine for n in emulated):
                    notes.extend(emulator_notes(ctx, backend))  # once per emulator
                emulated.append(name)
            indexes = indexes_of(backend)
            for q in WRITES:
                ctx.say(f"{name}: {q.value}")
                rng_params = _drawer(source, q, ctx.seed)
                try:
                    m, explanation = measure_writes(ctx, q.value, backend, q, rng_params,
                                                    explain=rng_params(EXPLAIN_OP), write=q.value)
                except Exception as exc:  # noqa: BLE001 - say which write failed where, measure the others
                    skipped[f"{name} {q.value}"] = first_line(exc)
                    continue
                w = count_writes(explanation)
                logical = len(rng_params(EXPLAIN_OP)["variants"]) if q is Q.ADD_VARIANTS else 1
                entries = index_entries(w, indexes)
                m.extra.update({"statements": w.statements, "writing": f"{w.writing} of {w.statements}", "records": w.records,
                                "per_record": round(w.records / logical, 2), "index_entries": entries,
                                "written": w.describe(), "logical_records": logical, "undone": explanation.undone})
                if w.unknown:
                    m.extra["not_counted"] = w.unknown
                results[(name, q)] = (m, w, entries)
                rows.append(m.row())
        for name, why in skipped.items():
            notes.append(f"{name} skipped: {why}")
        notes.append("index entries: counted for inserts into SQL tables and MongoDB collections, from the indexes "
                     "their design declares (primary key and _id included); not for updates (they change only the "
                     "entries of the fields they change), nor for Neo4j, DynamoDB or Cassandra, whose explanations do "
                     "not show them (DynamoDB's write units, where the engine reports them, are in the cost column)")
        if not results:
            return DemoResult(self.name, self.question, COLUMNS, [], "No backend answered: nothing was measured.",
                              notes=notes, data={"skipped": skipped})
        takeaway = _takeaway(results, skipped, emulated)
        plot = _plot(ctx, results, emulated)
        out = {"data": notes[0], "skipped": skipped, "emulators": emulated,
               "load_average": {"start": loads, "end": load_average()}}
        return DemoResult(self.name, self.question, COLUMNS, rows, takeaway, plots=[plot] if plot else [],
                          notes=notes, data=out)


def _drawer(source: SampleSource, q: Q, seed: int) -> Any:
    """Parameters of write number i (fresh ids from its op index; the same i, the same write)."""
    import random

    def params(i: int) -> dict[str, Any]:
        return CATALOG[q].sample(source, random.Random(f"{seed}-{q}-{i}"), i)

    return params


def _takeaway(results: dict[tuple[str, Q], tuple[Measured, Written, int | None]], skipped: dict[str, str],
              emulated: list[str]) -> str:
    parts = []
    for q in WRITES:
        got = [(n, r) for (n, qq), r in results.items() if qq is q]
        if not got:
            continue
        logical = got[0][1][0].extra["logical_records"]
        what = "one diagnosis" if q is Q.ADD_DIAGNOSIS else f"a batch of {logical} variant calls"
        per = sorted(got, key=lambda x: x[1][1].records)
        descr = []
        for n, (m, w, entries) in per:
            text = (f"{n} {fmt_count(w.records)} record{'s' if w.records != 1 else ''} ({w.describe() or 'none'}) in "
                    f"{w.writing} writing statement{'s' if w.writing != 1 else ''} of {w.statements}")
            if entries is not None:
                text += f", {fmt_count(entries)} index entries" + (
                    " as the design declares its indexes (the emulator keeps only _id's)" if n in emulated else "")
            units = {k: v for k, v in m.cost.items() if k.endswith("_per_write")}
            if units:
                text += ", " + ", ".join(f"{v:g} {k.removesuffix('_per_write')} per write" for k, v in units.items())
            descr.append(text)
        low, high = per[0][1][1].records / logical, per[-1][1][1].records / logical
        spread = (f"from {low:g} to {high:g} records per {('diagnosis' if q is Q.ADD_DIAGNOSIS else 'variant')}"
                  if high != low else f"{low:g} record per logical record on every backend measured")
        fastest = min(got, key=lambda x: x[1][0].p50_us)
        slowest = max(got, key=lambda x: x[1][0].p50_us)
        timing = ""
        if fastest[0] != slowest[0]:
            on_emulator = [n for n, _ in got if n in emulated]
            timing = (f" The fastest p50 was {fastest[0]}'s ({human_us(fastest[1][0].p50_us)}), the slowest "
                      f"{slowest[0]}'s ({human_us(slowest[1][0].p50_us)}): "
                      f"{compared(slowest[0], fastest[0], slowest[1][0].versus(fastest[1][0]))}"
                      + (f"; {', '.join(on_emulator)} ran on an emulator, whose times are not the real engine's"
                         if on_emulator else "") + ".")
        parts.append(f"{q.value} ({what}) wrote {spread}: " + "; ".join(descr) + "." + timing)
    if skipped:
        parts.append(f"Not measured: {', '.join(skipped)} (see the notes).")
    return " ".join(parts)


def _plot(ctx: Context, results: dict[tuple[str, Q], tuple[Measured, Written, int | None]],
          emulated: list[str]) -> str | None:
    from bench.report import _log_axis, _pyplot, fmt_tick_us

    plt = _pyplot()
    names = list(dict.fromkeys(n for n, _ in results))
    fig, axes = plt.subplots(1, 3, figsize=(max(11.0, 1.9 * len(names) + 5), 3.9))
    width = 0.4
    for j, q in enumerate(WRITES):
        here = [n for n in names if (n, q) in results]
        xs = [names.index(n) + (j - 0.5) * width for n in here]
        got = [results[(n, q)] for n in here]
        logical = [m.extra["logical_records"] for m, _, _ in got]
        colour = f"C{j}"
        axes[0].bar(xs, [w.records / k for (_, w, _), k in zip(got, logical, strict=True)], width=width * 0.95,
                    color=colour, label=q.value)
        known = [(x, e / k) for x, (_, _, e), k in zip(xs, got, logical, strict=True) if e is not None]
        axes[1].bar([x for x, _ in known], [v for _, v in known], width=width * 0.95, color=colour, label=q.value)
        bars = axes[2].bar(xs, [m.p50_us for m, _, _ in got], width=width * 0.95, color=colour, label=q.value,
                           yerr=[[max(0.0, m.p50_us - m.p50_lo_us) for m, _, _ in got],
                                 [max(0.0, m.p50_hi_us - m.p50_us) for m, _, _ in got]], capsize=2)
        for bar, n in zip(bars, here, strict=True):
            if n in emulated:
                bar.set_hatch("//")
    titles = ("records written per logical record", "index entries per logical record (inserts, where known)",
              "p50 of one write, 95% interval (hatched: emulator)")
    for ax, title in zip(axes, titles, strict=True):
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7, frameon=False)
    axes[2].set_yscale("log")
    _log_axis(axes[2].yaxis, fmt_tick_us)
    fig.suptitle("write amplification: what one logical write costs", fontsize=10)
    return save(ctx, fig, "writes")


DEMO = WriteAmplification
