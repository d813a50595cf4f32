"""The contract every registered backend (and design) keeps, checked once for all of them.

- a load replaces atomically: a load that fails part-way (the stream breaks, or the engine
  refuses a row) leaves the data that was there before;
- namespaces keep two data sets apart;
- `holdings()` says what was loaded and how many writes were added since;
- `NotLoaded` (one line, "load a data set first") before any load;
- one-line errors for an unreachable engine and for a bad setting, no credentials in them;
- a code given twice to one patient counts once;
- `close()` twice is harmless.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from backends import open_backend
from backends.base import BackendError, EngineUnavailable, NotLoaded
from models.catalog import Q
from models.dataset import EntityKind, MemoryDataset
from models.entities import Diagnosis, Patient, PatientRecord
from models.errors import MMBenchError
from models.reference import Reference
from models.seed import seed_dataset
from tests.helpers import (
    BAD_SETTING_ENV,
    UNREACHABLE_ENV,
    base_name,
    fresh_backend,
    other_namespace,
    same,
    seed_answers,
)


class _BrokenStream(MemoryDataset):
    """A data set whose variants stream breaks after its first batch (a crash mid-load)."""

    def batches(self, kind: EntityKind, size: int) -> Iterator[list[Any]]:
        for i, batch in enumerate(super().batches(kind, size)):
            if kind == "variants" and i == 1:
                raise RuntimeError("the input broke mid-load")
            yield batch


def _broken_stream() -> _BrokenStream:
    data = seed_dataset()
    return _BrokenStream(**{f.name: getattr(data, f.name) for f in dataclasses.fields(MemoryDataset)})


def _engine_refuses_a_row() -> MemoryDataset:
    """The seed plus a last variant with a 45-digit depth: it passes Python (the loader does not
    validate generated data again) but no engine stores it (64-bit integers; DynamoDB's 38 digits)."""
    data = seed_dataset()
    bad = dataclasses.replace(data.variant_list[-1], variant_id="too-deep", depth=10**44 + 7)
    return dataclasses.replace(data, name="bad", variant_list=[*data.variant_list, bad])


@pytest.fixture(scope="module")
def seeded(backend_name: str) -> Iterator[Any]:
    backend = fresh_backend(backend_name, seed_dataset())
    yield backend
    backend.close()


def test_a_failed_load_leaves_the_data_that_was_there(seeded: Any) -> None:
    before = seed_answers(seeded)
    with pytest.raises(RuntimeError, match="mid-load"):
        seeded.load(_broken_stream(), batch_size=3)
    assert seed_answers(seeded) == before
    with pytest.raises(Exception):  # noqa: B017, PT011 - each engine (or its driver) words it its own way
        seeded.load(_engine_refuses_a_row(), batch_size=2)
    assert seed_answers(seeded) == before
    assert seeded.holdings().dataset == "seed"


def test_holdings_say_what_was_loaded_and_what_was_added(seeded: Any) -> None:
    held = seeded.holdings()
    data = seed_dataset()
    assert held.dataset == "seed"
    assert held.rows == {"patients": len(data.patient_list), "diagnoses": len(data.diagnosis_list),
                         "lab_results": len(data.lab_result_list), "variants": len(data.variant_list)}
    assert held.writes_since == 0
    seeded.record_writes(3)
    seeded.record_writes(4)
    assert seeded.holdings().writes_since == 7
    assert "grown by 7 writes" in seeded.holdings().describe()


def test_namespaces_keep_data_sets_apart(seeded: Any, backend_name: str) -> None:
    before = seed_answers(seeded)
    small = dataclasses.replace(seed_dataset(), name="small", description=None,
                                variant_list=seed_dataset().variant_list[:2])
    with other_namespace():
        other = fresh_backend(backend_name, small)
        try:
            assert len(other.all_variants()) == 2
            assert other.holdings().dataset == "small"
        finally:
            other.close()
    assert seed_answers(seeded) == before


def test_reading_before_any_load_says_to_load_first(backend_name: str) -> None:
    with other_namespace(), open_backend(backend_name) as backend:
        for ask in (backend.all_variants, lambda: backend.patient_by_id(patient_id=1), backend.holdings):
            with pytest.raises(NotLoaded) as caught:
                ask()
            assert "load a data set first" in str(caught.value) and "\n" not in str(caught.value)


def test_an_unreachable_engine_is_one_line(backend_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in UNREACHABLE_ENV[base_name(backend_name)].items():
        monkeypatch.setenv(key, value)
    with pytest.raises(BackendError) as caught:
        backend = open_backend(backend_name)
        backend.all_variants()  # engines that connect lazily fail here
    message = str(caught.value)
    assert "\n" not in message and backend_name in message
    if base_name(backend_name) != "sqlite":
        assert isinstance(caught.value, EngineUnavailable) and "mmbench up" in message


def test_a_bad_setting_is_one_line(backend_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    env = BAD_SETTING_ENV[base_name(backend_name)]
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(MMBenchError) as caught:
        open_backend(backend_name).close()
    message = str(caught.value)
    assert "\n" not in message and any(key in message for key in env)


def test_a_code_given_twice_counts_once(seeded: Any) -> None:
    reference = Reference(seed_dataset())
    twice = PatientRecord(Patient(1, "Twice Coded", 70, "F"), (
        Diagnosis(801, 1, "I10", dt.date(2020, 1, 1)), Diagnosis(802, 1, "I10", dt.date(2021, 1, 1)),
        Diagnosis(803, 1, "E78.5", dt.date(2021, 1, 1)), Diagnosis(804, 1, "E78.5", dt.date(2022, 1, 1))))
    for target in (seeded, reference):
        target.add_patient(patient=twice)
        target.add_diagnosis(diagnosis_id=805, patient_id=12355, code="I10", diagnosed_on=dt.date(2025, 1, 1))
        target.add_diagnosis(diagnosis_id=806, patient_id=12355, code="I10", diagnosed_on=dt.date(2025, 1, 2))
    for query, params in ((Q.DIAGNOSIS_COUNTS, {"min_age": None}), (Q.DIAGNOSIS_COUNTS, {"min_age": 60}),
                          (Q.PATIENTS_WITH_DIAGNOSIS, {"code": "I10"}), (Q.COMORBID_CODES, {"code": "I10"}),
                          (Q.PATIENTS_SHARING_DIAGNOSES, {"patient_id": 1}),
                          (Q.PATIENTS_SHARING_DIAGNOSES, {"patient_id": 12355}),
                          (Q.PATIENT_BY_ID, {"patient_id": 1}), (Q.PATIENT_BY_ID, {"patient_id": 12355})):
        assert same(seeded, reference, query, **params), f"{query}({params})"
    seeded.load(seed_dataset())  # the next tests of this module start from the seed again


def test_close_twice_is_harmless(backend_name: str) -> None:
    backend = open_backend(backend_name)
    backend.close()
    backend.close()
