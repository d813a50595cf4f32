"""The results document (credentials scrubbed, schema checked) and what reads it: terminal
table, HTML report, comparison. Built from hand-made documents, no engine needed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from rich.console import Console

from bench.compare import compare_runs, compare_table
from bench.report import fmt_us, html_report, terminal_tables
from bench.results import SCHEMA, ResultsDoc, load_results, scrub
from bench.stats import Latencies
from models.errors import UsageError


@pytest.mark.parametrize(("text", "clean"), [
    ("postgresql+psycopg://bob:s3cret@db:5432/x", "postgresql+psycopg://***@db:5432/x"),
    ("mongodb://u:p%40ss@h1,h2/?authSource=admin", "mongodb://***@h1,h2/?authSource=admin"),
    ("failed: postgresql://u:p@ss@word@127.0.0.1:1/db down", "failed: postgresql://***@127.0.0.1:1/db down"),
    ("bolt://127.0.0.1:7687", "bolt://127.0.0.1:7687"),
    ("connect failed: password=hunter2 host=x", "connect failed: password=*** host=x"),
    ("AWS_SECRET_ACCESS_KEY: 'abc/def'", "AWS_SECRET_ACCESS_KEY: '***'"),
])
def test_scrub_masks_credentials(text: str, clean: str) -> None:
    assert scrub({"a": [text]}) == {"a": [clean]}


def entry(backend: str, phase: str, p50_ns: int, **extra) -> dict:
    lat = Latencies.from_ns([p50_ns] * 9 + [p50_ns * 10])
    return {"backend": backend, "dataset": "seed", "phase": phase, "kind": "query", "queries": [phase],
            "tier": extra.pop("tier", "native"), "status": extra.pop("status", "ok"), "error": extra.pop("error", None),
            "verified": None, "verify_error": None, "ops": lat.count, "errors": 0, "elapsed_s": 0.01,
            "ops_per_s": 1000.0, "latency": lat.summary(), "histogram": lat.encode(), **extra}


def document(tmp_path: Path, scale: float = 1.0) -> dict:
    doc = ResultsDoc({"ops": 10})
    doc.data["datasets"]["seed"] = {"name": "seed", "scale": None, "seed": None,
                                    "rows": {"patients": 12, "diagnoses": 21, "lab_results": 22, "variants": 10}}
    kinds = {k: {"rows": 10, "produce_s": 0.0, "write_s": 0.01 / (i + 1), "index_s": 0.0,
                 "rows_per_s": 1000.0 * (i + 1), "insert_rows_per_s": 1000.0 * (i + 1)}
             for i, k in enumerate(("patients", "diagnoses", "lab_results", "variants"))}
    for name, emulator in (("sqlite", False), ("dynamodb", True)):
        b = doc.backend(name)
        b.update(model="x", engine={"product": name, "version": "1", "emulator": emulator,
                                    "address": "http://key:pw@127.0.0.1:8000"}, driver="d 1")
        b["loads"]["seed"] = {"status": "ok", "backend_s": 0.1, "total_rows": 40, "kinds": kinds}
    doc.backend("neo4j").update(status="unavailable", error="neo4j: cannot reach Neo4j at bolt://127.0.0.1:7687")
    doc.results.extend([
        entry("sqlite", "variant_by_id", int(50_000 * scale)), entry("dynamodb", "variant_by_id", 2_000_000),
        entry("sqlite", "diagnosis_counts", 100_000), entry("dynamodb", "diagnosis_counts", 9_000_000, tier="client"),
        entry("sqlite", "add_patient", 300_000),
        {**entry("dynamodb", "add_patient", 1), "status": "failed", "error": "ConnectionError: gone", "ops": 0,
         "latency": None, "histogram": None},
    ])
    doc.finish()
    return load_results(doc.write(tmp_path))


def test_document_is_versioned_written_atomically_and_scrubbed(tmp_path: Path) -> None:
    doc = document(tmp_path)
    assert doc["schema"] == SCHEMA and doc["status"] == "failures"  # one phase failed
    assert "pw@" not in Path(doc["_path"]).read_text()
    assert not list(tmp_path.glob("*.tmp"))


def test_load_results_refuses_other_files(tmp_path: Path) -> None:
    for text, problem in (("{", "not a JSON results file"), ('{"schema": "mmbench.results/7"}', "not supported"),
                          ("[1]", "not an mmbench results file")):
        path = tmp_path / "r.json"
        path.write_text(text)
        with pytest.raises(UsageError, match=problem):
            load_results(path)


def test_terminal_table_marks_fastest_multiples_emulators_and_client_tier(tmp_path: Path) -> None:
    (table,) = terminal_tables([document(tmp_path)])
    console = Console(width=200, record=True)
    console.print(table)
    text = console.export_text()
    assert "(emulator)" in text and "[client]" in text and "failed" in text
    assert re.search(r"variant_by_id\s+│\s+2\.00 ms 40×\s+│\s+50\.0 µs 1\.0×", text)  # models in order
    assert "neo4j" not in text  # unavailable: not a column


def test_html_report_is_self_contained_and_marks_emulators(tmp_path: Path) -> None:
    page = html_report([document(tmp_path)], tmp_path / "r.html").read_text()
    assert page.count("data:image/png;base64,") == 2 + 3  # heat map, load, three queries
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    assert "dynamodb (emulator)" in page and "[client]" in page and "ConnectionError: gone" in page
    assert "neo4j: cannot reach Neo4j" in page


def test_compare_gives_ratios_with_intervals_of_the_same_backend_and_query(tmp_path: Path) -> None:
    a, b = document(tmp_path), document(tmp_path, scale=2.0)
    rows, notes = compare_runs(a, b)
    console = Console(width=250, record=True)
    console.print(compare_table(a, b, rows))
    text = console.export_text()
    row = lambda *cells: re.search(r"[\s│]+".join(map(re.escape, cells)), text)  # noqa: E731
    assert row("seed", "sqlite", "variant_by_id", "50.0 µs", "100 µs", "×2.00")
    assert row("seed", "dynamodb", "add_patient", "failed", "failed", "-")
    sqlite = next(r for r in rows if (r["backend"], r["phase"]) == ("sqlite", "variant_by_id"))
    assert sqlite["p50"]["verdict"] == "slower" and sqlite["p50"]["lo"] > 1  # every latency doubled
    same = next(r for r in rows if (r["backend"], r["phase"]) == ("dynamodb", "variant_by_id"))
    assert same["p50"]["verdict"] == "≈" and same["p50"]["value"] == 1.0
    assert notes == []  # same settings, machine and engines


@pytest.mark.parametrize(("us", "text"), [(0.5, "0.5 µs"), (53.46, "53.5 µs"), (420, "420 µs"), (4200, "4.20 ms"),
                                          (42_000, "42.0 ms"), (420_000, "420 ms"), (4_200_000, "4.20 s")])
def test_latency_format(us: float, text: str) -> None:
    assert fmt_us(us) == text


def test_the_document_is_plain_json(tmp_path: Path) -> None:
    doc = document(tmp_path)
    json.dumps({k: v for k, v in doc.items() if k != "_path"})
