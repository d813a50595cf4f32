"""The DynamoDB and Cassandra trade-off demos against the real local engines, at small sizes:
`scan-vs-query`, `types-on-import`, `single-vs-multi-table`, `query-first`, and the DynamoDB half of
`staleness` (ConsistentRead), with the consistent-read setting of the kv backends it needs.

They run in this session's data namespace (`<test namespace>_<demo>`), with few operations and a
small time budget: what they must show (counts, refusals, wrong rows, equal answers), never how
fast anything was.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from backends import open_backend
from bench.demos import common, types_on_import
from bench.demos.base import Context, DemoResult
from bench.demos.common import prefixed_namespace, run_demo
from bench.demos.staleness import consistent_reads
from models.catalog import Q
from models.errors import UsageError
from tests.helpers import TEST_NAMESPACE, other_namespace

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture()
def quick(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """Few operations and a small time budget: the demos' logic, not their precision."""
    monkeypatch.setattr(common, "BUDGET_S", 0.3)
    return {"ops": 5, "out_dir": tmp_path, "prefix": TEST_NAMESPACE}


def shaped(result: DemoResult) -> dict[str, Any]:
    """The result as `--json` prints it, with the table, a plot and a takeaway; every measured row
    has p50, p99, examined, returned and cost."""
    doc = json.loads(result.to_json())
    assert doc["rows"], doc["notes"]
    for row in doc["rows"]:
        for column in ("backend", "p50_us", "p99_us", "examined", "returned", "cost"):
            assert column in row, (column, row)
        if row["p50_us"] is not None:
            assert row["p50_us"] > 0 and row["p99_us"] >= row["p50_us"]
    assert doc["takeaway"].strip()
    assert doc["plots"] and all(Path(p).read_bytes()[:8] == PNG for p in doc["plots"])
    return doc


def rows_of(doc: dict[str, Any], **match: Any) -> list[dict[str, Any]]:
    return [r for r in doc["rows"] if all(r.get(k) == v for k, v in match.items())]


# ---------------------------------------------------------------- scan-vs-query

def test_scan_reads_the_whole_table_and_reads_by_key_do_not(quick: dict[str, Any]) -> None:
    doc = shaped(run_demo("scan-vs-query", scale=2, **quick))
    assert doc["data"]["scales"] == [1, 2] and doc["data"]["emulator"] is True
    for scale in (1, 2):
        variants = doc["data"]["variants"][str(scale)]
        (scan,) = rows_of(doc, question="Scan, Depth > 50", scale=scale, backend="dynamodb")
        (get,) = rows_of(doc, question="GetItem by key", scale=scale, backend="dynamodb")
        (query,) = rows_of(doc, question="Query by key", scale=scale, backend="dynamodb")
        assert scan["examined"] == scan["table_items"] == variants > scan["returned"] > 0
        assert scan["cost"]["rcu"] > get["cost"]["rcu"] > 0
        assert (get["examined"], get["returned"], get["requests"]) == (1, 1, "GetItem")
        assert query["requests"] == "Query" and 0 < query["examined"] == query["returned"] < 20
        assert scan["examined"] > query["returned"]  # the scan reads more items than the query returns
    fits = doc["data"]["fits"]
    assert fits["Scan, Depth > 50"]["examined"]["k"] == pytest.approx(1.0, abs=0.01)
    assert fits["GetItem by key"]["examined"]["k"] == pytest.approx(0.0, abs=0.01)
    assert "emulator" in doc["takeaway"] and "items read" in doc["takeaway"]
    assert any("what it does differently" in n for n in doc["notes"])
    if doc["data"]["moto"] is not None:  # moto answered: the emulator lesson, labelled
        moto = [r for r in doc["rows"] if "moto" in r["backend"]]
        assert [r["scale"] for r in moto] == [1, 2] and "emulator lesson" in moto[0]["backend"]
        assert "moto" in doc["takeaway"]
    else:
        assert any(n.startswith("moto comparison skipped") for n in doc["notes"])


def test_scan_vs_query_takes_only_a_dynamodb_design() -> None:
    with pytest.raises(UsageError, match="runs on dynamodb, dynamodb:single-table"):
        run_demo("scan-vs-query", backend="cassandra", prefix=TEST_NAMESPACE)


# ---------------------------------------------------------------- types-on-import

def test_the_string_import_gets_rows_wrong_and_the_typed_one_does_not(quick: dict[str, Any]) -> None:
    doc = shaped(run_demo("types-on-import", **quick))
    wrong = doc["data"]["wrong"]
    assert [r["ID"] for r in wrong["included_wrongly"]] == ["11", "12", "13"]          # "6", "8", "9" > "50"
    assert [r["ID"] for r in wrong["excluded_wrongly"]] == ["15", "16", "17", "18"]    # "100" ... "1000" < "50"
    assert all(isinstance(r["Depth"], str) for r in wrong["included_wrongly"] + wrong["excluded_wrongly"])
    assert doc["data"]["right_answer"]["ids"] == ["3", "4", "7", "9", "15", "16", "17", "18", "19", "20"]
    assert doc["data"]["attribute_types"]["strings"]["Depth"] == "S"
    assert doc["data"]["attribute_types"]["typed"]["Depth"] == "N"
    as_text, as_number, typed = doc["rows"]
    assert (as_text["wrong_in"], as_text["wrong_out"], as_text["returned"]) == (3, 4, 9)
    assert as_number["returned"] == 0  # a number never matches a string
    assert (typed["wrong_in"], typed["wrong_out"], typed["returned"]) == (0, 0, 10)
    assert {r["examined"] for r in doc["rows"]} == {len(types_on_import.ROWS)}
    assert doc["data"]["source"].startswith("s3://") or any("local file" in n for n in doc["notes"])
    assert '"6" > "50"' in doc["takeaway"] and '"100" < "50"' in doc["takeaway"]


