"""The demos' wording follows their verdicts, and their counting rules, without any engine:
synthetic measurements and explanations."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pytest

from backends.base import Explanation, Statement, Work
from bench.demos import (
    DEMOS,
    base,
    embed_vs_reference,
    index,
    join_vs_traversal,
    write_amplification,
)
from bench.demos.base import Measured, compared
from bench.demos.common import prefixed_namespace, short_plan
from bench.uncertainty import Buckets


def measured(label: str, center_us: float, spread: float = 0.05, n: int = 400, backend: str = "b") -> Measured:
    """A Measured of three rounds of `n` latencies, normal around `center_us` (sd: spread x center),
    each round drifting a little, as on a real machine."""
    rng = np.random.default_rng(int(center_us * 1000) + len(label))
    rounds = []
    for drift in (0.99, 1.0, 1.01):
        values, counts = np.unique(np.maximum(1.0, np.round(rng.normal(center_us * drift, spread * center_us, n))),
                                   return_counts=True)
        rounds.append(Buckets(values, counts.astype(np.int64)))
    return Measured(label, backend, center_us, center_us * (1 - spread), center_us * (1 + spread),
                    center_us * (1 + 2 * spread), 3 * n, _rounds=rounds)


def test_overlapping_latencies_cannot_be_told_apart() -> None:
    a, b = measured("a", 100.0, spread=0.3), measured("b", 101.0, spread=0.3, backend="c")
    r = a.versus(b)
    assert r["lo"] <= 1 <= r["hi"] and r["verdict"] == "≈"
    assert compared("A", "B", r).startswith("this run could not tell A and B apart")


def test_a_clear_difference_is_said_with_its_interval() -> None:
    r = measured("a", 1000.0).versus(measured("b", 100.0, backend="c"))
    assert r["verdict"] == "slower"
    text = compared("A", "B", r)
    assert text.startswith("A was ") and "slower than B" in text and "[" in text


def point(share: float, with_us: float, without_us: float, plan: str, examined: tuple[int, int] = (5, 1000)) -> index.Point:
    w, o = measured("with index", with_us), measured("without index", without_us, backend="c")
    w.plan, o.plan = plan, "SCAN variants"
    w.examined, o.examined = examined
    r = w.versus(o)
    r["index_used"] = index.uses_index(plan, "ix_variants_depth")
    return index.Point(10, int(share * 1000), share, w, o, r)


SEARCH = "SEARCH variants USING INDEX ix_variants_depth (depth>?)"
CASE = index.CASES[0]


def test_index_finding_when_the_run_cannot_tell() -> None:
    series = [point(0.001, 100.0, 101.0, SEARCH), point(0.5, 200.0, 199.0, SEARCH)]
    assert index._crossover(series) == {"index_won": False, "won_up_to": None, "stopped_winning_at": None}
    text = index._finding("sqlite", CASE, series, 1000)
    assert "the index never won in this run" in text and "could not tell" in text


def test_index_finding_names_where_the_index_stopped_winning() -> None:
    series = [point(0.001, 10.0, 100.0, SEARCH), point(0.05, 50.0, 100.0, SEARCH),
              point(0.5, 101.0, 100.0, SEARCH), point(0.9, 300.0, 100.0, SEARCH)]
    assert index._crossover(series) == {"index_won": True, "won_up_to": 0.05, "stopped_winning_at": 0.5}
    text = index._finding("sqlite", CASE, series, 1000)
    assert "the index was 10× [" in text and "examining 5 rows instead of 1,000" in text
    assert "stopped winning at 50% of rows selected" in text and "could not tell" in text
    assert "At 90% the index was 3× [" in text and "slower than the full scan" in text


def test_index_finding_when_the_planner_ignores_the_index() -> None:
    series = [point(0.001, 10.0, 100.0, "Bitmap Heap Scan on variants → Bitmap Index Scan using ix_variants_depth"),
              point(0.5, 80.0, 100.0, "Seq Scan on variants")]
    cross = index._crossover(series)
    assert cross["stopped_winning_at"] == 0.5  # a faster clock through the same plan is not the index winning
    text = index._finding("postgres", CASE, series, 1000)
    assert "no longer used the index" in text and "is not the index's doing" in text


def test_index_thresholds_and_access_paths() -> None:
    values = list(range(1, 1001))
    got = index.thresholds(values, (0.001, 0.5, 0.9))
    assert [(t, n) for t, n, _ in got] == [(999, 1), (500, 500), (100, 900)]
    assert index.thresholds([5] * 10 + [6], (0.001, 0.9)) == [(5, 1, 1 / 11)]  # ties: as close as the data allows
    assert index.access(SEARCH) == "index ix_variants_depth"
    assert index.access("SCAN variants") == "full scan"
    assert index.access("Bitmap Heap Scan on variants → Bitmap Index Scan using ix_variants_depth") == \
        "index ix_variants_depth (bitmap)"
    assert index.access("Seq Scan on variants") == "full scan (Seq Scan)"


def test_growth_wording_is_only_as_sure_as_the_interval() -> None:
    growth = join_vs_traversal.growth
    assert "too wide to classify" in growth({"k": 1.2, "lo": -0.4, "hi": 2.9, "growth": "super-linear"}, "p50")
    assert growth({"k": 1.01, "lo": 0.93, "hi": 1.09, "growth": "linear"}, "p50").endswith("(linear)")
    assert "no interval" in growth({"k": 1.0, "lo": None, "hi": None, "growth": "linear"}, "p50")
    assert join_vs_traversal.grew_apart({"lo": 1.5, "hi": 2.0}, {"lo": 0.8, "hi": 1.2}) == "faster"
    assert join_vs_traversal.grew_apart({"lo": 0.5, "hi": 2.0}, {"lo": 0.8, "hi": 1.2}) is None
    assert join_vs_traversal.scales_up_to(4) == [1, 2, 4]
    assert join_vs_traversal.scales_up_to(5) == [1, 2, 4, 5]
    assert join_vs_traversal.scales_up_to(1) == [1]


class Info:
    product, version = "mongo-java-server", "imitating MongoDB 5.0.0"
    differences = ("It builds no secondary index.", "Every pipeline walks the collection.")


def test_embed_vs_reference_never_generalises_the_emulator() -> None:
    questions = [embed_vs_reference.Question("patient_by_id", embed_vs_reference.Q.PATIENT_BY_ID, [{}])]
    got = {}
    for name, us in (("mongodb", 100.0), ("mongodb:referenced", 400.0)):
        m = measured("patient_by_id", us, backend=name)
        m.explanation = Explanation(name, "patient_by_id", {}, "native", [Statement("mongo", json.dumps(
            {"aggregate": "patients", "pipeline": [{"$match": {}}, {"$lookup": {}}]}))], None, [], Work(answer=1))
        got[(name, "patient_by_id")] = m
    text = embed_vs_reference._takeaway(questions, got, True, Info())
    assert "an emulator" in text and "not MongoDB's" in text and "say nothing about how MongoDB itself" in text
    assert "it builds no secondary index." in text
    assert "aggregate patients: $match → $lookup" in text


def explanation(*statements: Statement, plan: Any = None) -> Explanation:
    return Explanation("b", "add_variants", {}, "native", list(statements), plan, [], Work(answer=0))


def test_writes_are_counted_per_statement_language() -> None:
    count = write_amplification.count_writes
    sql = count(explanation(Statement("sql", "INSERT INTO mmbench_x.variants (a) VALUES (%s)", [{"a": 1}, {"a": 2}])))
    assert (sql.records, sql.writing, sql.targets, sql.inserted) == (2, 1, {"variants": 2}, {"variants": 2})
    mongo = count(explanation(Statement("mongo", json.dumps({"find": "patients", "filter": {}})),
                              Statement("mongo", json.dumps({"update": "patients", "updates": [{}]}))))
    assert (mongo.statements, mongo.writing, mongo.records, mongo.inserted) == (2, 1, 1, {})
    dynamo = count(explanation(
        Statement("dynamodb", "BatchWriteItem " + json.dumps({"RequestItems": {"v": [{"PutRequest": {}}] * 3,
                                                                                "by_region": [{"PutRequest": {}}] * 3}})),
        Statement("dynamodb", "TransactWriteItems " + json.dumps({"TransactItems": [
            {"Put": {"TableName": "p"}}, {"Update": {"TableName": "p"}}, {"ConditionCheck": {"TableName": "p"}}]})),
        Statement("dynamodb", "GetItem " + json.dumps({"TableName": "p"}))))
    assert (dynamo.writing, dynamo.records, dynamo.targets) == (2, 8, {"v": 3, "by_region": 3, "p": 2})
    cql = count(explanation(Statement("cql", "BEGIN BATCH INSERT INTO ks.a (x) VALUES (?); "
                                             "INSERT INTO ks.b (x) VALUES (?); APPLY BATCH", [1, 1])))
    assert (cql.writing, cql.records, cql.targets) == (1, 2, {"a": 1, "b": 1})
    plan = {"operatorType": "ProduceResults@neo4j", "rows": 0, "children": [
        {"operatorType": "Create@neo4j", "rows": 10, "args": {"Details": "(p)-[anon_1:CARRIES_Props_ns_a]->(v)"},
         "children": [{"operatorType": "Create@neo4j", "rows": 10,
                       "args": {"Details": "(v:Variant_ns_a {variant_id: r.variant_id})"}},
                      {"operatorType": "Merge@neo4j", "rows": 1, "dbHits": 0,
                       "args": {"Details": "CREATE (c:Diagnosis_ns_a {code: code})"}}]}]}
    graph = count(explanation(Statement("cypher", "UNWIND $rows AS r CREATE ..."), plan=[plan]))
    assert graph.targets == {"[CARRIES]": 10, "Variant": 10}  # the MERGE found its node: nothing written
    assert graph.writing == 1 and graph.records == 20


def test_index_entries_only_for_inserts_into_known_indexes() -> None:
    w = write_amplification.Written()
    w.add("diagnoses", 1, True)
    assert write_amplification.index_entries(w, {"diagnoses": 3}) == 3
    assert write_amplification.index_entries(w, None) is None
    w.add("patients", 1, False)
    assert write_amplification.index_entries(w, {"diagnoses": 3, "patients": 2}) is None


@pytest.mark.parametrize("demo", list(DEMOS))
def test_every_demo_namespace_is_a_valid_namespace(demo: str) -> None:
    pattern = re.compile(r"[a-z][a-z0-9_]{0,23}")  # backends.base.namespace() accepts these
    assert pattern.fullmatch(base.demo_namespace(demo))
    assert pattern.fullmatch(prefixed_namespace(demo, "test"))
    assert len({base.demo_namespace(d) for d in DEMOS}) == len(DEMOS)


def test_short_plan_keeps_the_operators() -> None:
    assert short_plan(["ProduceResults (rows 1, db hits 0)", "  Expand(All) (c)<--(p) (rows 3, db hits 4)"]) == \
        "ProduceResults → Expand(All)"
    assert short_plan(["Seq Scan on variants"]) == "Seq Scan on variants"
    assert short_plan([]) is None
