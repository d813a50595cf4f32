"""Each trade-off demo runs against the real engines (small scale, few operations) and its
result has the table, a plot and a takeaway; the counts it reports are the engines' own.

The demos run in this session's data namespace (`<test namespace>_<demo>`), never in the ones
`mmbench demo` and the lecture notebooks use. A demo whose engines do not answer still returns
a result that says so; these tests need the local engines (`make test` starts them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from backends import REGISTRY, open_backend
from backends.sql import indexes
from bench.demos import DEMOS, common, index
from bench.demos.base import DemoResult
from bench.demos.common import prefixed_namespace, run_demo
from tests.helpers import TEST_NAMESPACE, other_namespace

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture()
def quick(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """Few operations and a small time budget: the demos' logic, not their precision."""
    monkeypatch.setattr(common, "BUDGET_S", 0.3)
    return {"ops": 5, "out_dir": tmp_path, "prefix": TEST_NAMESPACE}


def as_json(result: DemoResult) -> dict[str, Any]:
    doc = json.loads(result.to_json())
    assert doc["rows"], doc["notes"]
    for row in doc["rows"]:
        for column in ("label", "backend", "p50_us", "p99_us", "examined", "returned", "cost"):
            assert column in row, column
        assert row["p50_us"] > 0 and row["p99_us"] >= row["p50_us"]
    assert set(doc["columns"]) <= set(doc["rows"][0]) | {"label"}
    assert doc["takeaway"].strip()
    assert doc["plots"], "a demo writes a plot"
    for plot in doc["plots"]:
        assert Path(plot).read_bytes()[:8] == PNG
    return doc


def rows_of(doc: dict[str, Any], **match: Any) -> list[dict[str, Any]]:
    return [r for r in doc["rows"] if all(r.get(k) == v for k, v in match.items())]


def test_index_plans_name_the_index_then_a_scan_and_the_indexes_come_back(quick: dict[str, Any],
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index, "SELECTIVITIES", (0.001, 0.9))
    doc = as_json(run_demo("index", scale=1, **quick))
    plans = doc["data"]["plans"]
    assert set(plans) == {"sqlite", "postgres"}
    for engine, scan in (("sqlite", "SCAN variants"), ("postgres", "Seq Scan on variants")):
        few = plans[engine]["variants_min_depth"][0]
        assert few["share"] < 0.01
        assert "ix_variants_depth" in few["with index"], few
        assert scan in few["without index"] and "ix_variants_depth" not in few["without index"], few
        assert "ix_patients_age" in plans[engine]["patients_older_than"][0]["with index"]
        assert set(doc["data"]["crossover"][engine]) == {"variants_min_depth", "patients_older_than"}
    # with few rows selected the index reads what it returns; the scan reads the whole table
    for engine in ("sqlite", "postgres"):
        with_ix, without = (rows_of(doc, backend=engine, query="variants_min_depth", label=label)[0]
                            for label in ("with index", "without index"))
        assert with_ix["examined"] == with_ix["returned"] > 0
        assert without["examined"] == doc["data"]["table_rows"]["variants"]
    assert "SQLite, variants_min_depth" in doc["takeaway"] and "PostgreSQL, patients_older_than" in doc["takeaway"]
    with other_namespace(prefixed_namespace("index", TEST_NAMESPACE)):
        for name in ("sqlite", "postgres"):
            backend = open_backend(name)
            try:
                assert {"ix_variants_depth"} <= indexes.present(backend, "variants")  # type: ignore[arg-type]
                assert {"ix_patients_age"} <= indexes.present(backend, "patients")  # type: ignore[arg-type]
            finally:
                backend.close()


def test_embed_vs_reference_shows_the_lookup_and_keeps_to_the_emulator(quick: dict[str, Any]) -> None:
    doc = as_json(run_demo("embed-vs-reference", scale=1, **quick))
    assert {r["backend"] for r in doc["rows"]} == {"mongodb", "mongodb:referenced"}
    assert {r["question"] for r in doc["rows"]} == {"patient_by_id", "diagnosis_counts", "diagnosis_counts min_age=50"}
    referenced = rows_of(doc, backend="mongodb:referenced", question="patient_by_id")[0]
    assert "$lookup" in referenced["commands"] and "$unwind" in referenced["commands"]
    assert "find patients" in rows_of(doc, backend="mongodb", question="patient_by_id")[0]["commands"]
    for row in rows_of(doc, question="diagnosis_counts"):
        assert row["returned"] > 0
    if doc["data"]["emulator"]["mongodb"]:
        assert "emulator" in doc["takeaway"] and "say nothing about how MongoDB itself" in doc["takeaway"]
        assert any("what it does differently" in n for n in doc["notes"])
        assert doc["data"]["differences"]


