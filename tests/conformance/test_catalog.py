"""Every catalog query on every backend returns exactly the reference answer.

Read queries are asked with parameters drawn by their QuerySpec (several draws per data
set), plus the fixed seed cases of the design. Writes are applied to a freshly loaded
backend and to the reference, then every read is compared again.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from backends.base import Backend, run_query
from models.catalog import CATALOG, READS, WRITES, Q
from models.dataset import Dataset
from models.reference import Reference
from models.sampling import SampleSource
from tests.helpers import assert_same, draws, fresh_backend

FIXED_SEED_CASES: list[tuple[Q, dict[str, Any]]] = [
    (Q.VARIANTS_BY_CHROMOSOME, {"chromosome": "4"}),
    (Q.VARIANTS_MIN_DEPTH, {"min_depth": 50}),
    (Q.VARIANTS_MIN_QUALITY, {"min_quality": 30.0}),
    (Q.PATIENTS_OLDER_THAN, {"age": 50}),
    (Q.DIAGNOSIS_COUNTS, {"min_age": None}),
    (Q.DIAGNOSIS_COUNTS, {"min_age": 50}),
    (Q.VARIANT_BY_ID, {"variant_id": "no-such-id"}),
    (Q.PATIENT_BY_ID, {"patient_id": 12355}),  # the patient without diagnoses
    (Q.PATIENT_BY_ID, {"patient_id": 1}),      # nobody
    (Q.VARIANTS_IN_REGION, {"chromosome": "4", "start": 900007, "end": 1200008}),  # inclusive ends
    (Q.PATIENTS_SHARING_DIAGNOSES, {"patient_id": 12355}),
    (Q.COMORBID_CODES, {"code": "Z99.99"}),
]


@pytest.mark.parametrize("query", READS)
def test_read_matches_reference(loaded: Backend, dataset: Dataset, query: Q) -> None:
    reference = Reference(dataset)
    for params in draws(query, dataset):
        assert_same(loaded, reference, query, params)


def test_fixed_seed_cases(backend_name: str) -> None:
    from models.seed import seed_dataset

    data = seed_dataset()
    reference = Reference(data)
    with fresh_backend(backend_name, data) as backend:
        for query, params in FIXED_SEED_CASES:
            assert_same(backend, reference, query, params)


@pytest.mark.parametrize("write", WRITES)
def test_write_then_read(backend_name: str, dataset: Dataset, write: Q) -> None:
    """Apply three writes of one kind, then every read query agrees with the reference."""
    reference = Reference(dataset)
    source = SampleSource.from_dataset(dataset, seed=11)
    rng = random.Random(f"write-{write}")
    with fresh_backend(backend_name, dataset) as backend:
        written = [CATALOG[write].sample(source, rng, i) for i in range(3)]
        for params in written:
            assert run_query(backend, write, params) is None
            run_query(reference, write, params)
        # reads that see exactly what was written
        for params in written:
            for check in CATALOG[write].observers(params):
                assert_same(backend, reference, *check)
        for query in READS:
            for params in draws(query, dataset, n=2, seed=13):
                assert_same(backend, reference, query, params)
