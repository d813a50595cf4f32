"""The catalog's parsing and canonical form, and the reference on the seed's known answers."""

from __future__ import annotations

import datetime as dt

import pytest

from models.catalog import CATALOG, Q, get_spec
from models.errors import UsageError
from models.reference import Reference
from models.seed import seed_dataset


@pytest.fixture(scope="module")
def ref() -> Reference:
    return Reference(seed_dataset())


def ids(spec: Q, answer: object, key: str) -> list:
    return [row[key] for row in CATALOG[spec].canonical(answer)]


def test_seed_answers_of_the_design(ref: Reference) -> None:
    assert ids(Q.VARIANTS_BY_CHROMOSOME, ref.variants_by_chromosome(chromosome="4"), "variant_id") == ["7", "8"]
    assert ids(Q.VARIANTS_MIN_DEPTH, ref.variants_min_depth(min_depth=50), "variant_id") == ["3", "4", "7", "9"]
    assert ids(Q.VARIANTS_MIN_QUALITY, ref.variants_min_quality(min_quality=30), "variant_id") == ["3", "4", "7", "9"]
    older = ids(Q.PATIENTS_OLDER_THAN, ref.patients_older_than(age=50), "patient_id")
    assert len(older) == 7 and 12347 not in older
    counts = CATALOG[Q.DIAGNOSIS_COUNTS].canonical(ref.diagnosis_counts())
    assert counts[0] == {"code": "I10", "patients": 6}
    sharing = CATALOG[Q.PATIENTS_SHARING_DIAGNOSES].canonical(ref.patients_sharing_diagnoses(patient_id=12345))
    assert sharing[0] == {"patient_id": 12354, "shared": 2}
    history = ref.lab_history(patient_id=12345, test_name="Systolic blood pressure",
                              since=dt.date(2024, 1, 1), until=dt.date(2024, 12, 31))
    assert [(r.taken_on.isoformat(), r.value) for r in history] == [("2024-03-28", 140), ("2024-06-30", 135)]


def test_ties_and_inclusive_bounds(ref: Reference) -> None:
    region = ref.variants_in_region(chromosome="4", start=900007, end=1200008)
    assert [v.variant_id for v in region] == ["7", "8"]
    counts = CATALOG[Q.DIAGNOSIS_COUNTS].canonical(ref.diagnosis_counts())
    assert counts[1:3] == [{"code": "E11.9", "patients": 3}, {"code": "E78.5", "patients": 3}]  # tie: by code
    record = CATALOG[Q.PATIENT_BY_ID].canonical(ref.patient_by_id(patient_id=12345))
    assert [d["code"] for d in record["diagnoses"]] == ["E78.5", "I10"]  # by diagnosed_on
    assert ref.patient_by_id(patient_id=12355).diagnoses == ()


def test_parse_params_errors_are_one_line_usage_errors() -> None:
    spec = get_spec("variants_in_region")
    assert spec.parse_params({"chromosome": "chr4", "start": "1", "end": "9"}) == {"chromosome": "4", "start": 1, "end": 9}
    for raw, fragment in [({"chromosome": "4", "start": "x", "end": "9"}, "start (integer)"),
                          ({"chromosome": "4", "start": "1"}, "missing parameter 'end'"),
                          ({"chromosome": "4", "start": "1", "end": "2", "stop": "3"}, "unknown parameter 'stop'"),
                          ({"chromosome": "44", "start": "1", "end": "2"}, "chromosome")]:
        with pytest.raises(UsageError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
            spec.parse_params(raw)
    with pytest.raises(UsageError, match="unknown query 'nope'; valid: variant_by_id"):
        get_spec("nope")


def test_optional_parameter_and_json_parameters() -> None:
    assert get_spec("diagnosis_counts").parse_params({}) == {"min_age": None}
    record = get_spec("add_patient").parse_params({"patient": '{"patient_id": 1, "name": "A", "age": 30, "sex": "F", '
                                                              '"diagnoses": [{"diagnosis_id": 9, "code": "I10", "diagnosed_on": "2024-01-02"}]}'})
    assert record["patient"].diagnoses[0].patient_id == 1
    with pytest.raises(UsageError, match=r"parameter patient \(JSON patient with diagnoses\): field age: missing"):
        get_spec("add_patient").parse_params({"patient": '{"patient_id": 1, "name": "A", "sex": "F"}'})


def test_canonical_form() -> None:
    spec = CATALOG[Q.LAB_HISTORY]
    from models.entities import LabResult

    rows = spec.canonical([LabResult(1, 2, "HbA1c", 6.123456789, "%", dt.date(2024, 1, 2))])
    assert rows == [{"result_id": 1, "patient_id": 2, "test_name": "HbA1c", "value": 6.123457, "unit": "%",
                     "taken_on": "2024-01-02"}]
    assert CATALOG[Q.VARIANT_BY_ID].canonical(None) is None
    assert CATALOG[Q.ADD_VARIANTS].canonical(None) is None
