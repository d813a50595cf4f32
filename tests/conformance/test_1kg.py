"""Real data: the variant queries on the 1000 Genomes pilot VCF (the `1kg` data set) on every backend.

629 samples as patients of unknown age and sex, 14,839 genotype calls on chromosome 2,
no diagnoses and no lab results: the variant queries, the patient queries that need no
diagnoses, and variant writes then reads, all compared with the reference.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from backends.base import Backend, run_query
from models.catalog import CATALOG, Q
from models.dataset import MemoryDataset
from models.reference import Reference
from models.sampling import SampleSource
from models.vcf import one_thousand_genomes
from tests.helpers import assert_same, draws
from tests.helpers import fresh_backend

QUERIES = (Q.VARIANT_BY_ID, Q.VARIANTS_BY_CHROMOSOME, Q.VARIANTS_IN_REGION, Q.VARIANTS_MIN_DEPTH,
           Q.VARIANTS_MIN_QUALITY, Q.ALL_VARIANTS, Q.PATIENT_BY_ID, Q.PATIENTS_OLDER_THAN)

FIXED_CASES: list[tuple[Q, dict[str, Any]]] = [
    (Q.PATIENTS_OLDER_THAN, {"age": 0}),     # unknown age (-1) is older than no real age: none
    (Q.PATIENTS_OLDER_THAN, {"age": -2}),    # ... but the sentinel is an int like any other: all 629
    (Q.DIAGNOSIS_COUNTS, {"min_age": None}),  # no diagnoses in a VCF
    (Q.VARIANTS_BY_CHROMOSOME, {"chromosome": "1"}),  # the file is chromosome 2 only
    (Q.VARIANTS_IN_REGION, {"chromosome": "2", "start": 1, "end": 250_000_000}),
    (Q.VARIANTS_MIN_QUALITY, {"min_quality": 59.99}),
    (Q.VARIANTS_MIN_DEPTH, {"min_depth": 0}),
    (Q.PATIENT_BY_ID, {"patient_id": 1_000_001}),  # HG00098, the first sample column
]


@pytest.fixture(scope="module")
def kg() -> MemoryDataset:
    return one_thousand_genomes().materialize()


@pytest.fixture(scope="module")
def kg_loaded(backend_name: str, kg: MemoryDataset) -> Iterator[Backend]:
    backend = fresh_backend(backend_name, kg)
    yield backend
    backend.close()


@pytest.mark.parametrize("query", QUERIES)
def test_read_matches_reference_on_1kg(kg_loaded: Backend, kg: MemoryDataset, query: Q) -> None:
    reference = Reference(kg)
    for params in draws(query, kg):
        assert_same(kg_loaded, reference, query, params)


def test_fixed_cases_on_1kg(kg_loaded: Backend, kg: MemoryDataset) -> None:
    reference = Reference(kg)
    assert len(reference.patients_older_than(age=-2)) == 629 and not reference.patients_older_than(age=0)
    for query, params in FIXED_CASES:
        assert_same(kg_loaded, reference, query, params)


def test_add_variants_then_read_on_1kg(backend_name: str, kg: MemoryDataset) -> None:
    reference = Reference(kg)
    source = SampleSource.from_dataset(kg, seed=11)
    rng = random.Random("1kg-add_variants")
    with fresh_backend(backend_name, kg) as backend:
        written = [CATALOG[Q.ADD_VARIANTS].sample(source, rng, i) for i in range(3)]
        for params in written:
            assert run_query(backend, Q.ADD_VARIANTS, params) is None
            run_query(reference, Q.ADD_VARIANTS, params)
        for params in written:
            for check in CATALOG[Q.ADD_VARIANTS].observers(params):
                assert_same(backend, reference, *check)
        for query in QUERIES:
            for params in draws(query, kg, n=2, seed=13):
                assert_same(backend, reference, query, params)