def test_what_the_right_answer_is() -> None:
    assert types_on_import.right_ids() == {"3", "4", "7", "9", "15", "16", "17", "18", "19", "20"}
    lines = types_on_import.csv_text().splitlines()
    assert lines[0] == "ID,Chromosome,Position,Reference_Allele,Alternate_Allele,Genotype,Quality,Depth"
    assert lines[1:11] == [",".join(map(str, r)) for r in types_on_import.LECTURE]  # the lecture's rows, unchanged


# ---------------------------------------------------------------- single-vs-multi-table

def test_single_vs_multi_table_counts_requests_items_and_units(quick: dict[str, Any]) -> None:
    doc = shaped(run_demo("single-vs-multi-table", scale=1, **quick))
    designs = ("dynamodb", "dynamodb:single-table")
    for name in designs:
        (load,) = rows_of(doc, question="load (patients + diagnoses)", backend=name)
        assert load["rows"] > 0 and load["rows_per_s"] > 0
        (patient,) = rows_of(doc, question="patient_by_id", backend=name)
        assert patient["requests"] == "Query" and patient["examined"] == patient["returned"] > 0
    multi, single = (rows_of(doc, question="diagnosis_counts", backend=n)[0] for n in designs)
    assert multi["requests"] == "Scan" and single["requests"] == "Query ×4"
    assert multi["examined"] == single["examined"] == doc["data"]["loads"]["dynamodb"]["rows"] - 1000  # diagnoses
    multi, single = (rows_of(doc, question="add_diagnosis", backend=n)[0] for n in designs)
    assert multi["requests"] == single["requests"] == "GetItem, PutItem"
    # billed as DynamoDB bills: the table and each GSI the diagnosis lands in (by_code; GSI1 and GSI2)
    assert (multi["cost"]["wcu_billed"], single["cost"]["wcu_billed"]) == (2.0, 3.0)
    assert "add_diagnosis" in doc["takeaway"] and "emulator" in doc["takeaway"]


# ---------------------------------------------------------------- query-first

def test_query_first_shows_the_refusal_then_the_same_answer_at_a_cost(quick: dict[str, Any]) -> None:
    doc = shaped(run_demo("query-first", scale=2, **quick))
    refusal = doc["data"]["refusal"]
    assert "ALLOW FILTERING" not in refusal["statement"] and "WHERE code = ?" in refusal["statement"]
    assert "cannot be restricted" in refusal["message"] or "ALLOW FILTERING" in refusal["message"]
    assert rows_of(doc, label="refused")[0]["answer"].startswith("refused: ")
    assert refusal["message"] in doc["takeaway"]
    assert doc["data"]["answers_equal"] == {"1": True, "2": True}
    for scale in (1, 2):
        (first,) = rows_of(doc, question="query-first table (patients_by_diagnosis)", scale=scale)
        (filtering,) = rows_of(doc, question="ALLOW FILTERING on patients", scale=scale)
        assert first["answer"] == filtering["answer"] == "equal answers"
        assert first["examined"] == first["returned"] == filtering["returned"] > 0
        assert filtering["examined"] > 2 * filtering["returned"]  # the whole table, for a code's patients
        assert "ALLOW FILTERING" in filtering["statement"] and "?" in filtering["statement"]
    (small,), (large,) = (rows_of(doc, question="ALLOW FILTERING on patients", scale=s) for s in (1, 2))
    assert large["examined"] > small["examined"]


# ---------------------------------------------------------------- staleness: ConsistentRead

def test_consistent_reads_bill_twice_the_units_and_never_reach_an_index() -> None:
    from backends.kv.settings import DynamoDBSettings

    ctx = Context("staleness", ops=5)
    ctx.namespace = prefixed_namespace("staleness", TEST_NAMESPACE)
    try:
        found = consistent_reads(ctx)
    finally:
        ctx.close()
    assert found["rows"], found["notes"]
    by = {(r["query"], r["ConsistentRead"]): r for r in found["rows"]}
    for q, reads in (("variant_by_id", 10), ("patient_by_id", 12)):
        eventual, strong = by[(q, False)], by[(q, True)]
        assert eventual["reads"] == strong["reads"] == reads
        assert (eventual["sent with ConsistentRead"], strong["sent with ConsistentRead"]) == (0, reads)
        assert strong["rcu"] == 2 * eventual["rcu"] > 0  # 1 unit per 4 KB against 0.5
    assert "ConsistentRead" in found["takeaway"]
    with other_namespace(ctx.namespace):
        backend = open_backend("dynamodb", DynamoDBSettings.from_env().model_copy(update={"consistent_read": True}))
        try:
            assert backend.engine_info().options["read_consistency"].startswith("strong")
            table = backend.explain(Q.PATIENT_BY_ID, {"patient_id": 12345})
            index = backend.explain(Q.PATIENTS_WITH_DIAGNOSIS, {"code": "I10"})  # a GSI: eventual only
        finally:
            backend.close()
    assert all('"ConsistentRead": true' in s.text for s in table.statements)
    assert index.work.answer and not any("ConsistentRead" in s.text for s in index.statements)
