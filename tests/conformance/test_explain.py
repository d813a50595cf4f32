"""`explain()` on every backend and query: the statements sent, a plan, and work counts that
agree with the reference answer; writes explained leave the data as it was."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from backends import REGISTRY
from backends.base import Backend, Explanation, Tier, answer_size, run_query
from models.catalog import CATALOG, READS, WRITES, Order, Q
from models.reference import Reference
from models.seed import seed_dataset
from tests.helpers import draws, fresh_backend

LANGUAGE = {"sql": "sql", "kv": "dynamodb", "document": "mongo", "column": "cql", "graph": "cypher"}


@pytest.fixture(scope="module")
def seeded(backend_name: str) -> Iterator[Backend]:
    backend = fresh_backend(backend_name, seed_dataset())
    yield backend
    backend.close()


def _check_shape(backend: Backend, query: Q, e: Explanation) -> None:
    assert isinstance(e, Explanation)
    assert (e.backend, e.query) == (backend.name, query.value)
    assert e.tier == backend.tier(query).value
    assert e.statements, "no statement recorded"
    for s in e.statements:
        assert s.language == LANGUAGE[REGISTRY[backend.name].model]
        assert isinstance(s.text, str) and s.text.strip()
    for name in ("returned", "examined", "round_trips"):
        if getattr(e.work, name) is None:
            assert e.work.reasons.get(name), f"work.{name} is null without a reason"
    if e.plan is None:
        assert e.notes, "no plan and no note saying why"
    json.dumps(e.to_dict(), default=str)  # it goes into a results file


@pytest.mark.parametrize("query", READS)
def test_explain_counts_agree_with_the_reference(seeded: Backend, query: Q) -> None:
    data = seed_dataset()
    reference = Reference(data)
    for params in draws(query, data, n=2):
        e = seeded.explain(query, params)
        _check_shape(seeded, query, e)
        assert e.work.answer == answer_size(run_query(reference, query, params)), params
        native_list = CATALOG[query].order is not Order.ONE and seeded.tier(query) is Tier.NATIVE
        if native_list and e.work.returned is not None:
            assert e.work.returned >= e.work.answer
        if e.work.round_trips is not None:
            assert e.work.round_trips >= 1


@pytest.mark.parametrize("query", WRITES)
def test_explaining_a_write_leaves_the_data_as_it_was(seeded: Backend, query: Q) -> None:
    data = seed_dataset()
    (params,) = draws(query, data, n=1, seed=99)
    watch = CATALOG[query].observers(params)
    before = [CATALOG[q].canonical(run_query(seeded, q, p)) for q, p in watch]
    e = seeded.explain(query, params)
    _check_shape(seeded, query, e)
    assert e.work.answer == 0
    assert e.undone, "a write's explanation says how it was undone"
    assert [CATALOG[q].canonical(run_query(seeded, q, p)) for q, p in watch] == before


def test_explain_takes_query_names_as_text(seeded: Backend) -> None:
    params: dict[str, Any] = {"variant_id": "3"}
    assert seeded.explain("variant_by_id", params).work.answer == 1
