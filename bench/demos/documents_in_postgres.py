"""`mmbench demo documents-in-postgres`: documents in a relational engine, a document engine, or
rows and joins?

`postgres` (normalised tables: patients and diagnoses joined), `postgres:jsonb` (each patient
one JSONB document with its diagnoses embedded, GIN and expression indexes: the document
model on a relational engine) and `mongodb` (the embedded document design) answer the same
questions on the same data: `patient_by_id`, `patients_with_diagnosis` and `diagnosis_counts`.

The demo runs with whichever of the three are registered and answer, and says which were
missing (`postgres:jsonb` arrives with its own change). The local MongoDB is an emulator:
where its numbers appear the takeaway says they are the emulator's, not MongoDB's.
"""

from __future__ import annotations

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

ROWS, JSONB, MONGO = "postgres", "postgres:jsonb", "mongodb"
LABELS = {ROWS: "postgres (rows and joins)", JSONB: "postgres:jsonb (JSONB documents)", MONGO: "mongodb (documents)"}
COLUMNS = ["question", "backend", "p50_us", "p99_us", "examined", "returned", "round_trips", "cost", "plan"]
DRAWS = 50


class DocumentsInPostgres(Demo):
    name: ClassVar[str] = "documents-in-postgres"
    question: ClassVar[str] = ("Documents on a relational engine? PostgreSQL rows and joins vs PostgreSQL JSONB "
                               "documents vs MongoDB documents")
    backends: ClassVar[tuple[str, ...]] = (ROWS, JSONB, MONGO)
    default_scale: ClassVar[int] = 1

    def run(self, ctx: Context) -> DemoResult:
        no_choice(ctx, self.backends)
        scale = ctx.scale or self.default_scale
        data = Only(SyntheticDataset(scale=scale, seed=ctx.seed), ("patients", "diagnoses"), "patients-diagnoses")
        loads = load_average()
        notes: list[str] = [f"data: synthetic scale {scale} (seed {ctx.seed}), its patients and diagnoses only"]
        opened = {}
        missing = {}
        for name in self.backends:
            backend, why = try_open(ctx, name)
            if backend is None:
                missing[name] = why or "did not answer"
                notes.append(f"{name} skipped: {why}")
                continue
            notes.append(ensure_loaded(ctx, backend, data))
            notes.extend(emulator_notes(ctx, backend))
            opened[name] = backend
        if len(opened) < 2:
            return DemoResult(self.name, self.question, COLUMNS, [],
                              f"At least two of {', '.join(self.backends)} are needed to compare; "
                              + (f"only {', '.join(opened)} answered" if opened else "none answered")
                              + ", so nothing was compared.",
                              notes=notes, data={"missing": missing})
        questions = [Question("patient_by_id", Q.PATIENT_BY_ID, draw(data, Q.PATIENT_BY_ID, DRAWS, ctx.seed)),
                     Question("patients_with_diagnosis", Q.PATIENTS_WITH_DIAGNOSIS,
                              draw(data, Q.PATIENTS_WITH_DIAGNOSIS, DRAWS, ctx.seed)),
                     Question("diagnosis_counts", Q.DIAGNOSIS_COUNTS, [{"min_age": None}])]
        measured = compare_on(ctx, opened, questions, explain_n=3)
        names = [n for n in self.backends if n in opened]
        rows = [measured[(n, q.label)].row() for q in questions for n in names]
        emulated = {n: b.engine_info().emulator for n, b in opened.items()}
        takeaway = _takeaway(questions, names, measured, missing, emulated,
                             opened[MONGO].engine_info() if MONGO in opened else None)
        plot = bars(ctx, f"documents in PostgreSQL? (synthetic scale {scale})", questions, names, measured, LABELS)
        out = {"scale": scale, "seed": ctx.seed, "backends": names, "missing": missing, "emulator": emulated,
               "load_average": {"start": loads, "end": load_average()}}
        return DemoResult(self.name, self.question, COLUMNS, rows, takeaway, plots=[plot] if plot else [],
                          notes=notes, data=out)


def _takeaway(questions: list[Question], names: list[str], measured: dict[tuple[str, str], Measured],
              missing: dict[str, str], emulated: dict[str, bool], mongo: Any) -> str:
    parts = []
    if missing:
        parts.append("Not compared: " + "; ".join(v if v.startswith(k) else f"{k} ({v})" for k, v in missing.items())
                     + ".")
    pairs = [(a, b) for a, b in ((JSONB, ROWS), (MONGO, JSONB), (MONGO, ROWS)) if a in names and b in names]
    if JSONB in names and MONGO in names:
        pairs.remove((MONGO, ROWS))  # documents against documents is the question once both are there
    for q in questions:
        said = []
        for a, b in pairs:
            ma, mb = measured[(a, q.label)], measured[(b, q.label)]
            s = f"{compared(a, b, ma.versus(mb))} ({human_us(ma.p50_us)} vs {human_us(mb.p50_us)})"
            if ma.examined is not None and mb.examined is not None:
                s += f", examining {fmt_count(ma.examined)} vs {fmt_count(mb.examined)} records"
            said.append(s)
        parts.append(f"For {q.label}, " + "; ".join(said) + ".")
    if MONGO in names and emulated.get(MONGO) and mongo is not None:
        parts.append(f"The mongodb figures are those of {mongo.product} {mongo.version}, an emulator: they say "
                     "nothing about MongoDB itself (see the notes for what it does differently); PostgreSQL is the "
                     "real engine.")
    return " ".join(parts)


DEMO = DocumentsInPostgres
