"""Every query has a spec, a reference and a method with the same parameters on every backend;
every backend implements the whole interface (explain, holdings and the load protocol too)."""

from __future__ import annotations

import inspect

import pytest

from backends import REGISTRY, backend_class
from backends.base import Backend, Tier
from models.catalog import CATALOG, Q
from models.reference import Reference


def _keyword_params(func: object) -> list[str]:
    return [p.name for p in inspect.signature(func).parameters.values() if p.kind is p.KEYWORD_ONLY]  # type: ignore[arg-type]


def test_every_query_has_a_spec() -> None:
    assert set(CATALOG) == set(Q)
    for spec in CATALOG.values():
        assert spec.is_write == (spec.observe is not None), f"{spec.name}: writes (only) say how to observe them"


@pytest.mark.parametrize("query", list(Q))
def test_reference_answers_every_query(query: Q) -> None:
    assert _keyword_params(getattr(Reference, query)) == [p.name for p in CATALOG[query].params]


@pytest.mark.parametrize("name", list(REGISTRY))
def test_backend_implements_every_query(name: str) -> None:
    cls = backend_class(name)
    assert issubclass(cls, Backend)
    assert cls.name == name and cls.model == REGISTRY[name].model
    assert not getattr(cls, "__abstractmethods__", None), f"{name} leaves abstract: {cls.__abstractmethods__}"
    for query in Q:
        assert _keyword_params(getattr(cls, query)) == [p.name for p in CATALOG[query].params], query
    assert set(cls.tiers) <= set(Q) and set(cls.tiers.values()) <= set(Tier)
