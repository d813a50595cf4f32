"""Readers: the seed parses; every malformed record names file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.errors import DataError
from models.files import FileDataset
from models.readers import read_genomics_csv, read_patients_json
from models.seed import SEED_DIR, seed_dataset

HEADER = "ID,Chromosome,Position,Reference_Allele,Alternate_Allele,Genotype,Quality,Depth\n"


def write(tmp_path: Path, text: str, name: str = "g.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_seed_parses() -> None:
    data = seed_dataset()
    assert (len(data.patient_list), len(data.diagnosis_list), len(data.lab_result_list), len(data.variant_list)) == (12, 21, 22, 10)
    first = data.variant_list[0]
    assert (first.variant_id, first.chromosome, first.position, first.genotype, first.quality, first.depth, first.patient_id) == \
        ("1", "1", 100001, "AA", 30.0, 50, 12345)
    assert all(isinstance(v.chromosome, str) for v in data.variant_list)


def test_optional_patient_column(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER.strip() + ",Patient_ID\n1,X,5,A,G,AG,30.5,12,77\n2,chr4,6,C,T,CT,20,8,\n")
    v1, v2 = read_genomics_csv(path)
    assert (v1.chromosome, v1.patient_id, v1.quality) == ("X", 77, 30.5)
    assert (v2.chromosome, v2.patient_id) == ("4", None)


@pytest.mark.parametrize(("body", "line", "field", "problem"), [
    ("1,1,abc,A,T,AT,30,50\n", 2, "Position", "not an integer"),
    ("1,1,5,A,T,AT,30,50\n2,23,5,A,T,AT,30,50\n", 3, "Chromosome", "not a chromosome"),
    ("1,1,5,A,T,AT,thirty,50\n", 2, "Quality", "not a number"),
    ("1,1,5,A,T,AT,30,5.5\n", 2, "Depth", "not an integer"),
    ("1,1,5,A,A,AA,30,50\n", 2, "Alternate_Allele", "equals the reference"),
    ("1,1,5,A,T,AT,30,50\n1,2,6,C,G,CG,30,50\n", 3, "ID", "'1' repeated (first on line 2)"),
    ("1,1,5,Z,T,ZT,30,50\n", 2, "Reference_Allele", "not an allele"),
])
def test_malformed_rows_name_file_line_field(tmp_path: Path, body: str, line: int, field: str, problem: str) -> None:
    path = write(tmp_path, HEADER + body)
    with pytest.raises(DataError) as caught:
        list(read_genomics_csv(path))
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: field {field}: ")
    assert problem in message
    assert "\n" not in message


def test_missing_column(tmp_path: Path) -> None:
    path = write(tmp_path, "ID,Chromosome,Reference_Allele,Alternate_Allele,Genotype,Quality,Depth\n1,1,A,T,AT,30,50\n")
    with pytest.raises(DataError, match=r":1: field Position: missing column"):
        list(read_genomics_csv(path))


def test_short_row(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "1,1,5,A\n")
    with pytest.raises(DataError, match=r"g.csv:2: field Alternate_Allele: missing: the row has 4 of the header's 8 columns"):
        list(read_genomics_csv(path))


def test_json_errors_name_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, '[\n {"patient_id": 1, "name": "A", "age": 40, "sex": "F"},\n {"patient_id": 2, "name": "B", "age": "old", "sex": "M"}\n]\n', "p.json")
    with pytest.raises(DataError, match=r"p.json:3: field age: 'old' is not an integer"):
        list(read_patients_json(path))
    bad = write(tmp_path, '[{"patient_id": 1,, }]', "bad.json")
    with pytest.raises(DataError, match=r"bad.json:1: field \(object\): invalid JSON: Expecting property name"):
        list(read_patients_json(bad))


def test_validate_checks_references(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER.strip() + ",Patient_ID\n1,1,5,A,T,AT,30,50,999\n")
    data = FileDataset("x", genomics=path, patients_file=SEED_DIR / "patients.json")
    with pytest.raises(DataError, match="unknown patient 999"):
        data.validate()
