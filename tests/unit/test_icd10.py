"""ICD-10-CM: the table agrees with simple-icd-10-cm, codes validate, the generator draws real codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models import icd10
from models.catalog import CATALOG, Q
from models.errors import DataError
from models.generate import CONDITIONS, TAIL_CHAPTERS, SyntheticDataset, tail_codes
from models.readers import read_diagnoses_json
from models.reference import Reference
from models.seed import seed_dataset

SEED_CODES = ("I10", "E78.5", "E11.9", "J45.909", "I25.10", "N18.30", "F32.9", "M54.50", "K21.9")


def test_seed_codes_are_known_and_billable() -> None:
    billable = set(icd10.billable_codes())
    assert {d.code for d in seed_dataset().diagnosis_list} <= set(SEED_CODES)
    for code in SEED_CODES:
        assert icd10.is_known(code) and code in billable, code


@pytest.mark.parametrize("code", ["Z99.99", "E11.99", "I10.0", "e11.9", "E119", "A00-B99", "1", ""])
def test_unknown_or_misshapen_codes_are_not_known(code: str) -> None:
    assert not icd10.is_known(code)


def test_categories_are_known_but_not_billable() -> None:
    assert icd10.is_known("E11") and "E11" not in icd10.billable_codes()


def test_table_agrees_with_the_library() -> None:
    """The fast path (the shipped code list) says what simple-icd-10-cm itself says."""
    simple_icd_10_cm = icd10.library()
    ours = {c if len(c) <= 3 else f"{c[:3]}.{c[3:]}" for c in icd10._table()}
    library = {c for c in simple_icd_10_cm.get_all_codes(True) if icd10.CODE_SHAPE.match(c)}
    assert ours == library
    assert set(icd10.billable_codes()) == {c for c in library if simple_icd_10_cm.is_leaf(c)}
    assert icd10.version() == "April 2026"


def test_descriptions() -> None:
    assert icd10.description("I10") == "Essential (primary) hypertension"
    assert icd10.description("E11.9") == "Type 2 diabetes mellitus without complications"
    assert icd10.description("Z99.99") is None


def test_descriptions_decorate_a_copy_not_the_canonical_answer() -> None:
    spec = CATALOG[Q.PATIENT_BY_ID]
    canonical = spec.canonical(Reference(seed_dataset()).patient_by_id(patient_id=12345))
    before = json.dumps(canonical)
    shown = icd10.with_descriptions(canonical)
    assert json.dumps(canonical) == before  # untouched
    assert [d["description"] for d in shown["diagnoses"]] == ["Hyperlipidemia, unspecified",
                                                               "Essential (primary) hypertension"]
    assert icd10.with_descriptions(None) is None


def test_reader_rejects_unknown_code_naming_file_line_field(tmp_path: Path) -> None:
    path = tmp_path / "diagnoses.json"
    path.write_text('[\n{"diagnosis_id": 1, "patient_id": 1, "code": "I10", "diagnosed_on": "2024-01-01"},\n'
                    '{"diagnosis_id": 2, "patient_id": 1, "code": "E11.99", "diagnosed_on": "2024-01-01"}\n]\n')
    with pytest.raises(DataError) as caught:
        list(read_diagnoses_json(path))
    assert str(caught.value) == (f"{path}:3: field code: 'E11.99' is not a known ICD-10-CM code "
                                 "(not in the April 2026 code table)")


def test_generator_codes_are_billable_and_keep_the_common_conditions() -> None:
    billable = set(icd10.billable_codes())
    assert all(c.code in billable for c in CONDITIONS)
    pool, cum = tail_codes()
    assert len(pool) > 10_000 and len(cum) == len(pool) and set(pool) <= billable
    assert not set(pool) & {c.code for c in CONDITIONS}
    assert all(any(lo <= code[:3] <= hi for lo, hi in TAIL_CHAPTERS) for code in pool)
    data = SyntheticDataset(2, 5).materialize()
    codes = [d.code for d in data.diagnosis_list]
    assert set(codes) <= billable
    tail = [c for c in codes if c in set(pool)]
    assert 0.03 < len(tail) / len(codes) < 0.2  # a tail, not the bulk
    assert len(set(tail)) > len(tail) / 2  # mostly rare codes