def test_join_vs_traversal_counts_work_and_fits_growth(quick: dict[str, Any]) -> None:
    doc = as_json(run_demo("join-vs-traversal", scale=2, **quick))
    assert doc["data"]["scales"] == [1, 2]
    assert len(doc["rows"]) == 2 * 2 * 2
    for name in ("postgres", "neo4j"):
        for query in ("patients_sharing_diagnoses", "comorbid_codes"):
            fit = doc["data"]["fits"][name][query]["examined"]
            assert fit is not None and fit["points"] == 2
            small, large = (rows_of(doc, backend=name, question=query, scale=s)[0]["examined"] for s in (1, 2))
            assert 0 < small < large  # the same questions over twice the data touch more of it
    assert "db hits" in doc["takeaway"] and "rows examined" in doc["takeaway"]


def test_write_amplification_counts_what_each_design_writes(quick: dict[str, Any]) -> None:
    doc = as_json(run_demo("write-amplification", **quick))
    measured = {r["backend"] for r in doc["rows"]}
    skipped = set(doc["data"]["skipped"])
    assert {"sqlite", "postgres"} <= measured
    assert set(REGISTRY) <= measured | skipped  # every backend is measured or said to be skipped
    for name in ("sqlite", "postgres"):
        one = rows_of(doc, backend=name, write="add_diagnosis")[0]
        assert (one["records"], one["writing"], one["index_entries"]) == (1, "1 of 1", 3)  # PK + 2 indexes
        assert one["written"] == "diagnoses +1"
        batch = rows_of(doc, backend=name, write="add_variants")[0]
        assert (batch["records"], batch["logical_records"], batch["index_entries"]) == (10, 10, 40)
    if "mongodb" in measured:
        row = rows_of(doc, backend="mongodb", write="add_diagnosis")[0]
        assert row["records"] == 1 and row["written"] == "patients 1 rewritten"
        assert row["index_entries"] is None  # an update: the entries it changes are not counted
    if "mongodb:referenced" in measured:
        row = rows_of(doc, backend="mongodb:referenced", write="add_diagnosis")[0]
        assert row["statements"] == 2 and row["writing"] == "1 of 2" and row["written"] == "diagnoses +1"
    if "neo4j" in measured:
        row = rows_of(doc, backend="neo4j", write="add_variants")[0]
        assert row["per_record"] == 2.0 and set(row["written"].split(", ")) == {"Variant +10", "[CARRIES] +10"}
    for row in doc["rows"]:
        assert row["undone"], "the explained write was undone"
    assert "add_diagnosis" in doc["takeaway"] and "add_variants" in doc["takeaway"]


def test_documents_in_postgres_runs_with_what_is_there(quick: dict[str, Any]) -> None:
    doc = as_json(run_demo("documents-in-postgres", scale=1, **quick))
    measured = {r["backend"] for r in doc["rows"]}
    assert {"postgres", "mongodb"} <= measured
    assert {r["question"] for r in doc["rows"]} == {"patient_by_id", "patients_with_diagnosis", "diagnosis_counts"}
    for row in rows_of(doc, backend="postgres"):
        assert row["examined"] is not None and row["examined"] >= row["returned"]
    if "postgres:jsonb" not in REGISTRY:
        assert "postgres:jsonb" in doc["data"]["missing"]
        assert doc["takeaway"].startswith("Not compared: postgres:jsonb")
    else:
        assert "postgres:jsonb" in measured or "postgres:jsonb" in doc["data"]["missing"]


# ---------------------------------------------------------------- the command


def mmbench(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], env=env, text=True, capture_output=True,
                          timeout=600, check=False)


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, str]:
    """The command on a SQLite file of its own (the demo's namespace is then a file in tmp_path)."""
    return {**os.environ, "MMBENCH_SQLITE_URL": f"sqlite:///{tmp_path / 'demo.db'}", "COLUMNS": "200"}


def test_demo_list_names_every_demo(env: dict[str, str]) -> None:
    done = mmbench(env, "demo", "--list")
    assert done.returncode == 0, done.stderr
    for name in DEMOS:
        assert name in done.stdout
    assert set(DEMOS) >= {"index", "embed-vs-reference", "join-vs-traversal", "write-amplification",
                          "documents-in-postgres"}


def test_demo_json_on_one_backend(env: dict[str, str], tmp_path: Path) -> None:
    done = mmbench(env, "demo", "write-amplification", "--backend", "sqlite", "--json", "--out", str(tmp_path / "o"))
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert {r["backend"] for r in doc["rows"]} == {"sqlite"}
    assert doc["takeaway"] and Path(doc["plots"][0]).is_file()
    assert (tmp_path / "o" / "write-amplification.json").is_file()


@pytest.mark.parametrize(("args", "says"), [
    (("demo", "no-such-demo"), "unknown demo"),
    (("demo", "embed-vs-reference", "--backend", "sqlite"), "takes no --backend"),
    (("demo", "index", "--backend", "neo4j"), "runs on sqlite, postgres"),
])
def test_demo_usage_errors_are_one_line(env: dict[str, str], args: tuple[str, ...], says: str) -> None:
    done = mmbench(env, *args)
    assert done.returncode == 2, done.stderr
    assert says in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
