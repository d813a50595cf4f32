"""`mmbench demo embed-vs-reference`: diagnoses embedded in the patient document, or in a
collection of their own joined back with the lecture's `$lookup` / `$unwind` / `$group`?

`mongodb` (embedded: a patient is one document with its diagnoses) and `mongodb:referenced`
(patients and diagnoses in their own collections) answer the same questions on the same
data: `patient_by_id` (one `find` on `_id` against a `$match` → `$lookup` → `$unwind` →
`$sort` → `$group` pipeline), and `diagnosis_counts`, without an age limit (the lecture's
Aggregation 1) and over patients older than 50 (its Aggregation 2: a `$lookup` of each
patient's age in the referenced design). The table shows the commands each sent and what
they returned; documents examined come from MongoDB's explain, which the local emulator does
not have.

The local MongoDB is mongo-java-server, an emulator. The demo says so, lists what it does
differently (`EngineInfo.differences`), and its takeaway speaks of the emulator only: its
numbers say how the emulator runs the two designs, never how MongoDB would. Point
`MMBENCH_MONGODB_URL` at a real MongoDB to measure that (the takeaway then drops the caveat
and adds the documents examined).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from bench.demos.base import Context, Demo, DemoResult, Measured, compared, fmt_count
from bench.demos.common import (
    Only,
    Question,
    bars,
    compare_on,
    draw,
    emulator_notes,
    ensure_loaded,
    human_us,
    load_average,
    no_choice,
    try_open,
)
from models.catalog import Q
from models.generate import SyntheticDataset

EMBEDDED, REFERENCED = "mongodb", "mongodb:referenced"
LABELS = {EMBEDDED: "embedded (mongodb)", REFERENCED: "referenced (mongodb:referenced)"}
COLUMNS = ["question", "backend", "p50_us", "p99_us", "examined", "returned", "round_trips", "commands", "cost"]
PATIENTS = 50  # patient ids drawn for patient_by_id


def commands(m: Measured) -> str:
    """The commands one call sent, short: `find patients`, `aggregate diagnoses: $group → $lookup → ...`."""
    out = []
    for s in m.explanation.statements:
        try:
            doc = json.loads(s.text)
        except (TypeError, ValueError):
            out.append(s.text[:60])
            continue
        name = next(iter(doc), "?")
        what = f"{name} {doc.get(name)}"
        if isinstance(doc.get("pipeline"), list):
            what += ": " + " → ".join(next(iter(stage), "?") for stage in doc["pipeline"])
        out.append(what)
    return "; ".join(out)


class EmbedVsReference(Demo):
    name: ClassVar[str] = "embed-vs-reference"
    question: ClassVar[str] = ("Embed the diagnoses in the patient document, or keep them in their own collection and "
                               "join with $lookup? (MongoDB: mongodb vs mongodb:referenced)")
    backends: ClassVar[tuple[str, ...]] = (EMBEDDED, REFERENCED)
    default_scale: ClassVar[int] = 1

    def run(self, ctx: Context) -> DemoResult:
        no_choice(ctx, self.backends)
        scale = ctx.scale or self.default_scale
        data = Only(SyntheticDataset(scale=scale, seed=ctx.seed), ("patients", "diagnoses"), "patients-diagnoses")
        loads = load_average()
        notes: list[str] = [f"data: synthetic scale {scale} (seed {ctx.seed}), its patients and diagnoses only"]
        opened = {}
        for name in self.backends:
            backend, why = try_open(ctx, name)
            if backend is None:
                notes.append(f"{name} skipped: {why}")
                continue
            notes.append(ensure_loaded(ctx, backend, data))
            opened[name] = backend
        if len(opened) < 2:
            return DemoResult(self.name, self.question, COLUMNS, [], "Both designs are needed to compare them; "
                              f"only {', '.join(opened) or 'neither'} answered, so nothing was compared.", notes=notes)
        emulated = {name: b.engine_info().emulator for name, b in opened.items()}
        notes.extend(emulator_notes(ctx, opened[EMBEDDED], (REFERENCED,)))
        questions = [Question("patient_by_id", Q.PATIENT_BY_ID, draw(data, Q.PATIENT_BY_ID, PATIENTS, ctx.seed)),
                     Question("diagnosis_counts", Q.DIAGNOSIS_COUNTS, [{"min_age": None}]),
                     Question("diagnosis_counts min_age=50", Q.DIAGNOSIS_COUNTS, [{"min_age": 50}])]
        measured = compare_on(ctx, opened, questions)
        rows = []
        for q in questions:
            for name in self.backends:
                m = measured[(name, q.label)]
                row = m.row()
                row["commands"] = commands(m)
                rows.append(row)
        takeaway = _takeaway(questions, measured, any(emulated.values()), opened[EMBEDDED].engine_info())
        plot = bars(ctx, f"embedded vs referenced diagnoses (synthetic scale {scale}"
                    + (", MongoDB emulator)" if any(emulated.values()) else ")"), questions, list(self.backends),
                    measured, LABELS)
        out = {"scale": scale, "seed": ctx.seed, "emulator": emulated,
               "differences": list(opened[EMBEDDED].engine_info().differences),
               "statements": {f"{name} {q.label}": [s.text for s in measured[(name, q.label)].explanation.statements]
                              for q in questions for name in self.backends},
               "ratios": {q.label: measured[(REFERENCED, q.label)].versus(measured[(EMBEDDED, q.label)])
                          for q in questions},
               "load_average": {"start": loads, "end": load_average()}}
        return DemoResult(self.name, self.question, COLUMNS, rows, takeaway, plots=[plot] if plot else [],
                          notes=notes, data=out)


def _takeaway(questions: list[Question], measured: dict[tuple[str, str], Measured], emulator: bool,
              info: Any) -> str:
    parts = [f"Measured on {info.product} {info.version}{', an emulator' if emulator else ''}."]
    for q in questions:
        emb, ref = measured[(EMBEDDED, q.label)], measured[(REFERENCED, q.label)]
        r = ref.versus(emb)
        sentence = (f"For {q.label} (referenced {human_us(ref.p50_us)}, embedded {human_us(emb.p50_us)} p50), "
                    f"{compared('the referenced design', 'the embedded one', r)}; the embedded design sent "
                    f"{commands(emb)}, the referenced one {commands(ref)}")
        if not emulator and emb.examined is not None and ref.examined is not None:
            sentence += (f", and MongoDB examined {fmt_count(emb.examined)} vs {fmt_count(ref.examined)} "
                         "documents and index keys")
        parts.append(sentence + ".")
    if emulator:
        said = " ".join(info.differences[:2])
        said = said[:1].lower() + said[1:]
        parts.append(f"These are the emulator's numbers, not MongoDB's: {said} So they show how this emulator runs "
                     "the two designs and say nothing about how MongoDB itself would compare them; to measure that, "
                     "point MMBENCH_MONGODB_URL at a real MongoDB and run the demo again.")
    return " ".join(parts)


DEMO = EmbedVsReference
